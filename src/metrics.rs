//! Counters for `/metrics` and `/status`, kept in memory since the daemon started, and
//! the Prometheus text format they are written in.
//!
//! The format is written here rather than through a metrics crate: it is a few lines of
//! text per family, every series is labelled by something the configuration bounds
//! (a source, a category, a route kind), and the same numbers also feed the HTML status
//! page, which a registry crate would not hand back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ingest::Outcome;

/// Upper bounds (seconds) of the fetch-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Recent fetch durations kept per source for the status page's median.
const RECENT: usize = 32;

/// What happened to one source's polls since the start.
#[derive(Debug, Clone, Default)]
pub struct SourceMetrics {
    pub name: String,
    /// Polls by outcome: fetched, not_modified, error, gone.
    pub outcomes: [u64; 4],
    /// Body bytes received (after decompression).
    pub bytes: u64,
    pub buckets: [u64; DURATION_BUCKETS.len()],
    pub duration_sum: f64,
    pub duration_count: u64,
    recent: VecDeque<Duration>,
    /// Articles first stored, judged off topic, folded into another outlet's story.
    pub stored: u64,
    pub skipped: u64,
    pub folded: u64,
}

pub const OUTCOMES: [&str; 4] = ["fetched", "not_modified", "error", "gone"];

impl SourceMetrics {
    /// The median of the last few fetch durations, if any.
    pub fn median_fetch(&self) -> Option<Duration> {
        let mut d: Vec<Duration> = self.recent.iter().copied().collect();
        if d.is_empty() {
            return None;
        }
        d.sort_unstable();
        let n = d.len();
        Some(if n % 2 == 1 {
            d[n / 2]
        } else {
            (d[n / 2 - 1] + d[n / 2]) / 2
        })
    }
}

#[derive(Default)]
pub struct Metrics {
    sources: Mutex<HashMap<String, SourceMetrics>>,
    categorized: Mutex<BTreeMap<String, u64>>,
    /// Responses by (route kind, status): the common pairs without a lock (every
    /// request of the public server passes here, 64 at once under load), the rest below.
    http_common: [[AtomicU64; COMMON_STATUSES.len()]; ROUTE_KINDS.len()],
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

/// The route kinds requests are counted under (see `health::route_kind`).
const ROUTE_KINDS: [&str; 11] = [
    "feed",
    "category_feed",
    "page",
    "category_page",
    "archive",
    "post",
    "style",
    "other",
    "healthz",
    "status",
    "metrics",
];
const COMMON_STATUSES: [u16; 2] = [200, 304];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    /// Records one poll that sent a request.
    pub fn poll(&self, url: &str, name: &str, outcome: Outcome, bytes: u64, took: Duration) {
        let i = match outcome {
            Outcome::Fetched => 0,
            Outcome::NotModified => 1,
            Outcome::Error => 2,
            Outcome::Gone => 3,
            Outcome::Disabled => return,
        };
        let mut all = lock(&self.sources);
        let m = all.entry(url.to_owned()).or_default();
        name.clone_into(&mut m.name);
        m.outcomes[i] += 1;
        m.bytes += bytes;
        let secs = took.as_secs_f64();
        for (b, le) in m.buckets.iter_mut().zip(DURATION_BUCKETS) {
            if secs <= le {
                *b += 1;
            }
        }
        m.duration_sum += secs;
        m.duration_count += 1;
        if m.recent.len() == RECENT {
            m.recent.pop_front();
        }
        m.recent.push_back(took);
    }

    /// Records one article a poll stored or judged.
    pub fn article(&self, url: &str, name: &str, stored: bool, skipped: bool, folded: bool) {
        let mut all = lock(&self.sources);
        let m = all.entry(url.to_owned()).or_default();
        name.clone_into(&mut m.name);
        m.stored += u64::from(stored);
        m.skipped += u64::from(skipped);
        m.folded += u64::from(folded);
    }

    pub fn categorized(&self, category: &str) {
        *lock(&self.categorized)
            .entry(category.to_owned())
            .or_default() += 1;
    }

    pub fn http(&self, route: &'static str, status: u16) {
        let r = ROUTE_KINDS.iter().position(|k| *k == route);
        let s = COMMON_STATUSES.iter().position(|c| *c == status);
        match (r, s) {
            (Some(r), Some(s)) => {
                self.http_common[r][s].fetch_add(1, Ordering::Relaxed);
            }
            _ => *lock(&self.http).entry((route, status)).or_default() += 1,
        }
    }

    /// One source's numbers so far.
    pub fn source(&self, url: &str) -> Option<SourceMetrics> {
        lock(&self.sources).get(url).cloned()
    }

    /// Forgets sources no longer configured, so a reload keeps the series bounded.
    pub fn retain_sources(&self, urls: &[&str]) {
        lock(&self.sources).retain(|u, _| urls.contains(&u.as_str()));
    }
}

/// Everything `/metrics` shows besides the counters kept here.
#[derive(Default)]
pub struct Gauges {
    /// (url, name, consecutive failures) of every configured source.
    pub sources: Vec<(String, String, u32)>,
    pub store_bytes: u64,
    pub store_articles: u64,
    /// Renders by route kind.
    pub renders: Vec<(&'static str, u64)>,
}

/// Writes families in the Prometheus text exposition format (version 0.0.4).
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// A counter family with one sample per source.
    fn per_source(
        &mut self,
        rows: &[(String, SourceMetrics)],
        name: &str,
        help: &str,
        pick: impl Fn(&SourceMetrics) -> u64,
    ) {
        self.family(name, "counter", help);
        for (url, m) in rows {
            self.sample(name, &[("source", url), ("name", &m.name)], pick(m));
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values are quoted: backslash, quote and newline are the escapes the format has.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

impl Metrics {
    /// The whole `/metrics` body. Series are sorted, so two scrapes line up.
    pub fn render(&self, g: &Gauges) -> String {
        let mut t = Text(String::new());
        let sources = lock(&self.sources).clone();
        // Configured sources first appear with zeros, so a dashboard sees every one.
        let mut rows: Vec<(String, SourceMetrics)> = g
            .sources
            .iter()
            .map(|(url, name, _)| {
                let mut m = sources.get(url).cloned().unwrap_or_default();
                name.clone_into(&mut m.name);
                (url.clone(), m)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));

        t.family(
            "kawaraban_fetches_total",
            "counter",
            "Polls of a source that sent a request, by outcome.",
        );
        for (url, m) in &rows {
            for (outcome, n) in OUTCOMES.iter().zip(m.outcomes) {
                t.sample(
                    "kawaraban_fetches_total",
                    &[("source", url), ("name", &m.name), ("outcome", outcome)],
                    n,
                );
            }
        }
        t.per_source(
            &rows,
            "kawaraban_fetch_not_modified_total",
            "Polls answered 304 Not Modified.",
            |m| m.outcomes[1],
        );
        t.per_source(
            &rows,
            "kawaraban_fetch_bytes_total",
            "Feed body bytes received, after decompression.",
            |m| m.bytes,
        );
        t.family(
            "kawaraban_fetch_duration_seconds",
            "histogram",
            "Time one feed request took, redirects and body included.",
        );
        for (url, m) in &rows {
            let base = [("source", url.as_str()), ("name", m.name.as_str())];
            for (le, n) in DURATION_BUCKETS.iter().zip(m.buckets) {
                let le = seconds(*le);
                t.sample(
                    "kawaraban_fetch_duration_seconds_bucket",
                    &[base[0], base[1], ("le", &le)],
                    n,
                );
            }
            t.sample(
                "kawaraban_fetch_duration_seconds_bucket",
                &[base[0], base[1], ("le", "+Inf")],
                m.duration_count,
            );
            t.sample(
                "kawaraban_fetch_duration_seconds_sum",
                &base,
                m.duration_sum,
            );
            t.sample(
                "kawaraban_fetch_duration_seconds_count",
                &base,
                m.duration_count,
            );
        }
        t.family(
            "kawaraban_source_consecutive_failures",
            "gauge",
            "Failed polls of a source since its last success.",
        );
        let mut failures: Vec<&(String, String, u32)> = g.sources.iter().collect();
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        for (url, name, n) in failures {
            t.sample(
                "kawaraban_source_consecutive_failures",
                &[("source", url), ("name", name)],
                n,
            );
        }
        for (family, help, pick) in [
            (
                "kawaraban_articles_stored_total",
                "Articles first stored from a source.",
                (|m: &SourceMetrics| m.stored) as fn(&SourceMetrics) -> u64,
            ),
            (
                "kawaraban_articles_skipped_total",
                "New or changed articles judged off the blog's topic.",
                |m| m.skipped,
            ),
            (
                "kawaraban_articles_folded_total",
                "Articles folded into a story another outlet ran.",
                |m| m.folded,
            ),
        ] {
            t.per_source(&rows, family, help, pick);
        }
        t.family(
            "kawaraban_articles_categorized_total",
            "counter",
            "Articles filed under a category.",
        );
        for (cat, n) in lock(&self.categorized).iter() {
            t.sample(
                "kawaraban_articles_categorized_total",
                &[("category", cat)],
                n,
            );
        }
        t.family(
            "kawaraban_store_size_bytes",
            "gauge",
            "Size of the store on disk.",
        );
        t.sample("kawaraban_store_size_bytes", &[], g.store_bytes);
        t.family(
            "kawaraban_store_articles",
            "gauge",
            "Articles in the store.",
        );
        t.sample("kawaraban_store_articles", &[], g.store_articles);
        t.family(
            "kawaraban_renders_total",
            "counter",
            "Feeds and pages rendered from the store (cache misses), by route.",
        );
        let mut renders = g.renders.clone();
        renders.sort();
        for (route, n) in renders {
            t.sample("kawaraban_renders_total", &[("route", route)], n);
        }
        t.family(
            "kawaraban_http_requests_total",
            "counter",
            "Responses of the public HTTP server, by route and status.",
        );
        let mut http = lock(&self.http).clone();
        for (r, row) in self.http_common.iter().enumerate() {
            for (s, n) in row.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    *http
                        .entry((ROUTE_KINDS[r], COMMON_STATUSES[s]))
                        .or_default() += n;
                }
            }
        }
        for ((route, status), n) in &http {
            t.sample(
                "kawaraban_http_requests_total",
                &[("route", route), ("status", &status.to_string())],
                n,
            );
        }
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_recent_durations() {
        let m = Metrics::default();
        for ms in [300, 100, 200] {
            m.poll("u", "n", Outcome::Fetched, 10, Duration::from_millis(ms));
        }
        assert_eq!(
            m.source("u").unwrap().median_fetch(),
            Some(Duration::from_millis(200))
        );
        for _ in 0..RECENT {
            m.poll("u", "n", Outcome::Error, 0, Duration::from_secs(2));
        }
        let s = m.source("u").unwrap();
        assert_eq!(s.median_fetch(), Some(Duration::from_secs(2)));
        assert_eq!(s.outcomes, [3, 0, RECENT as u64, 0]);
        assert_eq!(s.bytes, 30);
    }

    #[test]
    fn labels_are_escaped() {
        let m = Metrics::default();
        m.categorized("a\"b\\c\nd");
        let text = m.render(&Gauges::default());
        assert!(
            text.contains(r#"kawaraban_articles_categorized_total{category="a\"b\\c\nd"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn requests_are_counted_with_and_without_the_lock_free_pairs() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.http("feed", 200);
        }
        m.http("feed", 304);
        m.http("feed", 404);
        m.http("unheard_of", 200);
        let text = m.render(&Gauges::default());
        for line in [
            r#"kawaraban_http_requests_total{route="feed",status="200"} 3"#,
            r#"kawaraban_http_requests_total{route="feed",status="304"} 1"#,
            r#"kawaraban_http_requests_total{route="feed",status="404"} 1"#,
            r#"kawaraban_http_requests_total{route="unheard_of",status="200"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.poll("u", "n", Outcome::Fetched, 0, Duration::from_millis(70));
        m.poll("u", "n", Outcome::Fetched, 0, Duration::from_secs(3));
        let g = Gauges {
            sources: vec![("u".into(), "n".into(), 0)],
            store_bytes: 0,
            store_articles: 0,
            renders: Vec::new(),
        };
        let text = m.render(&g);
        for (le, n) in [("0.05", 0), ("0.1", 1), ("2.5", 1), ("5", 2), ("+Inf", 2)] {
            let line = format!(
                "kawaraban_fetch_duration_seconds_bucket{{source=\"u\",name=\"n\",le=\"{le}\"}} {n}"
            );
            assert!(text.contains(&line), "{line} missing in\n{text}");
        }
    }
}
