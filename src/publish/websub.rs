//! WebSub publishing: when the feeds change, the blog's hub is told so (a "publish
//! ping"), and it fetches the feeds and pushes them to subscribers, who then need not
//! poll. A hub that fails is retried with backoff; changes that arrive meanwhile are
//! folded into the pending ping, because the hub always fetches the current feed.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

/// The feeds a hub is told about: the blog's and each category's, in every format,
/// spelled exactly as their `rel="self"` links (`base_url` joined with the path),
/// since a hub matches subscriptions by the topic string.
pub fn feed_topics<'a>(
    base_url: &Url,
    category_slugs: impl IntoIterator<Item = &'a str>,
) -> Vec<Url> {
    let formats = ["atom", "rss", "json"];
    let blog = formats.iter().map(|ext| format!("feed.{ext}"));
    let categories = category_slugs.into_iter().flat_map(|slug| {
        formats
            .iter()
            .map(move |ext| format!("category/{slug}.{ext}"))
    });
    blog.chain(categories)
        .filter_map(|path| base_url.join(&path).ok())
        .collect()
}

/// How failed pings are retried. Delays double from `first` up to `max`; a hub's
/// `Retry-After` is honored when longer, up to `max_retry_after` (a hub asking for
/// a day would otherwise hold back every later change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Attempts per topic and change, the first included.
    pub attempts: u32,
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            attempts: 8,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after the `failed`-th failed attempt (1-based).
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let exp = failed.saturating_sub(1).min(31);
        let backoff = self.first.saturating_mul(1 << exp).min(self.max);
        match retry_after {
            Some(asked) => backoff.max(asked.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// Why one publish request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, timed out. The text keeps the cause chain.
    Transport(String),
}

impl Failure {
    /// Worth asking again for the same change: the hub is down, overloaded or slow.
    /// Any other 4xx says the request itself is wrong, and repeating it will not help.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
            Failure::Transport(_) => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            Failure::Transport(_) => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { status, .. } => write!(f, "HTTP {status}"),
            Failure::Transport(e) => f.write_str(e),
        }
    }
}

/// A topic the hub was not told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFailure {
    pub topic: Url,
    pub attempts: u32,
    pub last: Failure,
}

/// A publish notification that failed for some topics, after the retries allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingError {
    pub hub: Url,
    pub failed: Vec<TopicFailure>,
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "publish ping to hub {} failed:", self.hub)?;
        for t in &self.failed {
            let kind = if t.last.is_transient() {
                "gave up"
            } else {
                "refused"
            };
            write!(
                f,
                " {} ({kind} after {} attempt{}: {})",
                t.topic,
                t.attempts,
                if t.attempts == 1 { "" } else { "s" },
                t.last
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for PingError {}

/// Tells one hub about changes to a set of topics.
pub struct Pinger {
    hub: Url,
    topics: Vec<Url>,
    client: reqwest::Client,
    backoff: Backoff,
    min_interval: Duration,
    timeout: Duration,
}

impl Pinger {
    /// Seconds-scale defaults fit for a daemon: see [`Backoff::default`], at most one
    /// ping round every 10 s, 30 s per request.
    pub fn new(hub: Url, topics: Vec<Url>, client: reqwest::Client) -> Pinger {
        Pinger {
            hub,
            topics,
            client,
            backoff: Backoff::default(),
            min_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Pinger {
        self.backoff = backoff;
        self
    }

    /// The least time between the starts of two notifications: a pass that stores
    /// articles from many sources makes many changes in a few seconds, and the hub
    /// needs to hear of them once.
    pub fn with_min_interval(mut self, d: Duration) -> Pinger {
        self.min_interval = d;
        self
    }

    /// Per request; the client's own timeout, if shorter, still applies.
    pub fn with_timeout(mut self, d: Duration) -> Pinger {
        self.timeout = d;
        self
    }

    pub fn hub(&self) -> &Url {
        &self.hub
    }

    pub fn topics(&self) -> &[Url] {
        &self.topics
    }

    /// Runs until `shutdown` turns true (or its sender is gone), pinging the hub after
    /// every change seen on `changed`. The value the receiver has already seen does
    /// not count; call `mark_changed` on it first to ping at start. Ends as well when
    /// `changed`'s sender is dropped, as nothing can change any more.
    pub async fn run<T>(
        self,
        mut changed: watch::Receiver<T>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut not_before: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => return,
                r = changed.changed() => if r.is_err() { return },
            }
            if let Some(t) = not_before {
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep_until(t) => {}
                }
            }
            let started = Instant::now();
            let result = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => return,
                r = self.notify(|| {
                    let newer = changed.has_changed().unwrap_or(false);
                    changed.borrow_and_update();
                    newer
                }) => r,
            };
            // After a hub failed through every retry, the next change waits as long as
            // the longest backoff, so a hub that is down is not hammered anew on
            // every change.
            let pause = match result {
                Ok(()) => self.min_interval,
                Err(e) if e.failed.iter().any(|t| t.last.is_transient()) => {
                    self.min_interval.max(self.backoff.max)
                }
                Err(_) => self.min_interval,
            };
            not_before = Some(started + pause);
        }
    }

    /// One notification for every topic, retried as [`Backoff`] says. Errs with the
    /// topics still failing once their attempts are spent or the hub refused them.
    pub async fn ping_once(&self) -> Result<(), PingError> {
        self.notify(|| false).await
    }

    /// `fresh` is called right before each round of requests and tells whether the
    /// feeds changed since the previous call: topics the hub already accepted in this
    /// notification are then sent again, as the hub may have fetched them before the
    /// change (a topic it refused is tried again too, since the feed is new).
    async fn notify(&self, mut fresh: impl FnMut() -> bool) -> Result<(), PingError> {
        let mut pending: Vec<&Url> = self.topics.iter().collect();
        let mut failed: Vec<TopicFailure> = Vec::new();
        let mut attempt: u32 = 0;
        let attempts = self.backoff.attempts.max(1);
        loop {
            attempt += 1;
            if fresh() && attempt > 1 {
                pending = self.topics.iter().collect();
                failed.clear();
            }
            let results =
                futures_util::future::join_all(pending.iter().map(|topic| self.publish(topic)))
                    .await;
            let mut retry = Vec::new();
            let mut wait = Duration::ZERO;
            for (topic, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(status) => tracing::info!(
                        hub = %self.hub,
                        topic = %topic,
                        status = status.as_u16(),
                        attempt,
                        "hub accepted the publish ping"
                    ),
                    Err(f) if f.is_transient() && attempt < attempts => {
                        let delay = self.backoff.delay(attempt, f.retry_after());
                        tracing::warn!(
                            hub = %self.hub,
                            topic = %topic,
                            error = %f,
                            attempt,
                            retry_in = ?delay,
                            "publish ping failed; will retry"
                        );
                        wait = wait.max(delay);
                        retry.push(topic);
                    }
                    Err(f) => {
                        tracing::warn!(
                            hub = %self.hub,
                            topic = %topic,
                            error = %f,
                            attempt,
                            "publish ping failed; giving up until the feeds change again"
                        );
                        failed.push(TopicFailure {
                            topic: topic.clone(),
                            attempts: attempt,
                            last: f,
                        });
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            tokio::time::sleep(wait).await;
            pending = retry;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(PingError {
                hub: self.hub.clone(),
                failed,
            })
        }
    }

    async fn publish(&self, topic: &Url) -> Result<StatusCode, Failure> {
        let response = self
            .client
            .post(self.hub.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(self.timeout)
            .body(publish_body(topic))
            .send()
            .await
            .map_err(|e| Failure::Transport(error_chain(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers(), Utc::now());
        // The body is of no use, but reading it lets the connection be reused.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(status)
        } else {
            Err(Failure::Status {
                status,
                retry_after,
            })
        }
    }
}

/// One topic per request: the form every hub that takes publish pings accepts
/// (repeated `hub.url` is understood by some hubs only).
pub fn publish_body(topic: &Url) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("hub.mode", "publish")
        .append_pair("hub.url", topic.as_str())
        .finish()
}

/// `Retry-After` as delta-seconds or an HTTP-date; a date in the past means now.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// reqwest's own message often omits the cause ("error sending request"); the
/// chain says what happened (refused, reset, timed out).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn topics_are_the_self_links() {
        let base = Url::parse("https://news.example/blog/").unwrap();
        let topics: Vec<String> = feed_topics(&base, ["tech", "ニュース"])
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            topics,
            [
                "https://news.example/blog/feed.atom",
                "https://news.example/blog/feed.rss",
                "https://news.example/blog/feed.json",
                "https://news.example/blog/category/tech.atom",
                "https://news.example/blog/category/tech.rss",
                "https://news.example/blog/category/tech.json",
                "https://news.example/blog/category/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9.atom",
                "https://news.example/blog/category/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9.rss",
                "https://news.example/blog/category/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9.json",
            ]
        );
        assert_eq!(feed_topics(&base, []).len(), 3);
    }

    #[test]
    fn body_is_form_encoded() {
        let topic = Url::parse("https://news.example/feed.atom?lang=ja&x=a b").unwrap();
        assert_eq!(
            publish_body(&topic),
            "hub.mode=publish&hub.url=https%3A%2F%2Fnews.example%2Ffeed.atom%3Flang%3Dja%26x%3Da%2520b"
        );
        let back: Vec<(String, String)> =
            url::form_urlencoded::parse(publish_body(&topic).as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            back,
            [
                ("hub.mode".to_string(), "publish".to_string()),
                ("hub.url".to_string(), topic.to_string())
            ]
        );
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
            attempts: 100,
            max_retry_after: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=6).map(|n| b.delay(n, None).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(u32::MAX, None), Duration::from_secs(10));
        assert_eq!(b.delay(0, None), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_honored_within_its_cap() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
            attempts: 5,
            max_retry_after: Duration::from_secs(60),
        };
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(7200))),
            Duration::from_secs(60)
        );
        assert_eq!(b.delay(3, Some(Duration::ZERO)), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 120 "));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 01 May 2024 12:01:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 01 May 2024 11:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-5"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn which_failures_are_retried() {
        let status = |code: u16| Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
        };
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(status(code).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 405, 410, 413, 422, 301] {
            assert!(!status(code).is_transient(), "{code}");
        }
        assert!(Failure::Transport("connection refused".into()).is_transient());
    }

    #[test]
    fn error_names_hub_topic_and_status() {
        let e = PingError {
            hub: Url::parse("https://hub.example/").unwrap(),
            failed: vec![TopicFailure {
                topic: Url::parse("https://news.example/feed.atom").unwrap(),
                attempts: 1,
                last: Failure::Status {
                    status: StatusCode::BAD_REQUEST,
                    retry_after: None,
                },
            }],
        };
        let text = e.to_string();
        for part in [
            "https://hub.example/",
            "https://news.example/feed.atom",
            "400",
            "refused",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
