//! HTTP: one client for every source, with politeness (global and per-host limits),
//! conditional GET, redirects followed by hand (so a permanent move can be remembered
//! and every hop can be checked), a body cap enforced while streaming, and the guard
//! that keeps every hop off private and local networks (`guard.rs`).

pub mod guard;
pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::dns::Resolve;
use reqwest::header::{self, HeaderMap};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::config::FetchConfig;
use guard::{Guard, GuardedResolver, Refusal, SystemResolver};

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
    #[error("more than {MAX_REDIRECTS} redirects, last at {0}")]
    TooManyRedirects(String),
    #[error("redirect loop: {0} redirects back to {1}, already visited")]
    RedirectLoop(String, String),
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    #[error("the connection failed while reading the body: {0}")]
    Body(String),
    #[error("{0}")]
    Refused(#[from] Refusal),
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
    guard: Arc<Guard>,
}

/// Installs the TLS crypto provider once per process; reqwest is built without one so
/// that no C crypto library has to compile.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    pub fn new(cfg: &FetchConfig) -> Result<Fetcher, FetchError> {
        Fetcher::with_resolver(cfg, Arc::new(SystemResolver))
    }

    /// A fetcher that looks names up with `resolver`; the guard still judges every
    /// address it returns, so a test can map a name to any address without risking a
    /// connection to it.
    pub fn with_resolver(
        cfg: &FetchConfig,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let guard = Arc::new(Guard::new(&cfg.allow_private));
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(resolver, guard.clone())))
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
            guard,
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
        let mut redirected_from: Option<Url> = None;
        let mut visited: Vec<Url> = Vec::new();
        for _hop in 0..=MAX_REDIRECTS {
            let refused = |r: Refusal| match &redirected_from {
                Some(from) => FetchError::Refused(r.redirected_from(from)),
                None => FetchError::Refused(r),
            };
            self.guard.check_url(&url).map_err(refused)?;
            let mut rb = self.client.get(url.clone());
            if let Some(etag) = req.etag {
                rb = rb.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = req.last_modified {
                rb = rb.header(header::IF_MODIFIED_SINCE, lm);
            }
            let resp = rb.send().await.map_err(|e| match self.classify(&e, &url) {
                FetchError::Refused(r) => refused(r),
                other => other,
            })?;
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
                // Without cookies or other state, asking again for a URL seen in this
                // chain can only lead round the same loop.
                visited.push(url.clone());
                if visited.contains(&next) {
                    return Err(FetchError::RedirectLoop(url.to_string(), next.to_string()));
                }
                let is_permanent = matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                all_permanent &= is_permanent;
                if all_permanent {
                    permanent = Some(next.clone());
                }
                redirected_from = Some(std::mem::replace(&mut url, next));
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
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(r) = c.downcast_ref::<Refusal>() {
                return FetchError::Refused(r.clone());
            }
            cause = c.source();
        }
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use reqwest::dns::{Addrs, Name, Resolving};

    use super::*;

    /// Answers from a fixed table and records every name it is asked for.
    #[derive(Default)]
    struct StubResolver {
        table: HashMap<&'static str, Vec<IpAddr>>,
        asked: Mutex<Vec<String>>,
    }

    impl StubResolver {
        fn new(table: &[(&'static str, &[&str])]) -> Arc<StubResolver> {
            Arc::new(StubResolver {
                table: table
                    .iter()
                    .map(|(name, addrs)| {
                        (*name, addrs.iter().map(|a| a.parse().unwrap()).collect())
                    })
                    .collect(),
                asked: Mutex::new(Vec::new()),
            })
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    impl Resolve for StubResolver {
        fn resolve(&self, name: Name) -> Resolving {
            self.asked.lock().unwrap().push(name.as_str().to_owned());
            let found = self.table.get(name.as_str()).cloned();
            Box::pin(async move {
                let addrs = found.ok_or("no such name")?;
                Ok(Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs)
            })
        }
    }

    fn config(allow: &[&str]) -> FetchConfig {
        FetchConfig {
            allow_private: allow.iter().map(|a| a.parse().unwrap()).collect(),
            timeout: crate::config::HumanDuration(Duration::from_secs(5)),
            ..FetchConfig::default()
        }
    }

    async fn get_url(fetcher: &Fetcher, url: &str) -> Result<Response, FetchError> {
        let url = Url::parse(url).unwrap();
        fetcher
            .fetch(&Request {
                url: &url,
                etag: None,
                last_modified: None,
                max_bytes: 1 << 20,
            })
            .await
    }

    /// A loopback listener that only counts the connections it gets.
    async fn tripwire() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        (addr, count)
    }

    fn refused_kind(r: &Result<Response, FetchError>) -> Option<&'static str> {
        match r {
            Err(FetchError::Refused(Refusal::Address { kind, .. })) => Some(kind),
            _ => None,
        }
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_never_connected_to() {
        // Only the guard stands between these names and a connection outside the
        // loopback range, so it must be seen refusing before any of them is fetched.
        let guard = Guard::default();
        for a in ["10.0.0.1", "169.254.169.254"] {
            assert!(guard.check_ip("x", a.parse().unwrap()).is_err(), "{a}");
        }
        let (trip, connections) = tripwire().await;
        let stub = StubResolver::new(&[
            ("tripwire.example", &["127.0.0.1"]),
            ("evil.example", &["10.0.0.1"]),
            ("metadata.example", &["169.254.169.254"]),
            ("v6.example", &["::1"]),
            ("mapped.example", &["::ffff:127.0.0.1"]),
            ("zero.example", &["0.0.0.0"]),
        ]);
        let fetcher = Fetcher::with_resolver(&config(&[]), stub.clone()).unwrap();

        // The wiring first, against a listener that would notice a connection.
        let r = get_url(
            &fetcher,
            &format!("http://tripwire.example:{}/feed", trip.port()),
        )
        .await;
        assert_eq!(refused_kind(&r), Some("loopback"), "{r:?}");
        assert_eq!(stub.asked(), ["tripwire.example"]);

        let r = get_url(&fetcher, "http://evil.example/feed").await;
        assert_eq!(
            r.unwrap_err().to_string(),
            "refused to connect to 10.0.0.1 (private address) for evil.example: kawaraban does not fetch from private or local networks; allow it with [fetch] allow_private = [\"10.0.0.0/8\"]"
        );
        let r = get_url(&fetcher, "https://metadata.example/latest/meta-data/").await;
        assert_eq!(refused_kind(&r), Some("link-local"), "{r:?}");
        assert!(
            r.unwrap_err().to_string().contains("169.254.169.254"),
            "names the address"
        );
        for (name, kind) in [
            ("v6.example", "loopback"),
            ("mapped.example", "loopback"),
            ("zero.example", "unspecified"),
        ] {
            let r = get_url(&fetcher, &format!("http://{name}:{}/", trip.port())).await;
            assert_eq!(refused_kind(&r), Some(kind), "{name}: {r:?}");
        }
        assert_eq!(stub.asked().len(), 6);

        // Literal addresses never reach a resolver and are checked before the request.
        let r = get_url(&fetcher, &format!("http://127.0.0.1:{}/", trip.port())).await;
        assert_eq!(refused_kind(&r), Some("loopback"), "{r:?}");
        assert_eq!(stub.asked().len(), 6);
        let r = get_url(&fetcher, "ftp://127.0.0.1/feed").await;
        assert!(
            matches!(r, Err(FetchError::Refused(Refusal::Scheme { .. }))),
            "{r:?}"
        );

        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_resolver_keeps_allowed_addresses_and_exempts_the_proxy() {
        let stub = StubResolver::new(&[
            ("mixed.example", &["10.0.0.1", "127.0.0.1", "::1"]),
            ("proxy.internal", &["10.0.0.5"]),
        ]);
        let guard = Arc::new(Guard::new(&["127.0.0.0/8".parse().unwrap()]));
        let resolver = GuardedResolver::with_proxies(stub, guard, vec!["proxy.internal".into()]);
        let addrs: Vec<SocketAddr> = resolver
            .resolve("mixed.example".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, ["127.0.0.1:0".parse::<SocketAddr>().unwrap()]);
        let addrs: Vec<SocketAddr> = resolver
            .resolve("proxy.internal".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, ["10.0.0.5:0".parse::<SocketAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn every_redirect_hop_is_checked() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://127.0.0.1:{}", addr.port());
        let redirect = |to: String| {
            move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
        };
        let app = Router::new()
            .route(
                "/feed",
                get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    "<rss/>"
                }),
            )
            .route("/to-feed", get(redirect("/feed".into())))
            .route("/to-private", get(redirect("http://10.0.0.1/feed".into())))
            .route(
                "/to-metadata",
                get(redirect("http://metadata.example/".into())),
            )
            .route(
                "/to-loopback-name",
                get(redirect(format!(
                    "http://feeds.example:{}/feed",
                    addr.port()
                ))),
            )
            .route(
                "/to-other-loopback",
                get(redirect(format!("http://127.0.0.2:{}/feed", addr.port()))),
            )
            .route("/to-file", get(redirect("file:///etc/passwd".into())));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        assert!(
            Guard::default()
                .check_url(&Url::parse("http://10.0.0.1/feed").unwrap())
                .is_err()
        );
        let stub = StubResolver::new(&[
            ("metadata.example", &["169.254.169.254"]),
            ("feeds.example", &["127.0.0.1"]),
        ]);
        let fetcher = Fetcher::with_resolver(&config(&["127.0.0.1/32"]), stub.clone()).unwrap();

        let ok = get_url(&fetcher, &format!("{base}/to-feed")).await.unwrap();
        assert_eq!(ok.body.as_deref(), Some(&b"<rss/>"[..]));

        let e = get_url(&fetcher, &format!("{base}/to-private"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "refused to connect to 10.0.0.1 (private address), redirected from {base}/to-private:"
            )),
            "{e}"
        );
        let e = get_url(&fetcher, &format!("{base}/to-metadata"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "refused to connect to 169.254.169.254 (link-local address) for metadata.example, redirected from {base}/to-metadata:"
            )),
            "{e}"
        );
        assert!(e.ends_with("allow_private = [\"169.254.0.0/16\"]"), "{e}");
        let ok = get_url(&fetcher, &format!("{base}/to-loopback-name"))
            .await
            .unwrap();
        assert_eq!(ok.final_url.host_str(), Some("feeds.example"));
        // Only 127.0.0.1/32 is open, not the rest of the loopback range.
        let r = get_url(&fetcher, &format!("{base}/to-other-loopback")).await;
        assert_eq!(refused_kind(&r), Some("loopback"), "{r:?}");
        let e = get_url(&fetcher, &format!("{base}/to-file"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, FetchError::Refused(Refusal::Scheme { .. })),
            "{e:?}"
        );
        assert!(e.to_string().contains("redirected from"), "{e}");
        assert_eq!(stub.asked(), ["metadata.example", "feeds.example"]);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
