//! One poll of one source: fetch → decode and parse → sanitize and key each entry →
//! store, then record how it went in the source's fetch state. Nothing here panics on
//! input, and a failing source never touches what is already stored.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use url::Url;

use crate::article::{Article, article_key, canonical_url};
use crate::config::{FetchConfig, ResolvedSource};
use crate::fetch::{FetchError, Fetcher, Request, Response, policy};
use crate::fulltext::{self, Pages, wants_page};
use crate::judge::{self, Judge};
use crate::parse::{self, ParsedEntry};
use crate::sanitize::{clean_html, html_to_text};
use crate::store::{SourceState, Store, StoreError, Upsert};

/// How one poll of a source ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The feed was read; `new` says whether anything was stored.
    Fetched,
    /// 304 Not Modified.
    NotModified,
    Error,
    /// 410 Gone, now or earlier: not polled until its config entry changes.
    Gone,
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceReport {
    pub name: String,
    pub url: String,
    pub outcome: Outcome,
    pub new: usize,
    pub updated: usize,
    /// Entries in the feed.
    pub entries: usize,
    /// Entries older than `max_age` at first sight, not stored.
    pub too_old: usize,
    /// Entries whose article retention has pruned: not stored again.
    #[serde(default)]
    pub pruned: usize,
    /// Entries past [`parse::MAX_ENTRIES`], not read.
    #[serde(default)]
    pub skipped: usize,
    /// New or changed articles judged off the blog's topic, and those folded into a
    /// story already stored from another outlet.
    #[serde(default)]
    pub off_topic: usize,
    #[serde(default)]
    pub folded: usize,
    /// Article pages fetched for the full text, and those that failed.
    #[serde(default)]
    pub pages: usize,
    #[serde(default)]
    pub page_errors: usize,
    /// Article pages not requested because an earlier failure's backoff still runs.
    #[serde(default)]
    pub pages_deferred: usize,
    pub error: Option<String>,
    /// Where the feed has permanently moved (the config still names the old URL).
    pub moved_to: Option<String>,
    #[serde(skip)]
    pub next_poll: Option<DateTime<Utc>>,
}

impl SourceReport {
    /// A report with nothing counted yet.
    pub fn new(src: &ResolvedSource, outcome: Outcome) -> SourceReport {
        SourceReport {
            name: src.name.clone(),
            url: src.url.to_string(),
            outcome,
            new: 0,
            updated: 0,
            entries: 0,
            too_old: 0,
            pruned: 0,
            skipped: 0,
            off_topic: 0,
            folded: 0,
            pages: 0,
            page_errors: 0,
            pages_deferred: 0,
            error: None,
            moved_to: None,
            next_poll: None,
        }
    }

    /// A one-word summary for the fetch command's table.
    pub fn status_word(&self) -> &'static str {
        match self.outcome {
            Outcome::Fetched if self.new > 0 || self.updated > 0 => "new",
            Outcome::Fetched | Outcome::NotModified => "unchanged",
            Outcome::Error => "error",
            Outcome::Gone => "gone",
            Outcome::Disabled => "disabled",
        }
    }
}

/// Everything a poll needs; shared by the daemon and the one-shot fetch command.
pub struct Ingest {
    /// The HTTP client and the `[fetch]` settings, replaced when a reload changes them;
    /// a poll keeps the ones it started with.
    net: std::sync::RwLock<Arc<Net>>,
    pages: Pages,
    pub store: Store,
    /// Counts for `/metrics` and `/status`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Replaced when a rejudge applies a changed configuration.
    judge: std::sync::RwLock<Arc<Judge>>,
    /// One article is judged at a time: two outlets' copies of a story polled at once
    /// must see each other, which they would not if both looked before either wrote.
    judging: std::sync::Mutex<()>,
}

/// What a poll fetches with.
pub struct Net {
    pub fetcher: Fetcher,
    pub fetch: FetchConfig,
}

impl Ingest {
    /// An ingest that keeps and files everything; see [`Ingest::with_judge`].
    pub fn new(fetch: FetchConfig, store: Store) -> Result<Ingest, FetchError> {
        Ok(Ingest {
            net: std::sync::RwLock::new(Arc::new(Net {
                fetcher: Fetcher::new(&fetch)?,
                fetch,
            })),
            pages: Pages::default(),
            store,
            metrics: Arc::default(),
            judge: std::sync::RwLock::new(Arc::new(Judge::permissive())),
            judging: std::sync::Mutex::new(()),
        })
    }

    /// Judges every stored article with `judge` (topic, duplicates, category).
    pub fn with_judge(self, judge: Arc<Judge>) -> Ingest {
        *self.judge.write().unwrap_or_else(|p| p.into_inner()) = judge;
        self
    }

    fn judge(&self) -> Arc<Judge> {
        self.judge.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Judges new and changed articles with `judge` from now on (stored ones keep
    /// their judgement until a rejudge).
    pub fn set_judge(&self, judge: Arc<Judge>) {
        let _one = self.judging.lock().unwrap_or_else(|p| p.into_inner());
        *self.judge.write().unwrap_or_else(|p| p.into_inner()) = judge;
    }

    /// The client and `[fetch]` settings polls use now.
    pub fn net(&self) -> Arc<Net> {
        self.net.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fetches with `net` from the next poll on; polls in flight finish with the old.
    pub fn set_net(&self, net: Net) {
        *self.net.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(net);
    }

    /// Rejudges every stored article with `judge` (see [`judge::rejudge`]), one
    /// article at a time with the polls. Applied, `judge` also judges what comes next.
    pub fn rejudge(
        &self,
        judge: Arc<Judge>,
        apply: bool,
    ) -> Result<Vec<judge::Change>, StoreError> {
        let _one = self.judging.lock().unwrap_or_else(|p| p.into_inner());
        let changes = judge::rejudge(&self.store, &judge, apply)?;
        if apply {
            *self.judge.write().unwrap_or_else(|p| p.into_inner()) = judge;
            self.store.flush()?;
        }
        Ok(changes)
    }

    /// Runs `f` with the store and the current judge while no article is being judged:
    /// an operator's change (`kawaraban post …`) re-judges articles too, and must see
    /// and be seen by a poll's judging as a whole.
    pub fn while_judging<T>(&self, f: impl FnOnce(&Store, &Judge) -> T) -> T {
        let _one = self.judging.lock().unwrap_or_else(|p| p.into_inner());
        f(&self.store, &self.judge())
    }

    /// Judges what was stored but not judged (a crash in between); returns how many.
    pub fn judge_pending(&self) -> Result<usize, StoreError> {
        let _one = self.judging.lock().unwrap_or_else(|p| p.into_inner());
        judge::judge_pending(&self.store, &self.judge())
    }

    /// Polls one source and records the result. Store failures are the only errors
    /// returned: everything about the source itself goes into the report and its state.
    pub async fn poll(&self, src: &ResolvedSource) -> Result<SourceReport, StoreError> {
        let span = tracing::info_span!("poll", source = %src.name, url = %src.url);
        self.poll_inner(src).instrument(span).await
    }

    async fn poll_inner(&self, src: &ResolvedSource) -> Result<SourceReport, StoreError> {
        let net = self.net();
        let key = src.url.as_str();
        let mut state = self.store.source_state(key)?;
        let mut report = SourceReport::new(src, Outcome::Fetched);
        report.moved_to = state.moved_to.clone();
        if !src.enabled {
            report.outcome = Outcome::Disabled;
            return Ok(report);
        }
        let fingerprint = src.fingerprint();
        match &state.gone {
            Some(fp) if *fp == fingerprint => {
                report.outcome = Outcome::Gone;
                report.error = state.last_error.clone();
                return Ok(report);
            }
            Some(_) => {
                // The entry changed since the feed went away: try again from scratch.
                state.gone = None;
                state.moved_to = None;
                state.etag = None;
                state.last_modified = None;
            }
            None => {}
        }

        let target = state
            .moved_to
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .unwrap_or_else(|| src.url.clone());
        let now = Utc::now();
        state.last_attempt = Some(now);
        let request = Request {
            url: &target,
            etag: state.etag.as_deref(),
            last_modified: state.last_modified.as_deref(),
            max_bytes: src.max_bytes,
        };
        let started = std::time::Instant::now();
        let fetched = net.fetcher.fetch(&request).await;
        let took = match &fetched {
            Ok(resp) => resp.elapsed,
            Err(_) => started.elapsed(),
        };
        let bytes = fetched
            .as_ref()
            .ok()
            .and_then(|r| r.body.as_ref())
            .map_or(0, |b| b.len() as u64);
        let mut server_min: Option<Duration> = None;
        let result: Result<(), String> = match fetched {
            Ok(resp) => {
                server_min = resp.max_age;
                if let Some(moved) = &resp.moved_permanently_to {
                    if state.moved_to.as_deref() != Some(moved.as_str()) {
                        tracing::warn!(to = %moved, "feed moved permanently; update its url in the config");
                    }
                    state.moved_to = Some(moved.to_string());
                    report.moved_to = state.moved_to.clone();
                }
                state.last_status = Some(resp.status);
                match resp.body.clone() {
                    None => {
                        report.outcome = Outcome::NotModified;
                        Ok(())
                    }
                    Some(body) => {
                        let result = match &src.links {
                            Some(links) => {
                                self.ingest_index(
                                    &net,
                                    src,
                                    links,
                                    body,
                                    &resp,
                                    now,
                                    &mut report,
                                    &mut state,
                                )
                                .await?
                            }
                            None => {
                                self.ingest_feed(
                                    &net,
                                    src,
                                    body,
                                    &resp,
                                    now,
                                    &mut report,
                                    &mut state,
                                    &mut server_min,
                                )
                                .await?
                            }
                        };
                        if result.is_ok() {
                            state.etag = resp.etag;
                            state.last_modified = resp.last_modified;
                        }
                        result
                    }
                }
            }
            Err(FetchError::Gone) => {
                state.gone = Some(fingerprint);
                state.last_status = Some(410);
                report.outcome = Outcome::Gone;
                Err(FetchError::Gone.to_string())
            }
            Err(e) => {
                server_min = e.retry_after();
                if let FetchError::Status { status, .. } = e {
                    state.last_status = Some(status);
                }
                Err(e.to_string())
            }
        };
        match result {
            Ok(()) => {
                state.last_success = Some(now);
                state.last_error = None;
                state.consecutive_failures = 0;
                state.failing_since = None;
                tracing::info!(
                    new = report.new,
                    updated = report.updated,
                    entries = report.entries,
                    "polled"
                );
            }
            Err(msg) => {
                if report.outcome != Outcome::Gone {
                    report.outcome = Outcome::Error;
                }
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.failing_since.get_or_insert(now);
                tracing::warn!(error = %msg, failures = state.consecutive_failures, "poll failed");
                state.last_error = Some(msg.clone());
                report.error = Some(msg);
            }
        }
        let jitter = rand::rng().random_range(-1.0..=1.0);
        let delay = policy::next_delay(
            src.interval,
            state.consecutive_failures,
            net.fetch.max_backoff.0,
            server_min,
            jitter,
        );
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
        state.next_poll = Some(next);
        report.next_poll = Some(next);
        self.metrics
            .poll(key, &src.name, report.outcome, bytes, took);
        self.store.put_source_state(key, &state)?;
        // What a poll stored can be served at once; make it durable before that, so a
        // crash never takes back an article a reader has seen.
        self.store.flush_async().await?;
        Ok(report)
    }

    /// A feed body: parse it and store its entries, fetching article pages where the
    /// source wants the full text. The inner error is the source's, the outer the store's.
    #[allow(clippy::too_many_arguments)]
    async fn ingest_feed(
        &self,
        net: &Net,
        src: &ResolvedSource,
        body: bytes::Bytes,
        resp: &Response,
        now: DateTime<Utc>,
        report: &mut SourceReport,
        state: &mut SourceState,
        server_min: &mut Option<Duration>,
    ) -> Result<Result<(), String>, StoreError> {
        let (ct, url, tz) = (
            resp.content_type.clone(),
            resp.final_url.clone(),
            src.timezone,
        );
        let parsed =
            tokio::task::spawn_blocking(move || parse::parse_feed(&body, ct.as_deref(), &url, tz))
                .await;
        let feed = match parsed {
            Ok(Ok(feed)) => feed,
            Ok(Err(e)) => return Ok(Err(e.to_string())),
            Err(join) => return Ok(Err(format!("the parser task failed: {join}"))),
        };
        if let Some(ttl) = feed.ttl {
            *server_min = Some(server_min.map_or(ttl, |m| m.max(ttl)));
        }
        report.entries = feed.entries.len() + feed.skipped;
        report.skipped = feed.skipped;
        if feed.skipped > 0 {
            tracing::warn!(
                entries = report.entries,
                skipped = report.skipped,
                "the feed has more entries than are read in one poll; the last are skipped"
            );
        }
        for entry in feed.entries {
            // A long feed must not hold a worker thread: the loop below only reaches an
            // await when it fetches an article page.
            tokio::task::yield_now().await;
            let mut article = to_article(src, &resp.final_url, entry, now);
            let stored = self.store.find(&article.key)?;
            if stored.is_none() && too_old(net.fetch.max_age.map(|d| d.0), &article, now) {
                report.too_old += 1;
                continue;
            }
            // Retention let it go: a feed that still lists it does not bring it back.
            if stored.is_none() && self.store.is_pruned(&article.key)? {
                report.pruned += 1;
                continue;
            }
            // Known articles keep the page text they have; only new ones (or ones
            // whose page could not be read before) send a request to the site. A
            // prefiltering source spares the request for what is off topic anyway.
            let prefiltered = src.prefilter
                && !self
                    .judge()
                    .topic
                    .excluded_by(&article.title, &article.content_text)
                    .is_empty();
            if stored.as_ref().is_none_or(|a| !a.full_text)
                && !prefiltered
                && wants_page(src, &article.content_text)
                && let Some(link) = article.link.as_deref().and_then(|l| Url::parse(l).ok())
                && let Some((x, _)) = self.page(net, src, &link, report, state, now).await
            {
                fulltext::merge(&mut article, x);
            }
            let stored = self.store.upsert(article, now)?;
            self.count(stored, report, state)?;
        }
        Ok(Ok(()))
    }

    /// An index page: every new article link on it becomes an article through the
    /// same extraction; links already stored are not fetched again.
    #[allow(clippy::too_many_arguments)]
    async fn ingest_index(
        &self,
        net: &Net,
        src: &ResolvedSource,
        links: &str,
        body: bytes::Bytes,
        resp: &Response,
        now: DateTime<Utc>,
        report: &mut SourceReport,
        state: &mut SourceState,
    ) -> Result<Result<(), String>, StoreError> {
        let (ct, base, sel) = (
            resp.content_type.clone(),
            resp.final_url.clone(),
            links.to_owned(),
        );
        let found = tokio::task::spawn_blocking(move || {
            let html = crate::extract::decode_page(&body, ct.as_deref(), &base);
            fulltext::index_links(&html, &base, &sel)
        })
        .await;
        let urls = match found {
            Ok(Ok(urls)) => urls,
            Ok(Err(e)) => return Ok(Err(e.to_string())),
            Err(join) => return Ok(Err(format!("the link finder failed: {join}"))),
        };
        if urls.is_empty() {
            return Ok(Err(format!(
                "no links match `{links}` on the index page (check the `links` selector)"
            )));
        }
        report.entries = urls.len();
        for url in urls {
            if self.store.id_for_key(url.as_str())?.is_some() {
                continue;
            }
            if self.store.is_pruned(url.as_str())? {
                report.pruned += 1;
                continue;
            }
            let Some((x, final_url)) = self.page(net, src, &url, report, state, now).await else {
                continue;
            };
            let article = index_article(src, &url, &final_url, x, now);
            if too_old(net.fetch.max_age.map(|d| d.0), &article, now) {
                report.too_old += 1;
                continue;
            }
            let stored = self.store.upsert(article, now)?;
            self.count(stored, report, state)?;
        }
        Ok(Ok(()))
    }

    /// Fetches and extracts an article page, unless an earlier failure's backoff still
    /// runs. A page that cannot be read gives `None`: the article keeps the feed's own
    /// content, and the source records why (without counting as a failed poll) and
    /// when to try again.
    async fn page(
        &self,
        net: &Net,
        src: &ResolvedSource,
        url: &Url,
        report: &mut SourceReport,
        state: &mut SourceState,
        now: DateTime<Utc>,
    ) -> Option<(crate::extract::Extracted, Url)> {
        if state.page_deferred(url.as_str(), now) {
            report.pages_deferred += 1;
            return None;
        }
        report.pages += 1;
        match self
            .pages
            .article(&net.fetcher, &net.fetch.user_agent, src, url)
            .await
        {
            Ok(found) => {
                state.page_read(url.as_str());
                Some(found)
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(page = %url, error, "article page not extracted");
                report.page_errors += 1;
                state.last_page_error = Some(format!("{url}: {error}"));
                state.page_failed(url.as_str(), now);
                None
            }
        }
    }

    /// Counts a stored article, judging it when it is new or its text changed.
    fn count(
        &self,
        (upsert, article): (Upsert, Article),
        report: &mut SourceReport,
        state: &mut SourceState,
    ) -> Result<(), StoreError> {
        if upsert != Upsert::Unchanged {
            let judged = {
                let _one = self.judging.lock().unwrap_or_else(|p| p.into_inner());
                judge::judge_stored(&self.store, &self.judge(), &article.id, Utc::now())?
            };
            if let Some(j) = judged {
                // Folded either way: into a story stored before, or (when another
                // source's poll began later but finished first) that story into this.
                let grouped =
                    |j: &judge::Judgement| j.duplicate_of.is_some() || !j.folded.is_empty();
                let skipped = !j.topic.on_topic;
                let folded =
                    !skipped && grouped(&j) && !article.judgement.as_ref().is_some_and(grouped);
                report.off_topic += usize::from(skipped);
                report.folded += usize::from(folded);
                self.metrics
                    .article(&report.url, &report.name, false, skipped, folded);
                let newly_filed = j.category.as_ref().filter(|c| {
                    article
                        .judgement
                        .as_ref()
                        .and_then(|o| o.category.as_ref())
                        .is_none_or(|o| o.slug != c.slug)
                });
                if let Some(c) = newly_filed {
                    self.metrics.categorized(&c.name);
                }
                tracing::debug!(id = %article.id, title = %article.title, reason = %j.reason(), "judged");
            }
        }
        match upsert {
            Upsert::New => {
                report.new += 1;
                state.articles += 1;
                self.metrics
                    .article(&report.url, &report.name, true, false, false);
            }
            Upsert::Updated => report.updated += 1,
            Upsert::Unchanged => {}
        }
        Ok(())
    }
}

/// Whether an article is older than `[fetch] max_age` when first seen.
pub fn too_old(max_age: Option<Duration>, article: &Article, now: DateTime<Utc>) -> bool {
    match (max_age, article.published) {
        (Some(max_age), Some(published)) => now
            .signed_duration_since(published)
            .to_std()
            .is_ok_and(|age| age > max_age),
        _ => false,
    }
}

/// An article found on an index page (`url`, read at `final_url`) and extracted.
pub fn index_article(
    src: &ResolvedSource,
    url: &Url,
    final_url: &Url,
    x: crate::extract::Extracted,
    now: DateTime<Utc>,
) -> Article {
    let title = x
        .title
        .clone()
        .unwrap_or_else(|| x.body_text.chars().take(60).collect());
    let mut article = new_article(src, url.to_string(), title, now);
    article.link = Some(canonical_url(final_url).to_string());
    article.published = plausible(x.published, now);
    fulltext::merge(&mut article, x);
    article
}

/// A parsed entry as an article: keyed, sanitized, its date checked.
pub fn to_article(
    src: &ResolvedSource,
    feed_url: &Url,
    e: ParsedEntry,
    now: DateTime<Utc>,
) -> Article {
    let key = article_key(
        e.link.as_ref(),
        e.guid.as_deref(),
        src.url.as_str(),
        &e.title,
        e.published,
    );
    let base = e.link.as_ref().unwrap_or(feed_url);
    let content_html = clean_html(&e.content_html, base);
    let content_text = html_to_text(&content_html);
    let title = if e.title.is_empty() {
        content_text.chars().take(60).collect()
    } else {
        e.title
    };
    Article {
        link: e.link.map(|l| canonical_url(&l).to_string()),
        content_html,
        content_text,
        author: e.author,
        tags: e.tags,
        published: plausible(e.published, now),
        ..new_article(src, key, title, now)
    }
}

/// A new article from `src`, first seen `now`, with nothing but its key and title.
fn new_article(src: &ResolvedSource, key: String, title: String, now: DateTime<Utc>) -> Article {
    Article {
        id: String::new(),
        key,
        source_url: src.url.to_string(),
        publisher: src.name.clone(),
        link: None,
        title,
        content_html: String::new(),
        content_text: String::new(),
        author: None,
        tags: Vec::new(),
        published: None,
        first_seen: now,
        updated: now,
        full_text: false,
        aliases: Vec::new(),
        judgement: None,
    }
}

/// A date in the future would pin the article to the top of the feed for as long as
/// it lasts; such a date is wrong, so the first-seen time stands in for it.
fn plausible(published: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    published.filter(|p| *p <= now + chrono::Duration::hours(1))
}

/// Polls every source once, at most `concurrency` at a time (the fetcher also limits
/// per host). `progress` is called as each source finishes.
pub async fn run_pass(
    ingest: Arc<Ingest>,
    sources: &[ResolvedSource],
    progress: impl Fn(&SourceReport),
) -> Result<Vec<SourceReport>, StoreError> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let mut tasks: FuturesUnordered<_> = sources
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let ingest = ingest.clone();
            let src = src.clone();
            async move {
                (
                    i,
                    tokio::spawn(async move { ingest.poll(&src).await }).await,
                )
            }
        })
        .collect();
    let mut reports: Vec<Option<SourceReport>> = vec![None; sources.len()];
    while let Some((i, joined)) = tasks.next().await {
        let report = match joined {
            Ok(r) => r?,
            Err(join) => {
                let mut r = SourceReport::new(&sources[i], Outcome::Error);
                r.error = Some(format!("internal error while polling: {join}"));
                r
            }
        };
        progress(&report);
        reports[i] = Some(report);
    }
    ingest.store.flush()?;
    Ok(reports.into_iter().flatten().collect())
}
