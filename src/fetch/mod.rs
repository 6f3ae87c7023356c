//! HTTP: one client for every source, with politeness (global and per-host limits),
//! conditional GET, redirects followed by hand (so a permanent move can be remembered
//! and every hop can be checked), and a body cap enforced while streaming.

pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::config::FetchConfig;

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("DNS lookup failed for {host}: {detail} (check the host name)")]
    Dns { host: String, detail: String },
    #[error("could not connect: {0} (is the server up? is a proxy needed?)")]
    Connect(String),
    #[error("TLS failed: {0} (the server's certificate or TLS setup is broken)")]
    Tls(String),
    #[error(
        "timed out after {0:?} (the server is slow or unreachable; `timeout` raises the limit)"
    )]
    Timeout(Duration),
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (asked to retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error(
        "HTTP 410 Gone: the publisher removed this feed; it is no longer polled until its config entry changes"
    )]
    Gone,
    #[error(
        "the body is larger than the limit of {limit} bytes (raise `max_bytes` for this source if it is legitimate)"
    )]
    TooLarge { limit: u64 },
    #[error("more than {MAX_REDIRECTS} redirects (a redirect loop?), last at {0}")]
    TooManyRedirects(String),
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    #[error("the connection failed while reading the body: {0}")]
    Body(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl FetchError {
    /// The delay the server asked for, if any (429/503 Retry-After).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What to fetch, with the validators of the last good fetch.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub url: &'a Url,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub max_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Response {
    /// None on 304 Not Modified.
    pub body: Option<Bytes>,
    pub status: u16,
    pub final_url: Url,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Where every hop so far was a permanent redirect (301/308) to, if any.
    pub moved_permanently_to: Option<Url>,
    /// Cache-Control max-age: the server asks not to be asked again sooner.
    pub max_age: Option<Duration>,
    pub elapsed: Duration,
}

pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    global: Arc<Semaphore>,
    per_host_limit: usize,
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Installs the TLS crypto provider once per process; reqwest is built without one so
/// that no C crypto library has to compile.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    pub fn new(cfg: &FetchConfig) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout.0)
            .timeout(cfg.timeout.0)
            .redirect(reqwest::redirect::Policy::none())
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .build()
            .map_err(|e| {
                FetchError::Other(format!("cannot build the HTTP client: {}", chain(&e)))
            })?;
        Ok(Fetcher {
            client,
            timeout: cfg.timeout.0,
            global: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            per_host_limit: cfg.per_host.max(1),
            per_host: Mutex::new(HashMap::new()),
        })
    }

    async fn permits(&self, url: &Url) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let host_key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let host = {
            let mut map = self.per_host.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(host_key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host_limit)))
                .clone()
        };
        // Take the host's permit first so one slow host cannot hold global slots idle.
        let h = host.acquire_owned().await.expect("semaphore never closed");
        let g = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        (h, g)
    }

    /// Fetches one URL. A 304 is a success with no body.
    pub async fn fetch(&self, req: &Request<'_>) -> Result<Response, FetchError> {
        let _permits = self.permits(req.url).await;
        let started = Instant::now();
        let mut url = req.url.clone();
        let mut permanent: Option<Url> = None;
        let mut all_permanent = true;
        for _hop in 0..=MAX_REDIRECTS {
            let mut rb = self.client.get(url.clone());
            if let Some(etag) = req.etag {
                rb = rb.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = req.last_modified {
                rb = rb.header(header::IF_MODIFIED_SINCE, lm);
            }
            let resp = rb.send().await.map_err(|e| self.classify(&e, &url))?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        FetchError::BadRedirect(format!(
                            "HTTP {} without a Location header",
                            status.as_u16()
                        ))
                    })?;
                let next = url
                    .join(location.trim())
                    .map_err(|e| FetchError::BadRedirect(format!("Location {location:?}: {e}")))?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(FetchError::BadRedirect(format!(
                        "redirect to a {} URL",
                        next.scheme()
                    )));
                }
                let is_permanent = matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                all_permanent &= is_permanent;
                if all_permanent {
                    permanent = Some(next.clone());
                }
                url = next;
                continue;
            }
            let headers = resp.headers().clone();
            let common = |body: Option<Bytes>, url: Url| Response {
                body,
                status: status.as_u16(),
                content_type: header_str(&headers, header::CONTENT_TYPE),
                etag: header_str(&headers, header::ETAG),
                last_modified: header_str(&headers, header::LAST_MODIFIED),
                moved_permanently_to: permanent.clone(),
                max_age: header_str(&headers, header::CACHE_CONTROL)
                    .and_then(|v| policy::max_age(&v)),
                elapsed: started.elapsed(),
                final_url: url,
            };
            if status == StatusCode::NOT_MODIFIED {
                return Ok(common(None, url));
            }
            if status == StatusCode::GONE {
                return Err(FetchError::Gone);
            }
            if !status.is_success() {
                let retry_after = header_str(&headers, header::RETRY_AFTER)
                    .and_then(|v| policy::retry_after(&v, chrono::Utc::now()));
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    retry_after,
                });
            }
            if resp.content_length().is_some_and(|n| n > req.max_bytes) {
                return Err(FetchError::TooLarge {
                    limit: req.max_bytes,
                });
            }
            let body = self.read_capped(resp, req.max_bytes, &url).await?;
            let mut out = common(Some(body), url);
            out.elapsed = started.elapsed();
            return Ok(out);
        }
        Err(FetchError::TooManyRedirects(url.to_string()))
    }

    /// Reads the (decompressed) body, failing as soon as it passes `max`: a huge or
    /// endless body, or a compression bomb, never fills memory.
    async fn read_capped(
        &self,
        mut resp: reqwest::Response,
        max: u64,
        url: &Url,
    ) -> Result<Bytes, FetchError> {
        let mut buf = BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() as u64 + chunk.len() as u64 > max {
                        return Err(FetchError::TooLarge { limit: max });
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(buf.freeze()),
                Err(e) if e.is_timeout() => return Err(FetchError::Timeout(self.timeout)),
                Err(e) => {
                    return Err(FetchError::Body(format!("{} ({url})", chain(&e))));
                }
            }
        }
    }

    fn classify(&self, e: &reqwest::Error, url: &Url) -> FetchError {
        let detail = chain(e);
        let lower = detail.to_ascii_lowercase();
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("name or service not known")
        {
            FetchError::Dns {
                host: url.host_str().unwrap_or("").to_owned(),
                detail,
            }
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            FetchError::Tls(detail)
        } else if e.is_connect() {
            FetchError::Connect(detail)
        } else {
            FetchError::Other(detail)
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// An error with all its causes, since reqwest's top-level message ("error sending
/// request") hides the one that matters.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
