//! `kawaraban sources check`: one fetch of a source through the normal fetcher, and for
//! each item what a poll would do with it and why (stored as a post, folded into a
//! story already stored, off topic, too old, already stored), without writing anything.
//!
//! Judging reads the store through [`Overlay`], which keeps what this check decided in
//! memory: two items of the same feed that tell one story fold as they would in a poll,
//! and the store never sees them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::article::Article;
use crate::config::{Config, ResolvedSource};
use crate::fetch::{Fetcher, Request};
use crate::fulltext::{self, Pages, wants_page};
use crate::ingest::{index_article, to_article, too_old};
use crate::judge::dedup::{self, Fingerprint};
use crate::judge::{self, Candidate, Judge, Judgement, Lookup};
use crate::store::{Store, StoreError};

/// What a poll would do with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Stored and published as a post of its own.
    Post,
    /// Stored and shown as "also reported by" on a post of the same story.
    Folded,
    /// Stored, judged off the blog's topic, not published.
    OffTopic,
    /// Older than `[fetch] max_age` at first sight: not stored.
    TooOld,
    /// Stored already: a poll updates it when its text changed.
    Stored,
    /// An index page's link whose article page could not be read.
    Unread,
}

impl Verdict {
    /// Whether the item would appear on the blog (as a post, or under one).
    pub fn kept(self) -> bool {
        matches!(self, Verdict::Post | Verdict::Folded)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckItem {
    pub title: String,
    pub link: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub verdict: Verdict,
    pub kept: bool,
    /// Why, in one line.
    pub reason: String,
    pub category: Option<String>,
    /// What happened with the article page, when one was wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    pub name: String,
    pub url: String,
    /// False when the URL is not a configured source (checked with default settings).
    pub configured: bool,
    pub final_url: String,
    pub status: u16,
    pub content_type: Option<String>,
    /// Items in the feed (links on an index page).
    pub entries: usize,
    /// Items past the per-poll limit, not read.
    pub skipped: usize,
    /// Whether items were compared with the stored articles (already stored, same
    /// story as a stored post); false when the store could not be read.
    pub store_checked: bool,
    pub items: Vec<CheckItem>,
}

/// A check asked of the running daemon (which holds the store): the configuration file
/// to take the source and the settings from, and the source's URL or name.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckRequest {
    pub config: std::path::PathBuf,
    pub source: String,
}

/// The source a URL-or-NAME argument names, and whether it is configured: a URL that
/// is not is checked with the default settings, named after its host.
pub fn target(config: &Config, what: &str) -> anyhow::Result<(ResolvedSource, bool)> {
    use super::Found;
    match super::find(config, what) {
        Found::One(i) => {
            let url = super::source_url(&config.sources[i]).cloned();
            let src = config
                .resolved_sources()
                .into_iter()
                .find(|s| Some(&s.url) == url.as_ref())
                .context("the source has no URL")?;
            Ok((src, true))
        }
        Found::None => {
            let Some(url) = super::parse_http_url(what) else {
                return Err(super::refusal(what, Found::None));
            };
            let src = ResolvedSource {
                name: url.host_str().unwrap_or("source").to_owned(),
                url,
                links: None,
                interval: config.fetch.interval.0,
                max_bytes: config.fetch.max_bytes.0,
                timezone: config.blog.timezone.0,
                enabled: true,
                full_text: crate::config::FullText::default(),
                selector: Vec::new(),
                remove: Vec::new(),
                ignore_robots: false,
                publisher_from_page: false,
                prefilter: false,
            };
            Ok((src, false))
        }
        several => Err(super::refusal(what, several)),
    }
}

/// Checks `src` once. With `store`, items are compared with what is stored (read only).
pub async fn check(
    config: &Config,
    src: &ResolvedSource,
    configured: bool,
    store: Option<&Store>,
) -> anyhow::Result<CheckReport> {
    let judge = match store {
        Some(s) => judge::for_store(config, s)?,
        None => Judge::from_config(config, &[])?,
    };
    let fetcher = Fetcher::new(&config.fetch).context("setting up the HTTP client")?;
    let resp = fetcher
        .fetch(&Request {
            url: &src.url,
            etag: None,
            last_modified: None,
            max_bytes: src.max_bytes,
        })
        .await
        .with_context(|| format!("{}: fetching {}", src.name, src.url))?;
    let body = resp
        .body
        .clone()
        .with_context(|| format!("{}: the server sent no body", src.url))?;
    let now = Utc::now();
    let mut c = Checker {
        config,
        src,
        store,
        judge,
        fetcher,
        pages: Pages::default(),
        overlay: Overlay {
            store,
            articles: RefCell::default(),
            fingerprints: RefCell::default(),
        },
        now,
        items: Vec::new(),
    };
    let (entries, skipped) = match &src.links {
        None => {
            let (ct, url, tz) = (
                resp.content_type.clone(),
                resp.final_url.clone(),
                src.timezone,
            );
            let feed = tokio::task::spawn_blocking(move || {
                crate::parse::parse_feed(&body, ct.as_deref(), &url, tz)
            })
            .await
            .context("the parser task failed")?
            .with_context(|| format!("{}: reading the feed", src.url))?;
            let counts = (feed.entries.len() + feed.skipped, feed.skipped);
            for entry in feed.entries {
                let article = to_article(src, &resp.final_url, entry, now);
                c.feed_item(article).await?;
            }
            counts
        }
        Some(links) => {
            let (ct, base, sel) = (
                resp.content_type.clone(),
                resp.final_url.clone(),
                links.clone(),
            );
            let urls = tokio::task::spawn_blocking(move || {
                let html = crate::extract::decode_page(&body, ct.as_deref(), &base);
                fulltext::index_links(&html, &base, &sel)
            })
            .await
            .context("the link finder failed")?
            .with_context(|| format!("{}: reading the index page", src.url))?;
            if urls.is_empty() {
                anyhow::bail!(
                    "{}: no links match `{links}` on the index page (check the `links` selector)",
                    src.url
                );
            }
            let n = urls.len();
            for url in urls {
                c.index_item(url).await?;
            }
            (n, 0)
        }
    };
    Ok(CheckReport {
        name: src.name.clone(),
        url: src.url.to_string(),
        configured,
        final_url: resp.final_url.to_string(),
        status: resp.status,
        content_type: resp.content_type.clone(),
        entries,
        skipped,
        store_checked: store.is_some(),
        items: c.items,
    })
}

struct Checker<'a> {
    config: &'a Config,
    src: &'a ResolvedSource,
    store: Option<&'a Store>,
    judge: Judge,
    fetcher: Fetcher,
    pages: Pages,
    overlay: Overlay<'a>,
    now: DateTime<Utc>,
    items: Vec<CheckItem>,
}

impl Checker<'_> {
    async fn feed_item(&mut self, mut article: Article) -> Result<(), StoreError> {
        if let Some(store) = self.store
            && let Some(stored) = store.find(&article.key)?
        {
            self.stored(&article, &stored);
            return Ok(());
        }
        if self.too_old(&article) {
            return Ok(());
        }
        let prefiltered = self.src.prefilter
            && !self
                .judge
                .topic
                .excluded_by(&article.title, &article.content_text)
                .is_empty();
        let mut page = None;
        if prefiltered {
            page = Some(
                "page not fetched: the feed's text already hits an exclude term (prefilter)".into(),
            );
        } else if wants_page(self.src, &article.content_text)
            && let Some(link) = article.link.as_deref().and_then(|l| Url::parse(l).ok())
        {
            page = Some(
                match self
                    .pages
                    .article(
                        &self.fetcher,
                        &self.config.fetch.user_agent,
                        self.src,
                        &link,
                    )
                    .await
                {
                    Ok((x, _)) => {
                        fulltext::merge(&mut article, x);
                        "full text from the article page".to_owned()
                    }
                    Err(e) => format!("the feed's text is kept: {e}"),
                },
            );
        }
        self.judge_new(article, page)
    }

    async fn index_item(&mut self, url: Url) -> Result<(), StoreError> {
        if let Some(store) = self.store
            && let Some(stored) = store.find(url.as_str())?
        {
            let placeholder = Article {
                link: Some(url.to_string()),
                ..stored.clone()
            };
            self.stored(&placeholder, &stored);
            return Ok(());
        }
        let found = self
            .pages
            .article(&self.fetcher, &self.config.fetch.user_agent, self.src, &url)
            .await;
        let article = match found {
            Ok((x, final_url)) => index_article(self.src, &url, &final_url, x, self.now),
            Err(e) => {
                // A poll skips the link too, and tries it again next time.
                self.items.push(CheckItem {
                    title: String::new(),
                    link: Some(url.to_string()),
                    published: None,
                    verdict: Verdict::Unread,
                    kept: false,
                    reason: format!("not stored this time (a poll tries it again): {e}"),
                    category: None,
                    page: None,
                });
                return Ok(());
            }
        };
        if self.too_old(&article) {
            return Ok(());
        }
        self.judge_new(article, Some("article from the index page".into()))
    }

    fn too_old(&mut self, article: &Article) -> bool {
        let max_age = self.config.fetch.max_age.map(|d| d.0);
        if !too_old(max_age, article, self.now) {
            return false;
        }
        self.items.push(CheckItem {
            title: article.title.clone(),
            link: article.link.clone(),
            published: article.published,
            verdict: Verdict::TooOld,
            kept: false,
            reason: format!(
                "older than [fetch] max_age ({}): not stored",
                humantime::format_duration(max_age.unwrap_or_default())
            ),
            category: None,
            page: None,
        });
        true
    }

    fn stored(&mut self, item: &Article, stored: &Article) {
        let status = match &stored.judgement {
            None => "not judged yet".to_owned(),
            Some(j) if !j.topic.on_topic => format!("off topic: {}", j.topic.reason()),
            Some(j) if j.duplicate_of.is_some() => j.reason(),
            Some(j) => format!("a post; {}", j.reason()),
        };
        self.items.push(CheckItem {
            title: item.title.clone(),
            link: item.link.clone(),
            published: item.published.or(stored.published),
            verdict: Verdict::Stored,
            kept: false,
            reason: format!("already stored as {} ({status})", stored.id),
            category: None,
            page: None,
        });
    }

    /// Judges a new article against the store and what this check saw before it.
    fn judge_new(&mut self, mut article: Article, page: Option<String>) -> Result<(), StoreError> {
        article.id = format!("new-{}", self.items.len() + 1);
        article.first_seen = self.now + chrono::Duration::microseconds(self.items.len() as i64);
        let plan = judge::decide(&self.judge, &article, &self.overlay, self.now)?;
        let j: Option<Judgement> = plan
            .articles
            .iter()
            .find(|a| a.id == article.id)
            .and_then(|a| a.judgement.clone());
        self.overlay.apply(plan);
        let Some(j) = j else {
            return Ok(());
        };
        let (verdict, reason, category) = if !j.topic.on_topic {
            (
                Verdict::OffTopic,
                format!("off topic: {}", j.topic.reason()),
                None,
            )
        } else if let Some(root) = &j.duplicate_of {
            let what = match self.overlay.article(root)? {
                Some(r) if r.id.starts_with("new-") => {
                    format!("“{}”, earlier in this feed", r.title)
                }
                Some(r) => format!("“{}” from {} (post {})", r.title, r.publisher, r.id),
                None => format!("post {root}"),
            };
            (
                Verdict::Folded,
                format!(
                    "the same story as {what} (similarity {:.3}): shown as also reported by",
                    j.duplicate_score.unwrap_or(0.0)
                ),
                None,
            )
        } else {
            let mut reason = format!("a new post: {}", j.topic.reason());
            if let Some(c) = &j.category {
                reason.push_str(&format!("; category {} ({})", c.name, c.why));
            }
            (
                Verdict::Post,
                reason,
                j.category.as_ref().map(|c| c.name.clone()),
            )
        };
        self.items.push(CheckItem {
            title: article.title,
            link: article.link,
            published: article.published,
            verdict,
            kept: verdict.kept(),
            reason,
            category,
            page,
        });
        Ok(())
    }
}

/// The store as judging sees it, with this check's decisions laid over it in memory.
struct Overlay<'a> {
    store: Option<&'a Store>,
    articles: RefCell<BTreeMap<String, Article>>,
    fingerprints: RefCell<Vec<(String, Fingerprint)>>,
}

impl Overlay<'_> {
    fn apply(&self, plan: judge::Plan) {
        let mut articles = self.articles.borrow_mut();
        for a in plan.articles {
            articles.insert(a.id.clone(), a);
        }
        let mut fps = self.fingerprints.borrow_mut();
        fps.retain(|(id, _)| *id != plan.id);
        if let Some(fp) = plan.fingerprint {
            fps.push((plan.id, fp));
        }
    }
}

impl Lookup for Overlay<'_> {
    type Error = StoreError;

    fn article(&self, id: &str) -> Result<Option<Article>, StoreError> {
        if let Some(a) = self.articles.borrow().get(id) {
            return Ok(Some(a.clone()));
        }
        match self.store {
            Some(s) => s.get(id),
            None => Ok(None),
        }
    }

    fn candidates(&self, keys: &[u64], seen: DateTime<Utc>) -> Result<Vec<Candidate>, StoreError> {
        let mut out = match self.store {
            Some(s) => Lookup::candidates(s, keys, seen)?,
            None => Vec::new(),
        };
        for (id, fp) in self.fingerprints.borrow().iter() {
            if dedup::index_keys(fp).iter().any(|k| keys.contains(k)) {
                out.push(Candidate {
                    id: id.clone(),
                    fingerprint: fp.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// The report for people: one block per item, then a summary.
pub fn render(r: &CheckReport) -> String {
    let mut out = format!(
        "{} {}\n  HTTP {} {}, {} items{}\n",
        r.name,
        r.url,
        r.status,
        r.content_type.as_deref().unwrap_or("(no content type)"),
        r.entries,
        if r.skipped > 0 {
            format!(" ({} past the per-poll limit, not read)", r.skipped)
        } else {
            String::new()
        }
    );
    if r.final_url != r.url {
        out.push_str(&format!("  read from {}\n", r.final_url));
    }
    if !r.configured {
        out.push_str("  not in the configuration: checked with the default settings\n");
    }
    out.push('\n');
    for i in &r.items {
        let word = match i.verdict {
            Verdict::Post => "KEEP",
            Verdict::Folded => "FOLD",
            _ => "SKIP",
        };
        out.push_str(&format!(
            "{word}  {}\n      {}\n      {}\n",
            if i.title.is_empty() {
                "(no title)"
            } else {
                &i.title
            },
            i.link.as_deref().unwrap_or("(no link)"),
            i.reason
        ));
        if let Some(p) = &i.page {
            out.push_str(&format!("      {p}\n"));
        }
    }
    let count = |v: Verdict| r.items.iter().filter(|i| i.verdict == v).count();
    let mut counts = vec![
        format!("{} new posts", count(Verdict::Post)),
        format!("{} folded into a story", count(Verdict::Folded)),
        format!("{} off topic", count(Verdict::OffTopic)),
        format!("{} too old", count(Verdict::TooOld)),
        format!("{} already stored", count(Verdict::Stored)),
    ];
    if count(Verdict::Unread) > 0 {
        counts.push(format!("{} pages not read", count(Verdict::Unread)));
    }
    out.push_str(&format!(
        "\nof {} items: {}; nothing was stored\n",
        r.items.len(),
        counts.join(", ")
    ));
    if !r.store_checked {
        out.push_str(
            "no store was read, so items were not compared with stored articles (already stored, same story as a stored post)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, text: &str, second: i64) -> Article {
        let at = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_700_000_000 + second);
        Article {
            id: id.into(),
            ..Article::sample(
                &format!("https://news.example/{id}"),
                "news",
                title,
                text,
                at,
            )
        }
    }

    #[test]
    fn items_of_one_check_fold_into_each_other_in_memory() {
        let story = "A regional port operator said on Tuesday that a ransomware attack had halted its container terminals for most of the day. \
            The company said customer data did not appear to have been taken, but that it had called in outside investigators and informed the police. \
            Trucks queued for several kilometres outside the gates while staff moved to paper records. \
            The operator expects normal service to resume by Thursday, and asked shippers to check the status page before sending vehicles.";
        let judge = Judge::permissive();
        let overlay = Overlay {
            store: None,
            articles: RefCell::default(),
            fingerprints: RefCell::default(),
        };
        let now = Utc::now();
        let first = article("new-1", "Ransomware halts port", story, 0);
        let plan = judge::decide(&judge, &first, &overlay, now).unwrap();
        overlay.apply(plan);
        let other = article(
            "new-2",
            "Another item",
            "Something else entirely happened at the town hall today.",
            1,
        );
        let plan = judge::decide(&judge, &other, &overlay, now).unwrap();
        overlay.apply(plan);
        let second = article("new-3", "Port stopped by ransomware", story, 2);
        let plan = judge::decide(&judge, &second, &overlay, now).unwrap();
        let j = plan
            .articles
            .iter()
            .find(|a| a.id == "new-3")
            .and_then(|a| a.judgement.clone())
            .unwrap();
        assert_eq!(j.duplicate_of.as_deref(), Some("new-1"));
        overlay.apply(plan);
        // The first now lists the second as also reporting it; the other stands alone.
        let root = overlay.article("new-1").unwrap().unwrap();
        assert_eq!(root.judgement.unwrap().folded, ["new-3"]);
        let alone = overlay.article("new-2").unwrap().unwrap();
        assert!(alone.judgement.unwrap().is_post());
    }
}
