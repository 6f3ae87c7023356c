//! What an operator and a supervisor see of a running daemon: `/status` (an HTML page
//! with every source's state), `/metrics` (Prometheus text), the scheduler's heartbeat
//! that `/healthz` reports, and who may read the first two (loopback, and the ranges in
//! `[server] admin_allow`).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::ResolvedSource;
use crate::fetch::guard::Cidr;
use crate::metrics::{Gauges, Metrics};
use crate::publish::site::SiteCache;
use crate::store::SourceState;

/// How often the scheduler's loop beats, at the least, while it has nothing to do.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A heartbeat older than this means the scheduler is stuck: `/healthz` answers 503.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Shared by the scheduler, the reloader and the public server.
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Unix milliseconds of the scheduler's last beat; 0 before the first.
    heartbeat: AtomicI64,
    sources: watch::Receiver<Arc<Vec<ResolvedSource>>>,
    admin_allow: RwLock<Vec<Cidr>>,
    cache: Arc<SiteCache>,
}

impl Health {
    pub fn new(
        metrics: Arc<Metrics>,
        sources: watch::Receiver<Arc<Vec<ResolvedSource>>>,
        admin_allow: Vec<Cidr>,
        cache: Arc<SiteCache>,
    ) -> Health {
        Health {
            metrics,
            heartbeat: AtomicI64::new(0),
            sources,
            admin_allow: RwLock::new(admin_allow),
            cache,
        }
    }

    /// Called by the scheduler on every turn of its loop.
    pub fn beat(&self) {
        self.heartbeat
            .store(Utc::now().timestamp_millis(), Ordering::Release);
    }

    pub fn last_beat(&self) -> Option<DateTime<Utc>> {
        match self.heartbeat.load(Ordering::Acquire) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// Whether the scheduler has beaten recently enough.
    pub fn scheduler_fresh(&self, now: DateTime<Utc>) -> bool {
        self.last_beat()
            .is_some_and(|t| (now - t).to_std().unwrap_or_default() <= STALE_AFTER)
    }

    pub fn set_admin_allow(&self, ranges: Vec<Cidr>) {
        *self.admin_allow.write().unwrap_or_else(|p| p.into_inner()) = ranges;
    }

    fn allows(&self, peer: IpAddr) -> bool {
        admin_allowed(
            peer,
            &self.admin_allow.read().unwrap_or_else(|p| p.into_inner()),
        )
    }

    pub fn sources(&self) -> Arc<Vec<ResolvedSource>> {
        self.sources.borrow().clone()
    }

    /// The fields `/healthz` adds to its answer.
    pub fn healthz_fields(&self, now: DateTime<Utc>) -> serde_json::Value {
        let beat = self.last_beat();
        serde_json::json!({
            "heartbeat": beat.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "heartbeat_age_seconds": beat.map(|t| (now - t).num_milliseconds() as f64 / 1000.0),
            "sources": self.sources.borrow().len(),
        })
    }

    /// The `/metrics` body.
    pub fn metrics_text(&self) -> Result<String, crate::store::StoreError> {
        let store = self.cache.store();
        let sources = self.sources();
        let mut rows = Vec::with_capacity(sources.len());
        for s in sources.iter() {
            let state = store.source_state(s.url.as_str())?;
            rows.push((
                s.url.to_string(),
                s.name.clone(),
                state.consecutive_failures,
            ));
        }
        Ok(self.metrics.render(&Gauges {
            sources: rows,
            store_bytes: store.size_on_disk()?,
            store_articles: store.article_count()? as u64,
            renders: self.cache.renders(),
        }))
    }

    /// The `/status` page.
    pub fn status_page(&self, now: DateTime<Utc>) -> Result<String, crate::store::StoreError> {
        let store = self.cache.store();
        let recent = store.recent_by_source(now - chrono::Duration::hours(24))?;
        let sources = self.sources();
        let mut rows: Vec<Row> = Vec::with_capacity(sources.len());
        for s in sources.iter() {
            let state = store.source_state(s.url.as_str())?;
            rows.push(Row {
                median: self
                    .metrics
                    .source(s.url.as_str())
                    .and_then(|m| m.median_fetch()),
                last_day: recent.get(s.url.as_str()).copied().unwrap_or(0),
                src: s,
                state,
            });
        }
        // Failing sources first, the longest-failing at the top; then by name.
        rows.sort_by(|a, b| {
            b.failing()
                .cmp(&a.failing())
                .then(a.state.failing_since.cmp(&b.state.failing_since))
                .then(a.src.name.cmp(&b.src.name))
                .then(a.src.url.cmp(&b.src.url))
        });
        Ok(render_status(&rows, now, self.last_beat()))
    }
}

/// Loopback always; others when a range in `[server] admin_allow` holds them. An
/// IPv4 peer on an IPv6 socket (`::ffff:a.b.c.d`) is judged as the IPv4 address.
pub fn admin_allowed(peer: IpAddr, allow: &[Cidr]) -> bool {
    let peer = peer.to_canonical();
    peer.is_loopback() || allow.iter().any(|c| c.contains(peer))
}

struct Row<'a> {
    src: &'a ResolvedSource,
    state: SourceState,
    last_day: u64,
    median: Option<Duration>,
}

impl Row<'_> {
    fn failing(&self) -> bool {
        self.state.consecutive_failures > 0 || self.state.gone.is_some()
    }

    fn state_text(&self, now: DateTime<Utc>) -> (&'static str, String) {
        let st = &self.state;
        if !self.src.enabled {
            return ("disabled", "disabled".into());
        }
        if st.gone.is_some() {
            return (
                "failing",
                "gone (HTTP 410): not polled until its entry changes".into(),
            );
        }
        if st.consecutive_failures > 0 {
            let mut text = match st.failing_since {
                Some(t) => format!("failing since {}", when(t)),
                None => "failing".into(),
            };
            text.push_str(&format!(
                " ({} failed poll{})",
                st.consecutive_failures,
                if st.consecutive_failures == 1 {
                    ""
                } else {
                    "s"
                }
            ));
            if let Some(next) = st.next_poll.filter(|n| *n > now) {
                text.push_str(&format!("; backing off until {}", when(next)));
            }
            return ("failing", text);
        }
        if st.last_attempt.is_none() {
            return ("waiting", "not polled yet".into());
        }
        ("ok", "ok".into())
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn esc(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

fn render_status(rows: &[Row], now: DateTime<Utc>, beat: Option<DateTime<Utc>>) -> String {
    let failing = rows.iter().filter(|r| r.failing()).count();
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>kawaraban status</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n<main>\n<h1>kawaraban status</h1>\n",
    );
    out.push_str(&format!(
        "<p>{} sources, {} failing. Page made {}; scheduler last active {}.</p>\n",
        rows.len(),
        failing,
        when(now),
        beat.map_or_else(|| "never".into(), when)
    ));
    out.push_str("<table class=\"status\">\n<thead><tr><th>source</th><th>state</th><th>last success</th><th>last error</th><th>articles, 24 h</th><th>articles, total</th><th>median fetch</th></tr></thead>\n<tbody>\n");
    for r in rows {
        let (class, state) = r.state_text(now);
        let median = r
            .median
            .map_or_else(|| "–".into(), |d| format!("{} ms", d.as_millis()));
        out.push_str(&format!(
            "<tr class=\"{class}\"><td><a href=\"{url}\" rel=\"noopener noreferrer nofollow\">{name}</a><br><small>{url}</small></td><td>{state}</td><td>{success}</td><td>{error}</td><td>{day}</td><td>{total}</td><td>{median}</td></tr>\n",
            url = esc(r.src.url.as_str()),
            name = esc(&r.src.name),
            state = esc(&state),
            success = r.state.last_success.map_or_else(|| "never".into(), when),
            error = esc(r.state.last_error.as_deref().unwrap_or("")),
            day = r.last_day,
            total = r.state.articles,
        ));
    }
    out.push_str("</tbody>\n</table>\n</main>\n</body>\n</html>\n");
    out
}

/// Refuses `/status` and `/metrics` to peers that are neither loopback nor allowed. A
/// request without a known peer (a router driven without a socket) is refused too, and
/// so is one a reverse proxy forwarded: behind a proxy on the same host every request
/// comes from loopback, and the visitor it speaks for is not one we may trust.
pub async fn admin_only(State(h): State<Arc<Health>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| req.headers().contains_key(*name));
    match peer {
        Some(ip) if h.allows(ip) && !proxied => next.run(req).await,
        _ => (
            StatusCode::FORBIDDEN,
            "forbidden: /status and /metrics answer loopback and [server] admin_allow only\n",
        )
            .into_response(),
    }
}

/// Counts every response of the public server by route kind and status.
pub async fn count_requests(State(h): State<Arc<Health>>, req: Request, next: Next) -> Response {
    let route = route_kind(req.uri().path());
    let resp = next.run(req).await;
    h.metrics.http(route, resp.status().as_u16());
    resp
}

fn route_kind(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/status" => "status",
        "/metrics" => "metrics",
        p => crate::publish::site::path_kind(p),
    }
}

pub async fn status(State(h): State<Arc<Health>>) -> Response {
    let h2 = h.clone();
    match tokio::task::spawn_blocking(move || h2.status_page(Utc::now())).await {
        Ok(Ok(page)) => {
            let mut resp = (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                page,
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(crate::server::PAGE_CSP),
            );
            resp
        }
        Ok(Err(e)) => unavailable(&e.to_string()),
        Err(e) => unavailable(&e.to_string()),
    }
}

pub async fn metrics(State(h): State<Arc<Health>>) -> Response {
    let h2 = h.clone();
    match tokio::task::spawn_blocking(move || h2.metrics_text()).await {
        Ok(Ok(text)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            text,
        )
            .into_response(),
        Ok(Err(e)) => unavailable(&e.to_string()),
        Err(e) => unavailable(&e.to_string()),
    }
}

fn unavailable(e: &str) -> Response {
    tracing::error!(error = e, "cannot read the store for /status or /metrics");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the store cannot be read right now\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_is_always_allowed() {
        for ip in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(admin_allowed(ip.parse().unwrap(), &[]), "{ip}");
        }
    }

    #[test]
    fn others_need_a_range() {
        let allow = ranges(&["10.0.0.0/8", "fd00::/8", "192.0.2.7"]);
        for (ip, ok) in [
            ("10.1.2.3", true),
            ("::ffff:10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("fd12::1", true),
            ("fe80::1", false),
            ("8.8.8.8", false),
        ] {
            assert_eq!(admin_allowed(ip.parse().unwrap(), &allow), ok, "{ip}");
        }
        assert!(!admin_allowed("10.1.2.3".parse().unwrap(), &[]));
    }
}
