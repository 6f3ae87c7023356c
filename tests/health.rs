//! What an operator sees of a running daemon: `/status` (failing sources first, hostile
//! error messages escaped), `/metrics` (Prometheus text with the expected families and
//! counts after a poll), `/healthz` with the scheduler's heartbeat, who may read the
//! first two, and `--log-format json`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{
    daemon_sections, free_listen, signal, spawn_daemon_logged, start_news_server, wait_healthy,
};

/// A source whose every answer is a redirect to a URL that cannot be parsed, with
/// markup in it: the error message the daemon records quotes it.
async fn hostile_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/feed.xml",
        get(|| async {
            (
                StatusCode::FOUND,
                [(header::LOCATION, "http://<script>alert(1)</script>/")],
            )
                .into_response()
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/feed.xml")
}

/// One sample: family-less name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the Prometheus text format strictly: every sample belongs to a family whose
/// TYPE came before it, label values are quoted with the format's escapes, values are
/// numbers. Returns the families' types and the samples.
fn parse_prometheus(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{at}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "{at}: TYPE given twice"
                    );
                }
                (Some("HELP"), Some(_), Some(_)) => {}
                _ => panic!("{at}: not a HELP or TYPE comment"),
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("{at}: no value"),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{at}: bad metric name"
        );
        let mut labels = BTreeMap::new();
        let value_text = if let Some(mut rest) = rest.strip_prefix('{') {
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest
                    .find('=')
                    .unwrap_or_else(|| panic!("{at}: label without ="));
                let key = &rest[..eq];
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{at}"
                );
                let mut chars = rest[eq + 1..].char_indices();
                assert_eq!(chars.next().map(|c| c.1), Some('"'), "{at}");
                let mut value = String::new();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            other => panic!("{at}: bad escape {other:?}"),
                        },
                        Some((i, '"')) => break eq + 1 + i + 1,
                        Some((_, c)) => value.push(c),
                        None => panic!("{at}: unterminated label value"),
                    }
                };
                labels.insert(key.to_owned(), value);
                rest = &rest[end..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
            rest
        } else {
            rest
        };
        let value_text = value_text
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{at}"));
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("{at}: bad value")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{at}: no TYPE before it");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[tokio::test]
async fn status_metrics_and_healthz_after_a_poll() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let hostile = hostile_server().await;
    let good = news.url("nodates.xml");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    std::fs::write(
        &cfg,
        format!(
            r#"{}
[[source]]
name = "Always Fine"
url = "{good}"
full_text = "never"

[[source]]
name = "Zeta <b>Evil</b> & co"
url = "{hostile}"

[[category]]
name = "General"
default = true
"#,
            daemon_sections(&dir.path().join("db"), &listen, "1h")
        ),
    )
    .unwrap();
    let (_daemon, _log) = spawn_daemon_logged(&cfg, &[]);
    wait_healthy(&listen).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{listen}{path}")).send();

    // Both sources polled once: the page says so.
    let mut page = String::new();
    for _ in 0..600 {
        let resp = get("/status").await.unwrap();
        assert_eq!(resp.status(), 200);
        page = resp.text().await.unwrap();
        if page.contains("failing since") && page.contains("<tr class=\"ok\">") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(page.contains("failing since"), "{page}");
    let resp = get("/status").await.unwrap();
    assert_eq!(
        resp.headers()[header::CONTENT_SECURITY_POLICY],
        kawaraban::server::PAGE_CSP
    );
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Escaped everywhere: the name, the URL, the error message quoting the Location.
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<b>Evil"), "{page}");
    assert!(
        page.contains("Zeta &lt;b&gt;Evil&lt;/b&gt; &amp; co"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the error message is shown, escaped:\n{page}"
    );
    // Failing first, although its name sorts last.
    let zeta = page.find("Zeta &lt;b&gt;").unwrap();
    let fine = page.find("Always Fine").unwrap();
    assert!(zeta < fine, "{page}");
    assert!(page.contains("backing off until"), "{page}");
    // The good row: ok, a last success, two articles today and in total, a median.
    let row = &page[page.find("<tr class=\"ok\">").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.trim_end_matches("</td>"))
        .collect();
    assert_eq!(cells.len(), 7, "{row}");
    assert_eq!(cells[1], "ok");
    assert!(cells[2].ends_with("UTC"), "{row}");
    assert_eq!(cells[3], "", "{row}");
    assert_eq!((cells[4], cells[5]), ("2", "2"), "{row}");
    assert!(cells[6].ends_with(" ms"), "{row}");

    // Something rendered and served, for the route counters.
    assert_eq!(get("/feed.atom").await.unwrap().status(), 200);
    assert_eq!(get("/no/such/path").await.unwrap().status(), 404);

    let resp = get("/metrics").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    let (types, samples) = parse_prometheus(&text);
    for (family, kind) in [
        ("kawaraban_fetches_total", "counter"),
        ("kawaraban_fetch_not_modified_total", "counter"),
        ("kawaraban_fetch_bytes_total", "counter"),
        ("kawaraban_fetch_duration_seconds", "histogram"),
        ("kawaraban_source_consecutive_failures", "gauge"),
        ("kawaraban_articles_stored_total", "counter"),
        ("kawaraban_articles_skipped_total", "counter"),
        ("kawaraban_articles_folded_total", "counter"),
        ("kawaraban_articles_categorized_total", "counter"),
        ("kawaraban_store_size_bytes", "gauge"),
        ("kawaraban_store_articles", "gauge"),
        ("kawaraban_renders_total", "counter"),
        ("kawaraban_http_requests_total", "counter"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}\n{text}"
        );
    }
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("{name} {labels:?}\n{text}"))
    };
    let g = [("source", good.as_str())];
    let h = [("source", hostile.as_str())];
    assert_eq!(
        v("kawaraban_fetches_total", &[g[0], ("outcome", "fetched")]),
        1.0
    );
    assert_eq!(
        v("kawaraban_fetches_total", &[g[0], ("outcome", "error")]),
        0.0
    );
    assert_eq!(
        v("kawaraban_fetches_total", &[h[0], ("outcome", "error")]),
        1.0
    );
    // The name label carries the configured name as it is (quoted, not escaped as HTML).
    assert_eq!(
        v(
            "kawaraban_fetches_total",
            &[
                h[0],
                ("name", "Zeta <b>Evil</b> & co"),
                ("outcome", "fetched")
            ]
        ),
        0.0
    );
    assert!(v("kawaraban_fetch_bytes_total", &g) > 100.0);
    assert_eq!(v("kawaraban_fetch_not_modified_total", &g), 0.0);
    assert_eq!(v("kawaraban_fetch_duration_seconds_count", &g), 1.0);
    assert_eq!(
        v(
            "kawaraban_fetch_duration_seconds_bucket",
            &[g[0], ("le", "+Inf")]
        ),
        1.0
    );
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == "kawaraban_fetch_duration_seconds_bucket" && s.labels["source"] == good
        })
        .map(|s| s.value)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(v("kawaraban_source_consecutive_failures", &h), 1.0);
    assert_eq!(v("kawaraban_source_consecutive_failures", &g), 0.0);
    assert_eq!(v("kawaraban_articles_stored_total", &g), 2.0);
    assert_eq!(v("kawaraban_articles_skipped_total", &g), 0.0);
    assert_eq!(
        v(
            "kawaraban_articles_categorized_total",
            &[("category", "General")]
        ),
        2.0
    );
    assert_eq!(v("kawaraban_store_articles", &[]), 2.0);
    assert!(v("kawaraban_store_size_bytes", &[]) > 0.0);
    assert!(v("kawaraban_renders_total", &[("route", "feed")]) >= 1.0);
    assert!(
        v(
            "kawaraban_http_requests_total",
            &[("route", "status"), ("status", "200")]
        ) >= 2.0
    );
    assert!(
        v(
            "kawaraban_http_requests_total",
            &[("route", "feed"), ("status", "200")]
        ) >= 1.0
    );
    assert_eq!(
        v(
            "kawaraban_http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        1.0
    );
    // Route labels are kinds, never raw paths.
    assert!(
        samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .all(|r| !r.contains('/')),
        "{text}"
    );

    let resp = get("/healthz").await.unwrap();
    assert_eq!(resp.status(), 200);
    let health: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["scheduler"], true);
    assert_eq!(health["store"], true);
    assert_eq!(health["sources"], 2);
    let beat = health["heartbeat"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(beat).is_ok(),
        "{health}"
    );
    assert!(health["heartbeat_age_seconds"].as_f64().unwrap() >= 0.0);
}

/// A router whose every request seems to come from `peer`.
fn as_peer(app: Router, peer: [u8; 4]) -> Router {
    app.layer(axum::middleware::map_request(
        move |mut req: axum::extract::Request| async move {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
            req
        },
    ))
}

#[tokio::test]
async fn status_and_metrics_refuse_peers_outside_admin_allow() {
    use kawaraban::health::Health;
    use kawaraban::publish::site::{Site, SiteCache};
    let dir = tempfile::tempdir().unwrap();
    let config = kawaraban::config::Config::parse(
        r#"[server]
admin_allow = ["10.0.0.0/8"]
"#,
        "t.toml",
    )
    .unwrap();
    let store = kawaraban::store::Store::open(&dir.path().join("db"), 1 << 20).unwrap();
    let cache = Arc::new(SiteCache::new(Site::new(&config), store));
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(Vec::new()));
    let serve = |peer: [u8; 4], allow: Vec<kawaraban::fetch::guard::Cidr>| {
        let health = Arc::new(Health::new(
            Arc::default(),
            rx.clone(),
            allow,
            cache.clone(),
        ));
        health.beat();
        let app = kawaraban::server::router(kawaraban::server::AppState {
            cache: cache.clone(),
            scheduler_alive: Arc::new(true.into()),
            health: Some(health),
        });
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = as_peer(app, peer).into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        }
    };
    let outside = serve([192, 168, 1, 5], config.server.admin_allow.clone()).await;
    let inside = serve([10, 1, 2, 3], config.server.admin_allow.clone()).await;
    let nobody = serve([10, 1, 2, 3], Vec::new()).await;
    let status = |addr: SocketAddr, path: &'static str| async move {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status()
    };
    for path in ["/status", "/metrics"] {
        assert_eq!(status(outside, path).await, 403, "{path}");
        assert_eq!(status(nobody, path).await, 403, "{path}");
        assert_eq!(status(inside, path).await, 200, "{path}");
    }
    // Forwarded by a reverse proxy: refused even from an allowed peer (behind a proxy
    // on the same host everything comes from loopback).
    for header in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let r = reqwest::Client::new()
            .get(format!("http://{inside}/metrics"))
            .header(header, "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}");
    }
    // The blog and the health check stay public.
    assert_eq!(status(outside, "/feed.atom").await, 200);
    assert_eq!(status(outside, "/healthz").await, 200);

    // A bad range is refused at load, with its line.
    let err =
        kawaraban::config::Config::parse("[server]\nadmin_allow = [\"10.0.0.0/33\"]\n", "t.toml")
            .unwrap_err()
            .to_string();
    assert!(err.starts_with("t.toml:2:"), "{err}");
    assert!(err.contains("prefix length"), "{err}");
}

#[tokio::test]
async fn healthz_says_when_the_scheduler_never_beat() {
    use kawaraban::health::Health;
    use kawaraban::publish::site::{Site, SiteCache};
    let dir = tempfile::tempdir().unwrap();
    let config = kawaraban::config::Config::parse("", "t.toml").unwrap();
    let store = kawaraban::store::Store::open(&dir.path().join("db"), 1 << 20).unwrap();
    let cache = Arc::new(SiteCache::new(Site::new(&config), store));
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(Vec::new()));
    let health = Arc::new(Health::new(Arc::default(), rx, Vec::new(), cache.clone()));
    let app = kawaraban::server::router(kawaraban::server::AppState {
        cache,
        scheduler_alive: Arc::new(true.into()),
        health: Some(health.clone()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let resp = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["scheduler"], false, "{body}");
    assert_eq!(body["store"], true, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    health.beat();
    let resp = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    std::fs::write(
        &cfg,
        common::config_text(&news, &dir.path().join("db"), &listen),
    )
    .unwrap();
    let (mut daemon, log) = spawn_daemon_logged(&cfg, &["--log-format", "json"]);
    wait_healthy(&listen).await;
    // A poll that fails logs a warning with fields: in JSON too.
    log.wait_for("poll failed", 1).await;
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.unwrap().success());
    log.wait_for("stopped cleanly", 1).await;
    let text = log.text();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{text}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
        lines += 1;
    }
    assert!(lines >= 3, "{text}");
    assert!(text.contains(r#""message":"serving""#), "{text}");
    let failed = text.lines().find(|l| l.contains("poll failed")).unwrap();
    let v: serde_json::Value = serde_json::from_str(failed).unwrap();
    assert_eq!(v["level"], "WARN");
    assert!(v["fields"]["error"].is_string(), "{failed}");
}
