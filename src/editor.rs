//! The editor's hand: overrides the operator sets on stored articles (`kawaraban post
//! …`), which every later judgement keeps.
//!
//! The overrides live in the article's judgement ([`Overrides`]), so they are stored,
//! exported and imported with it, a new poll of the article keeps them (an upsert keeps
//! the judgement) and judging carries them over:
//! - hidden: the post is in no feed and on no page; a story folded into it stays
//!   folded, so the story stays off the blog whichever outlet runs it later;
//! - pinned: first on the front page (`/`, `/page/N/`), in the order pinned, and then
//!   not again in its date place there; feeds, category pages and archives keep date
//!   order;
//! - publish: on the blog although the topic filter would skip it;
//! - apart: ids of articles it is not the same story as; duplicate detection never
//!   folds it with them again, nor with a story holding one of them.
//!
//! The operator's category is the judgement's category with `manual` set, which judging
//! already keeps and the classifier learns from (`Store::confirmed_examples`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::{Article, canonical_url};
use crate::judge::{self, Judge, Judgement};
use crate::store::{Store, StoreError};

/// What the operator decided about one article.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// When it was pinned: pins are ordered by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub publish: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apart: Vec<String>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// Whether the operator said that `a` and `b` are not the same story.
pub fn kept_apart(a: &Article, b: &Article) -> bool {
    let says = |x: &Article, y: &Article| {
        x.judgement
            .as_ref()
            .is_some_and(|j| j.editor.apart.contains(&y.id))
    };
    says(a, b) || says(b, a)
}

/// The stored article an operator names: its id, the post id as published (`tag:…`),
/// the blog's permalink (`…/post/ID/`), or the original article's URL (any form that
/// canonicalizes to its key, or the canonical URL its page named).
pub fn resolve(store: &Store, what: &str) -> Result<Option<Article>, StoreError> {
    let what = what.trim();
    if what.is_empty() {
        return Ok(None);
    }
    if let Some(a) = store.get(what)? {
        return Ok(Some(a));
    }
    if let Some((_, id)) = what
        .strip_prefix("tag:")
        .and_then(|t| t.rsplit_once(":post/"))
    {
        return store.get(id);
    }
    let permalink_id = |path: &str| -> Option<String> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            [.., "post", id] | [.., "post", id, "index.html"] => Some((*id).to_owned()),
            _ => None,
        }
    };
    match url::Url::parse(what) {
        Ok(u) => {
            if let Some(a) = store.find(canonical_url(&u).as_ref())? {
                return Ok(Some(a));
            }
            if let Some(id) = permalink_id(u.path()) {
                return store.get(&id);
            }
        }
        Err(_) => {
            if let Some(id) = permalink_id(what) {
                return store.get(&id);
            }
        }
    }
    Ok(None)
}

/// One editor's command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "name", rename_all = "snake_case")]
pub enum Action {
    Hide,
    Show,
    Pin,
    Unpin,
    /// File the post under this category (its name or slug).
    Category(String),
    Unfold,
    Publish,
}

/// A command and the article it names, as `kawaraban post` sends it to the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditRequest {
    pub target: String,
    #[serde(flatten)]
    pub action: Action,
}

/// What a command did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edited {
    /// The article changed (the post, for commands about a post).
    pub id: String,
    pub title: String,
    /// One line for people.
    pub message: String,
}

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum EditError {
    #[error(
        "no stored article has the id or URL {0:?} (`kawaraban post list` shows ids; an original article's URL or the post's tag: id work too)"
    )]
    NotFound(String),
    /// The command cannot mean anything here (a usage error).
    #[error("{0}")]
    Usage(String),
    /// The command names a real article but cannot apply to it.
    #[error("{0}")]
    Cannot(String),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for EditError {
    fn from(e: StoreError) -> Self {
        EditError::Store(e.to_string())
    }
}

/// Carries out one command on the store and flushes it, so the served feeds show it at
/// once (the site renders what is on disk) and a crash cannot take it back. `judge` is
/// the one the articles are judged with; the caller makes sure no poll judges meanwhile.
pub fn edit(
    store: &Store,
    judge: &Judge,
    req: &EditRequest,
    now: DateTime<Utc>,
) -> Result<Edited, EditError> {
    let Some(found) = resolve(store, &req.target)? else {
        return Err(EditError::NotFound(req.target.clone()));
    };
    // Overrides live in the judgement: an article not judged yet is judged first.
    let article = match found.judgement {
        Some(_) => found,
        None => {
            judge::judge_stored(store, judge, &found.id, now)?;
            store
                .get(&found.id)?
                .ok_or_else(|| EditError::NotFound(req.target.clone()))?
        }
    };
    let edited = match &req.action {
        Action::Unfold => unfold(store, judge, article, now)?,
        Action::Publish => publish(store, judge, article, now)?,
        action => on_post(store, judge, post_of(store, article)?, action, now)?,
    };
    store.mark_edited(now)?;
    store.flush()?;
    Ok(edited)
}

/// The post an article is shown in: itself, or the post it is folded into.
fn post_of(store: &Store, a: Article) -> Result<Article, EditError> {
    match a.judgement.as_ref().and_then(|j| j.duplicate_of.clone()) {
        Some(root) => Ok(store.get(&root)?.unwrap_or(a)),
        None => Ok(a),
    }
}

fn judgement(a: &mut Article) -> &mut Judgement {
    // `edit` judges an article before changing it.
    a.judgement.get_or_insert_with(|| {
        Judgement::new(crate::judge::topic::TopicVerdict::default(), a.first_seen)
    })
}

fn on_post(
    store: &Store,
    judge: &Judge,
    mut post: Article,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Edited, EditError> {
    let before = judgement(&mut post).clone();
    let j = judgement(&mut post);
    let message = match action {
        Action::Hide => {
            j.editor.hidden = true;
            "hidden: off every feed and page (with the outlets folded into it)".to_owned()
        }
        Action::Show => {
            j.editor.hidden = false;
            if j.is_post() {
                "shown: back in the feeds and pages".to_owned()
            } else {
                format!("not hidden, but not on the blog either: {}", j.reason())
            }
        }
        Action::Pin => {
            j.editor.pinned = j.editor.pinned.or(Some(now));
            if j.is_post() {
                "pinned: first on the front page".to_owned()
            } else {
                format!("pinned, but not on the blog: {}", j.reason())
            }
        }
        Action::Unpin => {
            j.editor.pinned = None;
            "unpinned: back in its date place on the front page".to_owned()
        }
        Action::Category(name) => {
            let Some(choice) = judge.categories.manual(name) else {
                let names: Vec<&str> = judge.categories.names().map(|(n, _)| n).collect();
                return Err(EditError::Usage(if names.is_empty() {
                    "no [[category]] is configured, so there is nothing to file posts under"
                        .to_owned()
                } else {
                    format!(
                        "no category is called {name:?} (configured: {})",
                        names.join(", ")
                    )
                }));
            };
            let msg = format!(
                "filed under {}: kept over rules and classifier, and learned from at the next start or rejudge",
                choice.name
            );
            j.category = Some(choice);
            msg
        }
        Action::Unfold | Action::Publish => unreachable!("handled by edit"),
    };
    let j = judgement(&mut post);
    if *j == before {
        return Ok(Edited {
            id: post.id.clone(),
            title: post.title.clone(),
            message: format!("unchanged ({message})"),
        });
    }
    // Readers see a hidden, shown or refiled post change; a pin moves it on one page.
    if j.is_post() != before.is_post() || j.category != before.category {
        j.changed = now;
    }
    store.set_judgements(vec![post.clone()])?;
    Ok(Edited {
        id: post.id,
        title: post.title,
        message,
    })
}

fn publish(
    store: &Store,
    judge: &Judge,
    mut a: Article,
    now: DateTime<Utc>,
) -> Result<Edited, EditError> {
    judgement(&mut a).editor.publish = true;
    let plan = judge::decide(judge, &a, store, now)?;
    store.apply(&plan)?;
    let j = store
        .get(&a.id)?
        .and_then(|a| a.judgement)
        .unwrap_or_else(|| judgement(&mut a).clone());
    let message = match (&j.duplicate_of, j.editor.hidden) {
        (_, true) => "published, but hidden: `kawaraban post show` shows it".to_owned(),
        (Some(root), _) => format!(
            "published: the same story as post {root}, so it is shown there (`kawaraban post unfold` makes it a post of its own)"
        ),
        (None, _) => "published: a post, whatever the topic filter says".to_owned(),
    };
    Ok(Edited {
        id: a.id,
        title: a.title,
        message,
    })
}

fn unfold(
    store: &Store,
    judge: &Judge,
    mut a: Article,
    now: DateTime<Utc>,
) -> Result<Edited, EditError> {
    let j = judgement(&mut a).clone();
    let root = match &j.duplicate_of {
        Some(root) => store.get(root)?,
        None => Some(a.clone()),
    };
    let mut others: Vec<String> = root
        .map(|r| {
            let folded = r.judgement.map(|j| j.folded).unwrap_or_default();
            std::iter::once(r.id).chain(folded).collect()
        })
        .unwrap_or_default();
    others.retain(|id| *id != a.id);
    if others.is_empty() {
        return Err(EditError::Cannot(format!(
            "{} ({}) is not folded with another article: nothing to unfold",
            a.id, a.title
        )));
    }
    let editor = &mut judgement(&mut a).editor;
    for id in &others {
        if !editor.apart.contains(id) {
            editor.apart.push(id.clone());
        }
    }
    store.set_judgements(judge::leave_story(judge, store, &a, now)?)?;
    // Alone now, it is judged again: it may still be another story's copy.
    let j = judge::judge_stored(store, judge, &a.id, now)?;
    let message = match j.as_ref().and_then(|j| j.duplicate_of.as_ref()) {
        Some(root) => format!(
            "unfolded from {}; it is the same story as post {root}, so it is shown there",
            others.join(", ")
        ),
        None => format!(
            "unfolded: a post of its own, never folded with {} again",
            others.join(", ")
        ),
    };
    Ok(Edited {
        id: a.id,
        title: a.title,
        message,
    })
}

/// What `post list` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListRequest {
    /// The skipped (off-topic) articles instead of the blog's.
    #[serde(default)]
    pub skipped: bool,
    /// Only this category (its name or slug).
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One line of `post list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    /// The post's date (the story's first publication), or the article's own.
    pub date: DateTime<Utc>,
    pub title: String,
    pub publisher: String,
    pub link: Option<String>,
    /// Its post's category.
    pub category: Option<String>,
    pub category_slug: Option<String>,
    /// `published`, `hidden`, `folded`, `skipped` or `pending` (not judged yet).
    pub status: String,
    pub pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded_into: Option<String>,
    /// On a post: how many other outlets' articles are folded into it.
    pub also: usize,
    /// Why it is skipped, or published by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub published_by_operator: bool,
    pub category_by_operator: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apart: Vec<String>,
}

/// The stored articles for `post list`, newest first: the blog's posts (hidden ones
/// too) and the articles folded into them, or with `skipped` the skipped ones.
pub fn list(store: &Store, req: &ListRequest) -> Result<Vec<Listed>, StoreError> {
    let wanted = req.category.as_deref().map(|c| decode(c).to_lowercase());
    let mut roots: HashMap<String, Option<Article>> = HashMap::new();
    let mut out: Vec<Listed> = Vec::new();
    // With a limit, articles are read newest first and only until no older one can
    // make the list: a line's date is its post time or its story's earliest post time
    // (the earliest of the outlets folded together, itself included), never later than
    // the post time the walk is ordered by. So a daemon asked for the last few posts
    // does not read (and keep resident) the whole store.
    let mut top: BinaryHeap<Reverse<DateTime<Utc>>> = BinaryHeap::new();
    for a in store.newest_first() {
        let a = a?;
        if let Some(n) = req.limit
            && top.len() >= n
            && top.peek().is_some_and(|Reverse(d)| a.post_time() < *d)
        {
            break;
        }
        let Some(line) = line(store, &a, req.skipped, wanted.as_deref(), &mut roots)? else {
            continue;
        };
        if let Some(n) = req.limit {
            top.push(Reverse(line.date));
            if top.len() > n {
                top.pop();
            }
        }
        out.push(line);
    }
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
    if let Some(n) = req.limit {
        out.truncate(n);
    }
    Ok(out)
}

/// `a`'s line in `post list`, or None when the request leaves it out.
fn line(
    store: &Store,
    a: &Article,
    skipped: bool,
    wanted: Option<&str>,
    roots: &mut HashMap<String, Option<Article>>,
) -> Result<Option<Listed>, StoreError> {
    let Some(j) = &a.judgement else {
        return Ok((!skipped && wanted.is_none()).then(|| listed(a, "pending", None, None)));
    };
    if j.topic.on_topic == skipped {
        return Ok(None);
    }
    let (status, root) = if !j.topic.on_topic {
        ("skipped", None)
    } else if let Some(r) = &j.duplicate_of {
        let root = match roots.get(r) {
            Some(root) => root.clone(),
            None => {
                let root = store.get(r)?;
                roots.insert(r.clone(), root.clone());
                root
            }
        };
        ("folded", root)
    } else if j.editor.hidden {
        ("hidden", None)
    } else {
        ("published", None)
    };
    let category = match &root {
        Some(r) => r.judgement.as_ref().and_then(|j| j.category.clone()),
        None => j.category.clone(),
    };
    if let Some(w) = wanted
        && !category
            .as_ref()
            .is_some_and(|c| c.name.to_lowercase() == w || decode(&c.slug).to_lowercase() == w)
    {
        return Ok(None);
    }
    Ok(Some(listed(a, status, root.as_ref(), category)))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn listed(
    a: &Article,
    status: &str,
    root: Option<&Article>,
    category: Option<crate::judge::category::CategoryChoice>,
) -> Listed {
    let j = a.judgement.as_ref();
    let editor = j.map(|j| j.editor.clone()).unwrap_or_default();
    let reason = j
        .filter(|j| !j.topic.on_topic || j.topic.by_operator)
        .map(|j| j.topic.reason());
    Listed {
        id: a.id.clone(),
        date: if status == "folded" {
            a.post_time()
        } else {
            a.story_time()
        },
        title: a.title.clone(),
        publisher: a.publisher.clone(),
        link: a.link.clone(),
        category_by_operator: category.as_ref().is_some_and(|c| c.manual)
            && j.and_then(|j| j.category.as_ref())
                .is_some_and(|c| c.manual),
        category_slug: category.as_ref().map(|c| c.slug.clone()),
        category: category.map(|c| c.name),
        status: status.to_owned(),
        pinned: editor.pinned.is_some(),
        folded_into: root.map(|r| r.id.clone()),
        also: j.map_or(0, |j| j.folded.len()),
        reason,
        published_by_operator: editor.publish,
        apart: editor.apart,
    }
}

/// `post list` for people: one line per article, `ID  DATE  CATEGORY  TITLE  [flags]`,
/// dates in the blog's time zone.
pub fn format_list(items: &[Listed], tz: chrono_tz::Tz) -> String {
    let mut out = String::new();
    for l in items {
        let mut flags: Vec<String> = Vec::new();
        match l.status.as_str() {
            "published" => {}
            "folded" => flags.push(format!(
                "folded into {}",
                l.folded_into.as_deref().unwrap_or("?")
            )),
            "skipped" => flags.push(format!(
                "skipped: {}",
                l.reason.as_deref().unwrap_or("off topic")
            )),
            other => flags.push(other.to_owned()),
        }
        if l.pinned {
            flags.push("pinned".into());
        }
        if l.also > 0 {
            flags.push(format!("also reported by {} more", l.also));
        }
        if l.published_by_operator {
            flags.push("published by hand".into());
        }
        if l.category_by_operator {
            flags.push("category by hand".into());
        }
        if !l.apart.is_empty() {
            flags.push(format!("unfolded from {}", l.apart.join(" ")));
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        };
        out.push_str(&format!(
            "{}  {}  {}  {}{flags}\n",
            l.id,
            l.date.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            l.category.as_deref().unwrap_or("-"),
            l.title
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::{BlogConfig, CategoryConfig, Term};
    use crate::judge::category::Categorizer;
    use crate::judge::judge_pending;
    use crate::judge::topic::TopicFilter;

    const STORY: [&str; 5] = [
        "北陸地方の旅行会社「しらさぎツアー」は12日、予約サイトが外部から不正アクセスを受け、会員約3万8千人分の氏名や電話番号が流出した可能性があると発表した。",
        "同社によると、予約システムの管理画面に設定の不備があり、今月2日から9日にかけて海外のサーバーから繰り返し接続されていたという。",
        "会員からの問い合わせで発覚した。クレジットカード情報は別の決済会社が管理しており、流出の恐れはないとしている。",
        "同社は管理画面を停止し、県警と個人情報保護委員会に報告した。会員には順次メールで連絡し、不審な電話に注意するよう呼びかけている。",
        "社長は「会員の皆様に多大なご心配をおかけし、心よりおわびします」とのコメントを出した。",
    ];
    const HOSPITAL: &str = "大阪市の市民病院が26日、電子カルテのシステムがサイバー攻撃を受け、外来診療を停止したと発表した。\n\n身代金を要求する脅迫文が院内のプリンターから印刷されていた。復旧には数週間かかる見通しだという。\n\n市は近隣の医療機関に患者の受け入れを要請した。";

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 9, minute, 0).unwrap()
    }

    fn article(key: &str, publisher: &str, minute: u32, title: &str, text: &str) -> Article {
        Article {
            published: Some(t(minute)),
            ..Article::sample(key, publisher, title, text, t(minute))
        }
    }

    fn excerpt() -> String {
        format!(
            "旅行予約サイト「しらさぎツアー」で会員の個人情報が流出した恐れがある。\n\n{}\n\n{}（共同）",
            STORY[1], STORY[2]
        )
    }

    fn judge() -> Judge {
        let cat = |name: &str, slug: &str, keywords: &[&str], default| CategoryConfig {
            name: name.into(),
            slug: Some(slug.into()),
            keywords: keywords.iter().map(|k| Term(k.to_string())).collect(),
            examples: None,
            default,
        };
        Judge {
            topic: TopicFilter::new(&["不正アクセス", "サイバー", "情報流出"], &["映画"]).unwrap(),
            categories: Categorizer::new(
                &[
                    cat("不正アクセス", "access", &["不正アクセス"], false),
                    cat("サイバー攻撃", "attack", &["サイバー攻撃"], false),
                    cat("ニュース", "news", &[], true),
                ],
                &[],
            )
            .unwrap(),
        }
    }

    /// The toto outlet's full story (`a`), the kyodo outlet's copy of it (`b`), a
    /// hospital story (`c`) and a film review (`m`, off topic), judged.
    fn newsroom(store: &Store, judge: &Judge) -> [String; 4] {
        let items = [
            article(
                "https://toto.example/a",
                "toto",
                1,
                "旅行会社に不正アクセス",
                &STORY.join("\n\n"),
            ),
            article(
                "https://kyodo.example/b",
                "kyodo",
                2,
                "会員情報流出の恐れ",
                &excerpt(),
            ),
            article(
                "https://toto.example/c",
                "toto",
                3,
                "市民病院にサイバー攻撃",
                HOSPITAL,
            ),
            article(
                "https://toto.example/m",
                "toto",
                4,
                "話題の映画",
                "サイバー犯罪を描いた映画が公開される。",
            ),
        ];
        let ids = items.map(|a| store.upsert(a, t(5)).unwrap().1.id);
        judge_pending(store, judge).unwrap();
        ids
    }

    /// An empty store in a temporary directory (kept alive by the caller) and the judge.
    fn newsroom_store() -> (tempfile::TempDir, Store, Judge) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        (dir, store, judge())
    }

    /// A third outlet runs the toto outlet's full story; returns its id, judged.
    fn third_outlet(store: &Store, judge: &Judge) -> String {
        let third = article(
            "https://third.example/x",
            "third",
            6,
            "旅行会社の会員情報流出",
            &STORY.join("\n\n"),
        );
        let id = store.upsert(third, t(6)).unwrap().1.id;
        judge_pending(store, judge).unwrap();
        id
    }

    fn edit_ok(store: &Store, judge: &Judge, target: &str, action: Action) -> Edited {
        let req = EditRequest {
            target: target.into(),
            action,
        };
        edit(store, judge, &req, t(30)).unwrap()
    }

    fn j(store: &Store, id: &str) -> Judgement {
        store.get(id).unwrap().unwrap().judgement.unwrap()
    }

    fn posts(store: &Store) -> Vec<String> {
        let mut p: Vec<String> = store.posts_newest_first().map(|a| a.unwrap().id).collect();
        p.sort();
        p
    }

    #[test]
    fn every_override_survives_a_new_poll_a_rejudge_and_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let judge = judge();
        let [a, b, c, m] = {
            let store = Store::open(&path, 1 << 20).unwrap();
            let ids = newsroom(&store, &judge);
            let [a, b, c, _] = ids.clone();
            assert_eq!(j(&store, &b).duplicate_of.as_deref(), Some(a.as_str()));
            let mut want = vec![a.clone(), c.clone()];
            want.sort();
            assert_eq!(posts(&store), want);

            edit_ok(&store, &judge, "https://toto.example/c", Action::Hide);
            // The kyodo copy's URL names the story it is folded into.
            let pinned = edit_ok(&store, &judge, "https://kyodo.example/b", Action::Pin);
            assert_eq!(pinned.id, a);
            edit_ok(&store, &judge, &a, Action::Category("news".into()));
            edit_ok(&store, &judge, "https://toto.example/m", Action::Publish);
            let unfolded = edit_ok(&store, &judge, "https://kyodo.example/b", Action::Unfold);
            assert_eq!(unfolded.id, b);
            assert!(
                unfolded.message.contains("a post of its own"),
                "{unfolded:?}"
            );
            ids
        };
        let check = |store: &Store, when: &str| {
            let mut want = vec![a.clone(), b.clone(), m.clone()];
            want.sort();
            assert_eq!(posts(store), want, "{when}");
            store.assert_counts();
            assert!(j(store, &c).editor.hidden, "{when}");
            assert!(j(store, &c).leads_story(), "{when}");
            let ja = j(store, &a);
            assert!(ja.folded.is_empty(), "{when}");
            let cat = ja.category.unwrap();
            assert_eq!(
                (cat.name.as_str(), cat.manual),
                ("ニュース", true),
                "{when}"
            );
            assert_eq!(
                store
                    .pinned_posts()
                    .unwrap()
                    .into_iter()
                    .map(|p| p.id)
                    .collect::<Vec<_>>(),
                [a.as_str()],
                "{when}"
            );
            let jm = j(store, &m);
            assert!(jm.topic.by_operator && jm.is_post(), "{when}");
            assert!(jm.topic.reason().contains("excluded by 映画"), "{when}");
            let jb = j(store, &b);
            assert_eq!(jb.editor.apart, [a.as_str()], "{when}");
            assert!(jb.duplicate_of.is_none(), "{when}");
            let ex = store.confirmed_examples().unwrap();
            assert_eq!(ex.len(), 1, "{when}");
            assert_eq!(ex[0].category, "ニュース", "{when}");
        };
        let store = Store::open(&path, 1 << 20).unwrap();
        check(&store, "after a restart");

        // The same articles polled again, their text revised: judged again, as the
        // operator left them.
        for (key, title, text) in [
            (
                "https://toto.example/a",
                "旅行会社に不正アクセス",
                STORY.join("\n\n"),
            ),
            ("https://kyodo.example/b", "会員情報流出の恐れ", excerpt()),
            (
                "https://toto.example/c",
                "市民病院にサイバー攻撃",
                HOSPITAL.into(),
            ),
            (
                "https://toto.example/m",
                "話題の映画",
                "サイバー犯罪を描いた映画が公開される。".into(),
            ),
        ] {
            let revised = article(key, "any", 1, title, &format!("{text}\n\n（更新）"));
            let (done, _) = store.upsert(revised, t(40)).unwrap();
            assert_eq!(done, crate::store::Upsert::Updated);
        }
        assert_eq!(store.pending().unwrap().len(), 4);
        check(&store, "after a new poll, before judging");
        judge_pending(&store, &judge).unwrap();
        check(&store, "after a new poll");

        let changes = crate::judge::rejudge(&store, &judge, true).unwrap();
        assert!(changes.is_empty(), "{changes:?}");
        // An export carries them; an import rebuilds the pin index from them.
        let mut exported = Vec::new();
        store.export(&mut exported).unwrap();
        let copy = Store::open(&dir.path().join("copy"), 1 << 20).unwrap();
        copy.import(&exported[..], false).unwrap();
        check(&copy, "after an export and import");
        // Even a rejudge of everything (as after a config change) keeps them.
        for id in [&a, &b, &c, &m] {
            crate::judge::judge_stored(&store, &judge, id, t(50)).unwrap();
        }
        check(&store, "after judging again");

        // The classifier learns from the operator's categories (once they tell two
        // categories apart).
        edit_ok(&store, &judge, &c, Action::Category("不正アクセス".into()));
        let config = crate::config::Config::parse(
            "[[category]]\nname = \"ニュース\"\ndefault = true\n[[category]]\nname = \"不正アクセス\"\n",
            "t.toml",
        )
        .unwrap();
        let learned = crate::judge::for_store(&config, &store).unwrap();
        assert_eq!(learned.categories.trained_on(), 2);

        // Undone, each is as judging would have it.
        edit_ok(&store, &judge, &c, Action::Show);
        edit_ok(&store, &judge, &a, Action::Unpin);
        assert!(store.pinned_posts().unwrap().is_empty());
        assert!(posts(&store).contains(&c));
    }

    /// A limited list reads newest first and stops early; it must give the same lines
    /// as the whole list cut to the limit, folded stories (dated by their earliest
    /// outlet) and unjudged articles included.
    #[test]
    fn a_limited_list_is_the_whole_list_cut_short() {
        let (_dir, store, judge) = newsroom_store();
        let [_, _, hospital, _] = newsroom(&store, &judge);
        // Another outlet's copy of the hospital story, published before it but read
        // later: the story is dated by the copy, earlier than its post's place in
        // the walk.
        let mut copy = article(
            "https://kyodo.example/c",
            "kyodo",
            0,
            "市民病院にサイバー攻撃",
            HOSPITAL,
        );
        copy.first_seen = t(9);
        let copy = store.upsert(copy, t(9)).unwrap().1.id;
        judge_pending(&store, &judge).unwrap();
        assert_eq!(j(&store, &copy).duplicate_of.as_ref(), Some(&hospital));
        assert_eq!(j(&store, &hospital).story_time, Some(t(0)));
        for minute in [6, 7] {
            let a = article(
                &format!("https://toto.example/p{minute}"),
                "toto",
                minute,
                "まだ判定していない記事",
                "サイバー攻撃の続報。",
            );
            store.upsert(a, t(8)).unwrap();
        }
        for (skipped, category) in [(false, None), (true, None), (false, Some("access"))] {
            let ids = |limit| {
                let req = ListRequest {
                    skipped,
                    category: category.map(String::from),
                    limit,
                };
                let lines = list(&store, &req).unwrap();
                lines.into_iter().map(|l| l.id).collect::<Vec<_>>()
            };
            let all = ids(None);
            assert!(!all.is_empty());
            for n in 1..=all.len() + 1 {
                assert_eq!(
                    ids(Some(n)),
                    all[..n.min(all.len())],
                    "limit {n}, {category:?}"
                );
            }
        }
    }

    #[test]
    fn unfolded_stories_are_not_joined_again_by_a_newcomer_like_both() {
        let (_dir, store, judge) = newsroom_store();
        let [a, b, ..] = newsroom(&store, &judge);
        edit_ok(&store, &judge, &a, Action::Unfold);
        // The post of a story unfolded: the copy that stays is the story's post now.
        assert!(j(&store, &a).is_post() && j(&store, &b).is_post());
        assert_eq!(j(&store, &a).editor.apart, [b.as_str()]);
        // A third outlet runs the full story: it joins one of the two, never both.
        let id = third_outlet(&store, &judge);
        let jx = j(&store, &id);
        let root = jx.duplicate_of.clone().expect("folded into one");
        assert!(root == a || root == b);
        assert!(j(&store, &a).is_post() && j(&store, &b).is_post());
        assert!(j(&store, &a).duplicate_of.is_none() && j(&store, &b).duplicate_of.is_none());

        let again = edit(
            &store,
            &judge,
            &EditRequest {
                target: "https://toto.example/c".into(),
                action: Action::Unfold,
            },
            t(30),
        );
        assert!(matches!(again, Err(EditError::Cannot(_))), "{again:?}");
    }

    #[test]
    fn a_hidden_story_stays_hidden_when_another_outlet_runs_it() {
        let (_dir, store, judge) = newsroom_store();
        let [a, _, c, _] = newsroom(&store, &judge);
        edit_ok(&store, &judge, &a, Action::Hide);
        assert_eq!(posts(&store), [c.as_str()]);
        let id = third_outlet(&store, &judge);
        assert_eq!(j(&store, &id).duplicate_of.as_deref(), Some(a.as_str()));
        assert_eq!(posts(&store), [c]);
        let listed = list(&store, &ListRequest::default()).unwrap();
        let status = |id: &str| {
            listed
                .iter()
                .find(|l| l.id == id)
                .map(|l| l.status.clone())
                .unwrap()
        };
        assert_eq!(status(&a), "hidden");
        assert_eq!(status(&id), "folded");
        let text = format_list(&listed, chrono_tz::Asia::Tokyo);
        assert!(text.contains("2024-05-01 18:01"), "{text}");
    }

    #[test]
    fn articles_are_named_by_id_post_id_permalink_or_url() {
        let (_dir, store, judge) = newsroom_store();
        let [a, b, ..] = newsroom(&store, &judge);
        let post = crate::publish::post_id(
            &url::Url::parse("http://blog.example/").unwrap(),
            &store.get(&a).unwrap().unwrap(),
        );
        for name in [
            a.clone(),
            format!(" {a}\n"),
            post,
            format!("http://blog.example/post/{a}/"),
            format!("post/{a}/"),
            "https://toto.example/a".into(),
            "https://TOTO.example/a?utm_source=rss#top".into(),
        ] {
            let found = resolve(&store, &name).unwrap().map(|x| x.id);
            assert_eq!(found.as_deref(), Some(a.as_str()), "{name:?}");
        }
        assert_eq!(
            resolve(&store, "https://kyodo.example/b")
                .unwrap()
                .unwrap()
                .id,
            b
        );
        for name in [
            "",
            "nothing",
            "https://toto.example/zzz",
            "tag:x,2024:post/zzz",
        ] {
            assert!(resolve(&store, name).unwrap().is_none(), "{name:?}");
        }
        let missing = EditRequest {
            target: "https://nowhere.example/".into(),
            action: Action::Hide,
        };
        assert!(matches!(
            edit(&store, &judge, &missing, t(30)),
            Err(EditError::NotFound(_))
        ));
        let bad = EditRequest {
            target: a,
            action: Action::Category("スポーツ".into()),
        };
        match edit(&store, &judge, &bad, t(30)) {
            Err(EditError::Usage(m)) => assert!(m.contains("ニュース"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pinned_posts_lead_the_front_page_in_pin_order_and_only_there() {
        let (_dir, store, judge) = newsroom_store();
        let [a, _, c, m] = newsroom(&store, &judge);
        edit_ok(&store, &judge, &m, Action::Publish);
        // Newest first: m (9:04), c (9:03), a (9:01, the story's first publication).
        let blog = BlogConfig {
            page_size: 2,
            ..BlogConfig::default()
        };
        let site = crate::publish::site::Site::from_blog(blog);
        let order = |path: &str| -> Vec<String> {
            let Some(r) = site.render(&store, path).unwrap() else {
                return Vec::new();
            };
            let html = String::from_utf8(r.body.to_vec()).unwrap();
            html.match_indices("id=\"p-")
                .map(|(i, _)| html[i + 6..i + 26].to_owned())
                .collect()
        };
        assert_eq!(order(""), [m.clone(), c.clone()]);
        assert_eq!(order("page/2/"), [a.as_str()]);
        let before = site.render(&store, "").unwrap().unwrap();

        let req = |target: &str, action| EditRequest {
            target: target.into(),
            action,
        };
        edit(&store, &judge, &req(&a, Action::Pin), t(31)).unwrap();
        edit(&store, &judge, &req(&c, Action::Pin), t(32)).unwrap();
        assert_eq!(order(""), [a.clone(), c.clone()]);
        assert_eq!(order("page/2/"), [m.as_str()], "each post once");
        assert_eq!(order("page/3/"), Vec::<String>::new());
        let front = site.render(&store, "").unwrap().unwrap();
        let html = String::from_utf8(front.body.to_vec()).unwrap();
        assert_eq!(html.matches("data-pinned=\"true\"").count(), 2);
        assert!(front.last_modified > before.last_modified);
        // Feeds keep date order.
        let feed = site.render(&store, "feed.atom").unwrap().unwrap();
        let feed = String::from_utf8(feed.body.to_vec()).unwrap();
        let at = |id: &str| feed.find(&format!("post/{id}")).unwrap();
        assert!(at(&m) < at(&c) && at(&c) < at(&a));

        // A hidden pin is not shown; a page size smaller than the pins still pages.
        edit(&store, &judge, &req(&m, Action::Pin), t(33)).unwrap();
        edit(&store, &judge, &req(&a, Action::Hide), t(34)).unwrap();
        assert_eq!(order(""), [c.clone(), m.clone()]);
        assert_eq!(order("page/2/"), Vec::<String>::new());
        edit(&store, &judge, &req(&a, Action::Show), t(35)).unwrap();
        assert_eq!(order(""), [a.clone(), c.clone()]);
        assert_eq!(order("page/2/"), [m]);
        assert!(
            site.render(&store, &format!("post/{a}/"))
                .unwrap()
                .is_some()
        );
        edit(&store, &judge, &req(&a, Action::Hide), t(36)).unwrap();
        assert!(
            site.render(&store, &format!("post/{a}/"))
                .unwrap()
                .is_none()
        );
    }
}
