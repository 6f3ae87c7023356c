//! Judging each article: is it on the blog's topic, is it a story already stored from
//! another outlet, and which category is it filed under.
//!
//! The decisions are functions of the article's text and of what is stored, which they
//! reach through [`Lookup`] (the store implements it; tests use a map). [`decide`] returns
//! a [`Plan`]: the new versions of every article whose judgement changes, which the store
//! writes in one transaction.

pub mod category;
pub mod classify;
pub mod dedup;
pub mod text;
pub mod topic;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::Article;
use crate::config::{Config, ConfigError};
use crate::editor::{Overrides, kept_apart};
use category::{Categorizer, CategoryChoice, Example};
use dedup::Fingerprint;
use topic::{TopicFilter, TopicVerdict};

/// What was decided about one article, stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub topic: TopicVerdict,
    /// The post this article was folded into: the same story, first stored from
    /// another outlet (or earlier from this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Similarity to the closest stored story when it was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_score: Option<f64>,
    /// On a post: the articles folded into it, earliest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded: Vec<String>,
    /// On a post of a folded story: the earliest publication time among its outlets,
    /// which dates the post whichever outlet was stored first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_time: Option<DateTime<Utc>>,
    /// On a post: its category, when categories are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryChoice>,
    /// When this judgement last changed what the post shows.
    pub changed: DateTime<Utc>,
    /// The operator's overrides (`kawaraban post …`), which judging never undoes.
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub editor: Overrides,
}

impl Judgement {
    /// A first judgement: not folded, no category yet.
    pub fn new(topic: TopicVerdict, now: DateTime<Utc>) -> Judgement {
        Judgement {
            topic,
            duplicate_of: None,
            duplicate_score: None,
            folded: Vec::new(),
            story_time: None,
            category: None,
            changed: now,
            editor: Overrides::default(),
        }
    }

    /// Whether the article is a post of its own on the blog.
    pub fn is_post(&self) -> bool {
        self.leads_story() && !self.editor.hidden
    }

    /// Whether the article is the post of its story, shown or hidden by the operator:
    /// on topic and not folded into another.
    pub fn leads_story(&self) -> bool {
        self.topic.on_topic && self.duplicate_of.is_none()
    }

    /// Why it is or is not published, in one line.
    pub fn reason(&self) -> String {
        let mut s = self.topic.reason();
        if let Some(of) = &self.duplicate_of {
            s.push_str(&format!(
                "; folded into {of} (similarity {:.3})",
                self.duplicate_score.unwrap_or(0.0)
            ));
        }
        if !self.folded.is_empty() {
            s.push_str(&format!("; also reported by {} more", self.folded.len()));
        }
        if let Some(c) = &self.category {
            s.push_str(&format!("; category {} ({})", c.name, c.why));
        }
        if self.editor.hidden {
            s.push_str("; hidden by the operator");
        }
        s
    }
}

/// The three decisions, built once from the configuration.
pub struct Judge {
    pub topic: TopicFilter,
    pub categories: Categorizer,
}

impl Judge {
    /// Builds the topic filter and the categories, training the classifier on the
    /// configured examples plus `confirmed` (categories the operator set by hand).
    pub fn from_config(config: &Config, confirmed: &[Example]) -> Result<Judge, ConfigError> {
        let topic = match &config.topic {
            Some(t) => TopicFilter::new(&t.include, &t.exclude),
            None => Ok(TopicFilter::default()),
        }
        .map_err(|e| ConfigError(format!("[topic]: {e}")))?;
        let mut examples = Vec::new();
        for c in &config.categories {
            if let Some(path) = &c.examples {
                let path = config.dir.join(path);
                let read = category::read_examples(&path).map_err(|e| {
                    ConfigError(format!(
                        "category {:?}: key `examples`: {e} (the path is relative to the configuration file)",
                        c.name
                    ))
                })?;
                examples.extend(read);
            }
        }
        examples.extend(confirmed.iter().cloned());
        let categories = Categorizer::new(&config.categories, &examples)
            .map_err(|e| ConfigError(format!("[[category]] examples: {e}")))?;
        Ok(Judge { topic, categories })
    }

    /// The topic verdict on an article: the filter's, unless the operator published it.
    pub fn verdict(&self, a: &Article) -> TopicVerdict {
        let v = self.topic.check(&a.title, &a.content_text);
        let published = a.judgement.as_ref().is_some_and(|j| j.editor.publish);
        if published && !v.on_topic {
            TopicVerdict {
                on_topic: true,
                by_operator: true,
                ..v
            }
        } else {
            v
        }
    }

    /// A judge that keeps everything and files nothing.
    pub fn permissive() -> Judge {
        Judge {
            topic: TopicFilter::default(),
            categories: Categorizer::new(&[], &[]).expect("no categories"),
        }
    }
}

/// A stored article that may be the same story.
pub struct Candidate {
    pub id: String,
    pub fingerprint: Fingerprint,
}

/// What judging needs from the store.
pub trait Lookup {
    type Error;
    fn article(&self, id: &str) -> Result<Option<Article>, Self::Error>;
    /// Articles filed under any of these dedup index keys, the newest few per key,
    /// leaving out those first seen more than the dedup window before `seen` (the
    /// first sighting of the article being judged).
    fn candidates(&self, keys: &[u64], seen: DateTime<Utc>) -> Result<Vec<Candidate>, Self::Error>;
}

/// What judging one article changes: the articles to write, and the article's
/// fingerprint for the dedup index (`None`: remove it from the index).
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    pub articles: Vec<Article>,
    pub fingerprint: Option<Fingerprint>,
}

/// The text every decision reads: title and sanitized plain body.
pub fn judged_text(a: &Article) -> String {
    format!("{}\n{}", a.title, a.content_text)
}

/// The member of a folded story whose body is shown: the fullest text, the earliest
/// stored among equals, so the result does not depend on which outlet came first.
pub fn fullest<'a>(members: impl IntoIterator<Item = &'a Article>) -> Option<&'a Article> {
    members.into_iter().min_by(|a, b| {
        b.content_text
            .chars()
            .count()
            .cmp(&a.content_text.chars().count())
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.id.cmp(&b.id))
    })
}

/// Judges `article` (already stored, with its current text) against what is stored.
pub fn decide<L: Lookup>(
    judge: &Judge,
    article: &Article,
    lookup: &L,
    now: DateTime<Utc>,
) -> Result<Plan, L::Error> {
    let verdict = judge.verdict(article);
    let old = article.judgement.clone();
    // Everything in the article's present group, by id.
    let mut touched: BTreeMap<String, Article> = BTreeMap::new();
    touched.insert(article.id.clone(), article.clone());
    let root_of = |a: &Article| {
        a.judgement
            .as_ref()
            .and_then(|j| j.duplicate_of.clone())
            .unwrap_or_else(|| a.id.clone())
    };
    let roots = vec![root_of(article)];

    if !verdict.on_topic {
        // Leaving the blog: out of its group, whose earliest remaining member takes over.
        let mut group = load_group(lookup, &roots, &mut touched)?;
        group.retain(|id| *id != article.id);
        let mut out = regroup(judge, &group, &mut touched, now, None);
        let mut me = article.clone();
        let mut j = Judgement::new(
            verdict,
            changed_at(&old, now, old.as_ref().is_some_and(Judgement::is_post)),
        );
        // The operator's word outlasts the topic filter's: kept for when it is back.
        if let Some(o) = &old {
            j.editor = o.editor.clone();
            j.category = o.category.clone().filter(|c| c.manual);
        }
        me.judgement = Some(j);
        out.push(me);
        return Ok(Plan {
            id: article.id.clone(),
            articles: out,
            fingerprint: None,
        });
    }

    let fp = dedup::fingerprint(&judged_text(article));
    // The stories it may be, by their post's id, with the best similarity to each.
    let mut found: Vec<(f64, String)> = Vec::new();
    for c in lookup.candidates(&dedup::index_keys(&fp), article.first_seen)? {
        if c.id == article.id {
            continue;
        }
        let v = dedup::compare(&fp, &c.fingerprint);
        if v.duplicate
            && let Some(other) = lookup.article(&c.id)?
            && !kept_apart(article, &other)
        {
            let r = root_of(&other);
            match found.iter_mut().find(|(_, id)| *id == r) {
                Some(f) => f.0 = f.0.max(v.score),
                None => found.push((v.score, r)),
            }
        }
    }
    let mut group = load_group(lookup, &roots, &mut touched)?;
    if !group.contains(&article.id) {
        group.push(article.id.clone());
    }
    // Closest first: stories the operator kept apart (`post unfold`) are never joined
    // again, so an article like both joins the closer one.
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut best: Option<f64> = None;
    for (score, r) in found {
        if !group.contains(&r) {
            let members = load_group(lookup, std::slice::from_ref(&r), &mut touched)?;
            let clash = members.iter().any(|m| {
                group
                    .iter()
                    .any(|g| match (touched.get(m), touched.get(g)) {
                        (Some(m), Some(g)) => kept_apart(m, g),
                        _ => false,
                    })
            });
            if clash {
                continue;
            }
            for m in members {
                if !group.contains(&m) {
                    group.push(m);
                }
            }
        }
        best = Some(best.map_or(score, |b: f64| b.max(score)));
    }
    // The new verdict must be visible to regroup, which reads judgements.
    if let Some(me) = touched.get_mut(&article.id) {
        let mut j = me
            .judgement
            .clone()
            .unwrap_or_else(|| Judgement::new(verdict.clone(), now));
        j.topic = verdict;
        j.duplicate_score = best.or(j.duplicate_score);
        me.judgement = Some(j);
    }
    let first_judged = old.is_none().then_some(article.id.as_str());
    let mut out = regroup(judge, &group, &mut touched, now, first_judged);
    // The article itself is always written: its new text was judged.
    if !out.iter().any(|a| a.id == article.id)
        && let Some(me) = touched.get(&article.id)
    {
        out.push(me.clone());
    }
    Ok(Plan {
        id: article.id.clone(),
        articles: out,
        fingerprint: Some(fp),
    })
}

/// The ids of every member of the groups rooted at `roots`, loading them into `touched`.
fn load_group<L: Lookup>(
    lookup: &L,
    roots: &[String],
    touched: &mut BTreeMap<String, Article>,
) -> Result<Vec<String>, L::Error> {
    let mut ids = Vec::new();
    for r in roots {
        let root = match touched.get(r) {
            Some(a) => Some(a.clone()),
            None => lookup.article(r)?,
        };
        let Some(root) = root else { continue };
        let folded = root
            .judgement
            .as_ref()
            .map(|j| j.folded.clone())
            .unwrap_or_default();
        for id in std::iter::once(root.id.clone()).chain(folded) {
            if ids.contains(&id) {
                continue;
            }
            if !touched.contains_key(&id) {
                match lookup.article(&id)? {
                    Some(a) => {
                        touched.insert(id.clone(), a);
                    }
                    None => continue,
                }
            }
            ids.push(id);
        }
        touched.entry(root.id.clone()).or_insert(root);
    }
    Ok(ids)
}

/// Makes `group` one story: the earliest stored member is the post (ids never change,
/// so the first outlet's id stays), the others are folded into it. Returns every member
/// whose judgement changed.
fn regroup(
    judge: &Judge,
    group: &[String],
    touched: &mut BTreeMap<String, Article>,
    now: DateTime<Utc>,
    first_judged: Option<&str>,
) -> Vec<Article> {
    let mut members: Vec<Article> = group
        .iter()
        .filter_map(|id| touched.get(id).cloned())
        .collect();
    members.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.id.cmp(&b.id)));
    let Some(root_id) = members.first().map(|a| a.id.clone()) else {
        return Vec::new();
    };
    let folded: Vec<String> = members.iter().skip(1).map(|a| a.id.clone()).collect();
    let shown = fullest(&members).cloned();
    let mut out = Vec::new();
    for m in &members {
        let old = m.judgement.clone();
        let mut j = old
            .clone()
            .unwrap_or_else(|| Judgement::new(judge.topic.check(&m.title, &m.content_text), now));
        if m.id == root_id {
            j.duplicate_of = None;
            j.folded = folded.clone();
            j.story_time = (members.len() > 1)
                .then(|| members.iter().map(Article::post_time).min())
                .flatten();
            let manual = j.category.as_ref().filter(|c| c.manual).cloned();
            j.category = manual.or_else(|| {
                let s = shown.as_ref().unwrap_or(m);
                judge.categories.decide(&s.title, &s.content_text)
            });
        } else {
            j.duplicate_of = Some(root_id.clone());
            j.folded = Vec::new();
            j.story_time = None;
            // A folded article keeps an operator's choice for when it stands alone again.
            j.category = j.category.filter(|c| c.manual);
        }
        let changed = old.as_ref() != Some(&j) || m.id == root_id && old.is_none();
        if changed {
            let shown_changed = old.as_ref().is_none_or(|o| {
                o.is_post() != j.is_post()
                    || o.folded != j.folded
                    || o.category != j.category
                    || o.story_time != j.story_time
            });
            // A post's first judgement is not a change a reader sees: it appeared then.
            j.changed = if first_judged == Some(m.id.as_str()) {
                m.first_seen
            } else {
                changed_at(&old, now, shown_changed)
            };
            let mut a = m.clone();
            a.judgement = Some(j);
            touched.insert(a.id.clone(), a.clone());
            out.push(a);
        }
    }
    out
}

fn changed_at(old: &Option<Judgement>, now: DateTime<Utc>, shown_changed: bool) -> DateTime<Utc> {
    match old {
        Some(o) if !shown_changed => o.changed,
        _ => now,
    }
}

/// Judges one stored article against the store and writes the outcome; returns the
/// article's judgement (`None` when no such article is stored).
pub fn judge_stored(
    store: &crate::store::Store,
    judge: &Judge,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Judgement>, crate::store::StoreError> {
    let Some(article) = store.get(id)? else {
        store.forget_pending(id)?;
        return Ok(None);
    };
    let plan = decide(judge, &article, store, now)?;
    store.apply(&plan)?;
    Ok(plan
        .articles
        .into_iter()
        .find(|a| a.id == id)
        .and_then(|a| a.judgement))
}

/// Judges everything stored but not judged yet (after a crash, or on the first start
/// of a release that judges); returns how many.
pub fn judge_pending(
    store: &crate::store::Store,
    judge: &Judge,
) -> Result<usize, crate::store::StoreError> {
    let pending = store.pending()?;
    let mut by_arrival = Vec::with_capacity(pending.len());
    for id in pending {
        match store.get(&id)? {
            Some(a) => by_arrival.push((a.first_seen, id)),
            None => store.forget_pending(&id)?,
        }
    }
    // In arrival order, as if they had been judged when they came.
    by_arrival.sort();
    for (_, id) in &by_arrival {
        judge_stored(store, judge, id, Utc::now())?;
    }
    Ok(by_arrival.len())
}

/// The judge for a configuration, learning also from the categories the operator set
/// by hand on stored articles.
pub fn for_store(config: &Config, store: &crate::store::Store) -> anyhow::Result<Judge> {
    let confirmed = store.confirmed_examples()?;
    Ok(Judge::from_config(config, &confirmed)?)
}

/// Takes `article` out of the story it is in, as the operator asked (`post unfold`): the
/// others stay one story (the earliest stored of them its post) and the article stands
/// alone until it is judged again. Returns every article to write.
pub fn leave_story<L: Lookup>(
    judge: &Judge,
    lookup: &L,
    article: &Article,
    now: DateTime<Utc>,
) -> Result<Vec<Article>, L::Error> {
    let mut touched: BTreeMap<String, Article> = BTreeMap::new();
    touched.insert(article.id.clone(), article.clone());
    let root = article
        .judgement
        .as_ref()
        .and_then(|j| j.duplicate_of.clone())
        .unwrap_or_else(|| article.id.clone());
    let mut group = load_group(lookup, &[root], &mut touched)?;
    group.retain(|id| *id != article.id);
    let mut out = regroup(judge, &group, &mut touched, now, None);
    let mut me = article.clone();
    if let Some(j) = me.judgement.as_mut() {
        j.duplicate_of = None;
        j.duplicate_score = None;
        j.folded = Vec::new();
        j.story_time = None;
        j.changed = now;
    }
    out.push(me);
    Ok(out)
}

/// What a rejudge changes (or would change) for one article.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub title: String,
    pub before: String,
    pub after: String,
}

/// Re-runs the topic filter and the categories over every stored article, after
/// `[topic]`, keyword rules or examples changed. Returns what differs; with `apply` the
/// changes are written (and the feeds follow), else nothing is. An operator's category
/// is never overwritten.
pub fn rejudge(
    store: &crate::store::Store,
    judge: &Judge,
    apply: bool,
) -> Result<Vec<Change>, crate::store::StoreError> {
    let mut order = Vec::new();
    for a in store.all_articles() {
        let a = a?;
        order.push((a.first_seen, a.id));
    }
    // In arrival order, so stories fold into the outlet that ran them first.
    order.sort();
    let mut changes = Vec::new();
    for (_, id) in order {
        let Some(a) = store.get(&id)? else { continue };
        let topic = judge.verdict(&a);
        let (before, after) = match &a.judgement {
            None => ("not judged".to_owned(), topic.reason()),
            Some(j) if j.topic.on_topic != topic.on_topic => (j.topic.reason(), topic.reason()),
            Some(j) if j.leads_story() && j.category.as_ref().is_none_or(|c| !c.manual) => {
                let mut group = vec![a.clone()];
                for f in &j.folded {
                    group.extend(store.get(f)?);
                }
                let shown = fullest(&group).unwrap_or(&a);
                let new = judge.categories.decide(&shown.title, &shown.content_text);
                let name = |c: &Option<CategoryChoice>| {
                    c.as_ref()
                        .map_or("no category".to_owned(), |c| c.name.clone())
                };
                if name(&j.category) == name(&new) {
                    continue;
                }
                (
                    format!("category {}", name(&j.category)),
                    format!(
                        "category {} ({})",
                        name(&new),
                        new.as_ref().map_or("", |c| c.why.as_str())
                    ),
                )
            }
            Some(_) => continue,
        };
        if apply {
            judge_stored(store, judge, &id, Utc::now())?;
        }
        changes.push(Change {
            id,
            title: a.title.clone(),
            before,
            after,
        });
    }
    Ok(changes)
}

/// Everything judging decided about one stored article (by id, or by its URL), for
/// people: `kawaraban categorize --explain`.
pub fn explain(
    store: &crate::store::Store,
    id_or_url: &str,
) -> Result<Option<String>, crate::store::StoreError> {
    let Some(a) = crate::editor::resolve(store, id_or_url)? else {
        return Ok(None);
    };
    let mut out = format!(
        "{}\n  id         {}\n  publisher  {}\n  link       {}\n",
        a.title,
        a.id,
        a.publisher,
        a.link.as_deref().unwrap_or("-")
    );
    let Some(j) = &a.judgement else {
        out.push_str("  not judged yet (it is judged at the next fetch)\n");
        return Ok(Some(out));
    };
    let status = if !j.topic.on_topic {
        "skipped (off topic)".to_owned()
    } else if let Some(root) = &j.duplicate_of {
        format!("folded into post {root}: the same story, stored first from another article")
    } else if j.editor.hidden {
        "hidden by the operator (off every feed and page)".to_owned()
    } else {
        "published".to_owned()
    };
    out.push_str(&format!(
        "  status     {status}\n  topic      {}\n",
        j.topic.reason()
    ));
    if let Some(at) = j.editor.pinned {
        out.push_str(&format!(
            "  pinned     at the top of the front page since {}\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if !j.editor.apart.is_empty() {
        out.push_str(&format!(
            "  apart      never folded with {} (the operator unfolded it)\n",
            j.editor.apart.join(", ")
        ));
    }
    if let Some(s) = j.duplicate_score {
        out.push_str(&format!(
            "  similarity {s:.3} to the closest stored story\n"
        ));
    }
    for f in &j.folded {
        if let Some(o) = store.get(f)? {
            out.push_str(&format!(
                "  also       {} {} ({})\n",
                o.publisher,
                o.link.as_deref().unwrap_or("-"),
                o.id
            ));
        }
    }
    let category = match &j.duplicate_of {
        Some(root) => store
            .get(root)?
            .and_then(|r| r.judgement.and_then(|j| j.category)),
        None => j.category.clone(),
    };
    if let Some(c) = category {
        out.push_str(&format!(
            "  category   {} (slug {}, score {:.2}{})\n  why        {}\n",
            c.name,
            c.slug,
            c.score,
            if c.manual { ", set by hand" } else { "" },
            c.why
        ));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::config::{CategoryConfig, Term};

    /// The store's part in judging, in memory.
    #[derive(Default)]
    struct Mem {
        articles: RefCell<BTreeMap<String, Article>>,
        fingerprints: RefCell<BTreeMap<String, Fingerprint>>,
    }

    impl Lookup for Mem {
        type Error = std::convert::Infallible;
        fn article(&self, id: &str) -> Result<Option<Article>, Self::Error> {
            Ok(self.articles.borrow().get(id).cloned())
        }
        fn candidates(
            &self,
            keys: &[u64],
            _seen: DateTime<Utc>,
        ) -> Result<Vec<Candidate>, Self::Error> {
            Ok(self
                .fingerprints
                .borrow()
                .iter()
                .filter(|(_, fp)| dedup::index_keys(fp).iter().any(|k| keys.contains(k)))
                .map(|(id, fp)| Candidate {
                    id: id.clone(),
                    fingerprint: fp.clone(),
                })
                .collect())
        }
    }

    impl Mem {
        fn put(&self, judge: &Judge, a: Article) -> Judgement {
            let id = a.id.clone();
            let mut stored = a;
            if let Some(old) = self.articles.borrow().get(&id) {
                stored.judgement = old.judgement.clone();
            }
            self.articles
                .borrow_mut()
                .insert(id.clone(), stored.clone());
            let plan = decide(judge, &stored, self, t(59)).unwrap();
            for new in plan.articles {
                self.articles.borrow_mut().insert(new.id.clone(), new);
            }
            match plan.fingerprint {
                Some(fp) => self.fingerprints.borrow_mut().insert(id.clone(), fp),
                None => self.fingerprints.borrow_mut().remove(&id),
            };
            self.get(&id)
        }
        fn get(&self, id: &str) -> Judgement {
            self.articles.borrow()[id].judgement.clone().unwrap()
        }
        fn posts(&self) -> Vec<String> {
            self.articles
                .borrow()
                .values()
                .filter(|a| a.judgement.as_ref().is_some_and(Judgement::is_post))
                .map(|a| a.id.clone())
                .collect()
        }
    }

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 9, minute, 0).unwrap()
    }

    const STORY: [&str; 5] = [
        "東京都内の通販会社「みなと商会」は30日、同社の通販サイトが外部から不正アクセスを受け、顧客のクレジットカード情報最大2万4千件が流出した可能性があると発表した。",
        "同社によると、決済画面のプログラムが改ざんされ、昨年11月から今年3月までに入力されたカード番号や有効期限、セキュリティーコードが外部に送信されていたという。",
        "カード会社からの連絡で発覚した。すでに一部のカードで不正利用の被害が確認されており、同社は警視庁に相談している。",
        "同社はサイトでのカード決済を停止し、外部の専門機関に調査を依頼した。対象の顧客には個別にメールで連絡するとしている。",
        "社長は記者会見で「お客様に多大なご迷惑とご心配をおかけし、深くおわび申し上げる」と述べた。",
    ];

    fn article(id: &str, publisher: &str, minute: u32, title: &str, text: &str) -> Article {
        let key = format!("https://{publisher}.example/{id}");
        Article {
            id: id.into(),
            ..Article::sample(&key, publisher, title, text, t(minute))
        }
    }

    fn full() -> String {
        STORY.join("\n\n")
    }

    /// Another outlet's version: its own lead, two paragraphs, a credit line, and
    /// half-width digits where the first used full-width.
    fn excerpt() -> String {
        format!(
            "通販サイト「みなと商会」で顧客のカード情報が流出した恐れがある。\n\n{}\n\n{}（共同）",
            STORY[1], STORY[2]
        )
    }

    fn judge() -> Judge {
        let cat = |name: &str, keywords: &[&str], default| CategoryConfig {
            name: name.into(),
            slug: None,
            keywords: keywords.iter().map(|k| Term(k.to_string())).collect(),
            examples: None,
            default,
        };
        Judge {
            topic: TopicFilter::new(&["不正アクセス", "サイバー", "情報流出"], &["映画"]).unwrap(),
            categories: Categorizer::new(
                &[
                    cat("ショッピング", &["通販"], false),
                    cat("サイバー攻撃", &["サイバー攻撃"], false),
                    cat("ニュース", &[], true),
                ],
                &[],
            )
            .unwrap(),
        }
    }

    #[test]
    fn the_same_story_from_two_outlets_is_one_post_whichever_comes_first() {
        let judge = judge();
        for (first, second) in [("a", "b"), ("b", "a")] {
            let mem = Mem::default();
            // Each outlet's own publication time, whatever the order they arrive in.
            let make = |id: &str, minute| {
                let mut a = match id {
                    "a" => article("a", "東都新聞", minute, "通販サイトに不正アクセス", &full()),
                    _ => article("b", "共同通信", minute, "カード情報流出の恐れ", &excerpt()),
                };
                a.published = Some(if id == "a" { t(30) } else { t(20) });
                a
            };
            mem.put(&judge, make(first, 1));
            let j = mem.put(&judge, make(second, 2));
            // The post keeps the first arrival's id; the second is folded into it.
            assert_eq!(
                j.duplicate_of.as_deref(),
                Some(first),
                "{first} then {second}"
            );
            assert_eq!(mem.posts(), [first]);
            assert_eq!(mem.get(first).folded, [second]);
            // Another outlet folded in changes what the post shows: now.
            assert_eq!(mem.get(first).changed, t(59));
            let arts = mem.articles.borrow();
            let post = crate::publish::Post::new(
                &crate::config::BlogConfig::default(),
                arts[first].clone(),
                vec![arts[second].clone()],
            );
            // Either way the fullest text is shown, attributed to the outlet it came
            // from, and the other outlet is listed.
            assert_eq!(post.article.publisher, "東都新聞");
            assert_eq!(post.also.len(), 1);
            assert_eq!(post.also[0].publisher, "共同通信");
            assert!(post.content_html.contains("also reported by"));
            assert_eq!(post.category.as_ref().unwrap().name, "ショッピング");
            // Dated by the story's first publication, not by who came first.
            assert_eq!(post.time, t(20));
        }
    }

    #[test]
    fn different_stories_stay_apart() {
        let judge = judge();
        let mem = Mem::default();
        mem.put(
            &judge,
            article("a", "東都新聞", 1, "通販サイトに不正アクセス", &full()),
        );
        let other = "大阪市の病院が26日、電子カルテのシステムがサイバー攻撃を受け、外来診療を停止したと発表した。\n\n身代金を要求する脅迫文が院内のプリンターから印刷されていた。復旧には数週間かかる見通し。\n\n市は近隣の医療機関に患者の受け入れを要請した。";
        let j = mem.put(
            &judge,
            article("c", "浪速日報", 2, "病院にサイバー攻撃", other),
        );
        assert!(j.is_post());
        // Appearing is not a change: a new post's judgement dates from its arrival.
        assert_eq!(j.changed, t(2));
        assert_eq!(mem.posts().len(), 2);
        assert_eq!(j.category.unwrap().name, "サイバー攻撃");
    }

    #[test]
    fn a_fold_found_when_the_full_text_arrives_removes_the_later_post() {
        let judge = judge();
        let mem = Mem::default();
        mem.put(
            &judge,
            article("a", "東都新聞", 1, "通販サイトに不正アクセス", &full()),
        );
        // Its feed gave only a headline-like line: nothing to match yet.
        let mut b = article(
            "b",
            "共同通信",
            2,
            "カード情報流出の恐れ",
            "みなと商会でカード情報流出の恐れ",
        );
        assert!(mem.put(&judge, b.clone()).is_post());
        assert_eq!(mem.posts().len(), 2);
        b.content_text = excerpt();
        let j = mem.put(&judge, b);
        assert_eq!(j.duplicate_of.as_deref(), Some("a"));
        assert_eq!(mem.posts(), ["a"]);
    }

    #[test]
    fn off_topic_articles_are_kept_with_the_reason_and_leave_their_group() {
        let judge = judge();
        let mem = Mem::default();
        let j = mem.put(
            &judge,
            article(
                "m",
                "東都新聞",
                1,
                "話題の映画",
                "サイバー攻撃を描いた映画が公開",
            ),
        );
        assert!(!j.is_post());
        assert_eq!(j.topic.excluded, ["映画"]);
        assert!(j.category.is_none());
        let j = mem.put(&judge, article("w", "東都新聞", 2, "あすの天気", "晴れ"));
        assert_eq!(j.reason(), "no include term matched");

        // The first article of a folded story leaves the blog: the next one takes over.
        mem.put(
            &judge,
            article("a", "東都新聞", 3, "通販サイトに不正アクセス", &full()),
        );
        mem.put(
            &judge,
            article("b", "共同通信", 4, "カード情報流出の恐れ", &excerpt()),
        );
        assert_eq!(mem.posts(), ["a"]);
        let mut a = mem.articles.borrow()["a"].clone();
        a.content_text.push_str("\n\nこの事件は映画にもなった。");
        assert!(!mem.put(&judge, a).is_post());
        assert_eq!(mem.posts(), ["b"]);
        assert!(mem.get("b").folded.is_empty());
    }

    #[test]
    fn the_operators_word_outlasts_a_trip_off_topic() {
        let judge = judge();
        let mem = Mem::default();
        let mut a = article("a", "東都新聞", 1, "通販サイトに不正アクセス", &full());
        mem.put(&judge, a.clone());
        let mut set = mem.articles.borrow()["a"].clone();
        let j = set.judgement.as_mut().unwrap();
        j.category = judge.categories.manual("ニュース");
        j.editor.pinned = Some(t(5));
        j.editor.apart = vec!["z".into()];
        mem.articles.borrow_mut().insert("a".into(), set);
        // Revised into a film review: off the blog, the operator's choices kept.
        a.content_text = "映画になった".into();
        let j = mem.put(&judge, a.clone());
        assert!(!j.is_post());
        assert_eq!(j.editor.pinned, Some(t(5)));
        assert_eq!(j.category.as_ref().unwrap().name, "ニュース");
        // Published by hand it is back, its category too.
        let mut set = mem.articles.borrow()["a"].clone();
        set.judgement.as_mut().unwrap().editor.publish = true;
        mem.articles.borrow_mut().insert("a".into(), set);
        let j = mem.put(&judge, a);
        assert!(j.is_post() && j.topic.by_operator, "{j:?}");
        assert!(j.reason().contains("excluded by 映画"), "{}", j.reason());
        assert_eq!(j.category.unwrap().name, "ニュース");
        assert_eq!(j.editor.apart, ["z"]);
    }

    #[test]
    fn an_operators_category_is_kept() {
        let judge = judge();
        let mem = Mem::default();
        let mut a = article("a", "東都新聞", 1, "通販サイトに不正アクセス", &full());
        a.judgement = Some(Judgement {
            category: judge.categories.manual("ニュース"),
            ..Judgement::new(TopicVerdict::default(), t(0))
        });
        mem.articles.borrow_mut().insert("a".into(), a.clone());
        let j = mem.put(&judge, a);
        assert_eq!(j.category.unwrap().name, "ニュース");
    }
}
