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
            if let Some(a) = store.find(&canonical_url(&u).to_string())? {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded_into: Option<String>,
    /// On a post: how many other outlets' articles are folded into it.
    pub also: usize,
    /// Why it is skipped, or published by the operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub published_by_operator: bool,
    pub category_by_operator: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apart: Vec<String>,
}

/// The stored articles for `post list`, newest first: the blog's posts (hidden ones
/// too) and the articles folded into them, or with `skipped` the skipped ones.
pub fn list(store: &Store, req: &ListRequest) -> Result<Vec<Listed>, StoreError> {
    let wanted = req.category.as_deref().map(|c| decode(c).to_lowercase());
    let mut roots: std::collections::HashMap<String, Option<Article>> = Default::default();
    let mut out = Vec::new();
    for a in store.all_articles() {
        let a = a?;
        let Some(j) = &a.judgement else {
            if !req.skipped && wanted.is_none() {
                out.push(listed(&a, "pending", None, None));
            }
            continue;
        };
        if j.topic.on_topic == req.skipped {
            continue;
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
        if let Some(w) = &wanted
            && !category.as_ref().is_some_and(|c| {
                c.name.to_lowercase() == *w || decode(&c.slug).to_lowercase() == *w
            })
        {
            continue;
        }
        out.push(listed(&a, status, root.as_ref(), category));
    }
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
    if let Some(n) = req.limit {
        out.truncate(n);
    }
    Ok(out)
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
