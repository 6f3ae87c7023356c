//! The public HTTP listener: every published path (feeds and pages) with validators
//! (ETag, Last-Modified, 304) and gzip, and a health check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::publish::site::SiteCache;

#[derive(Clone)]
pub struct AppState {
    pub cache: Arc<SiteCache>,
    /// Cleared when the scheduler stops, so /healthz tells a supervisor.
    pub scheduler_alive: Arc<AtomicBool>,
    /// The daemon's heartbeat, counters and status page (`/status`, `/metrics`); none
    /// when the site is served without a scheduler.
    pub health: Option<Arc<crate::health::Health>>,
}

/// The policy of every HTML page: nothing runs, styles come from the site itself.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src https: http:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn router(state: AppState) -> Router {
    let health = state.health.clone();
    let app = Router::new()
        .route("/healthz", get(healthz))
        .fallback(get(site))
        .with_state(state);
    match health {
        None => app,
        Some(h) => {
            use crate::health;
            use axum::middleware::from_fn_with_state;
            let admin = Router::new()
                .route("/status", get(health::status))
                .route("/metrics", get(health::metrics))
                .route_layer(from_fn_with_state(h.clone(), health::admin_only))
                .with_state(h.clone());
            app.merge(admin)
                .layer(from_fn_with_state(h, health::count_requests))
        }
    }
}

/// `/sources.opml`: the configured sources as OPML 2.0, for feed readers (subscribe
/// to what the blog reads). A reload of the configuration replaces it.
#[derive(Clone)]
pub struct SourcesOpml(Arc<std::sync::RwLock<Arc<OpmlDoc>>>);

struct OpmlDoc {
    etag: String,
    modified: DateTime<Utc>,
    body: Bytes,
    gz: Bytes,
}

impl OpmlDoc {
    fn new(opml: String) -> OpmlDoc {
        OpmlDoc {
            etag: format!("\"{}\"", &crate::article::hex_digest(opml.as_bytes())[..24]),
            modified: Utc::now(),
            gz: crate::publish::gzip(opml.as_bytes()),
            body: Bytes::from(opml),
        }
    }
}

impl SourcesOpml {
    pub fn new(opml: String) -> SourcesOpml {
        SourcesOpml(Arc::new(std::sync::RwLock::new(Arc::new(OpmlDoc::new(
            opml,
        )))))
    }

    fn current(&self) -> Arc<OpmlDoc> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Serves `opml` from now on; the same text keeps its ETag and date.
    pub fn set(&self, opml: String) {
        if self.current().body.as_ref() != opml.as_bytes() {
            *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(OpmlDoc::new(opml));
        }
    }

    pub fn router(&self) -> Router {
        let doc = self.clone();
        Router::new().route(
            "/sources.opml",
            get(move |headers: HeaderMap| async move {
                let d = doc.current();
                cached_response(
                    &headers,
                    "text/x-opml; charset=utf-8",
                    &d.etag,
                    d.modified,
                    &d.body,
                    &d.gz,
                )
            }),
        )
    }
}

/// Every published path: feeds, pages, the stylesheet.
async fn site(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    // Still percent-encoded: the site splits the path first and decodes each segment,
    // so a `%2F` inside a category slug stays inside it.
    let found = match s.cache.cached(uri.path()) {
        Some(r) => Ok(Ok(Some(r))),
        None => {
            let path = uri.path().to_owned();
            let cache = s.cache.clone();
            // Rendering reads the store and builds HTML: off the async threads.
            tokio::task::spawn_blocking(move || cache.get(&path)).await
        }
    };
    match found {
        Ok(Ok(Some(r))) => {
            let mut resp = cached_response(
                &headers,
                r.content_type,
                &r.etag,
                r.last_modified,
                &r.body,
                &r.gz,
            );
            if r.content_type.starts_with("text/html") {
                resp.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(PAGE_CSP),
                );
            }
            resp
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot render from the store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot be read right now\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n").into_response()
        }
    }
}

/// HTTP-date for Last-Modified.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Answers with the body, or 304 when the client's validators match. The gzip form
/// gets its own ETag (a strong validator names one representation).
pub fn cached_response(
    req: &HeaderMap,
    content_type: &'static str,
    etag: &str,
    modified: DateTime<Utc>,
    plain: &Bytes,
    gz: &Bytes,
) -> Response {
    let wants_gzip = req
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        });
    let tag = if wants_gzip {
        format!("{}-gz\"", etag.trim_end_matches('"'))
    } else {
        etag.to_owned()
    };
    let last_modified = http_date(modified);
    let not_modified = match req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(inm) => inm.split(',').any(|t| {
            let t = t.trim().trim_start_matches("W/");
            t == "*" || t == tag || t == etag
        }),
        None => req
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| modified.timestamp() <= since.timestamp()),
    };
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if not_modified {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    if wants_gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (h, gz.clone()).into_response()
    } else {
        (h, plain.clone()).into_response()
    }
}

async fn healthz(State(s): State<AppState>) -> Response {
    let now = Utc::now();
    let scheduler = s.scheduler_alive.load(Ordering::Acquire)
        && s.health.as_ref().is_none_or(|h| h.scheduler_fresh(now));
    let store = s.cache.store().ping().is_ok();
    let mut body = serde_json::json!({
        "status": if scheduler && store { "ok" } else { "degraded" },
        "scheduler": scheduler,
        "store": store,
    });
    if let (Some(h), Some(obj)) = (&s.health, body.as_object_mut())
        && let serde_json::Value::Object(more) = h.healthz_fields(now)
    {
        obj.extend(more);
    }
    let body = format!("{body}\n");
    let status = if scheduler && store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
