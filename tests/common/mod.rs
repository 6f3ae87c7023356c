//! A loopback news server for the integration tests: serves the fixture feeds with
//! ETags, answers conditional requests with 304, and counts what it was asked.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// (path, content type, fixture file)
pub const FEEDS: &[(&str, &str, &str)] = &[
    ("sjis.rdf", "application/rdf+xml", "sjis-rss1.rdf"),
    ("euc.xml", "application/rss+xml", "eucjp-rss2.xml"),
    ("atom.xml", "application/atom+xml", "atom-xmlbase.xml"),
    ("feed.json", "application/feed+json", "feed.json"),
    ("nodates.xml", "application/rss+xml", "nodates.xml"),
    ("malformed.xml", "application/rss+xml", "malformed.xml"),
];

#[derive(Default)]
pub struct Log {
    /// Requests per path.
    pub hits: HashMap<String, usize>,
    /// Requests per path that carried If-None-Match.
    pub conditional: HashMap<String, usize>,
    pub not_modified: usize,
    /// Requests being answered right now, and the most there ever were at once.
    pub in_flight: usize,
    pub max_in_flight: usize,
}

#[derive(Clone)]
pub struct NewsServer {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
}

impl NewsServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn conditional(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .conditional
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Clone)]
struct Shared {
    host: String,
    log: Arc<Mutex<Log>>,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Replaces the NEWS_HOST placeholder in the (ASCII-compatible) fixture bytes.
fn with_host(bytes: &[u8], host: &str) -> Vec<u8> {
    let needle = b"NEWS_HOST";
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(needle) {
            out.extend_from_slice(host.as_bytes());
            i += needle.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

async fn serve_feed(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    {
        let mut log = s.log.lock().unwrap();
        *log.hits.entry(name.clone()).or_default() += 1;
        if headers.contains_key(header::IF_NONE_MATCH) {
            *log.conditional.entry(name.clone()).or_default() += 1;
        }
    }
    match name.as_str() {
        "gone.xml" => return (StatusCode::GONE, "gone").into_response(),
        "moved.xml" => {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, "/atom.xml")],
            )
                .into_response();
        }
        "hop.xml" => return (StatusCode::FOUND, [(header::LOCATION, "/perm.xml")]).into_response(),
        "perm.xml" => {
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, "/atom.xml")],
            )
                .into_response();
        }
        "loop.xml" => {
            return (StatusCode::FOUND, [(header::LOCATION, "/loop.xml")]).into_response();
        }
        "stall.xml" => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            return (StatusCode::OK, "too late").into_response();
        }
        n if n.starts_with("slow") => {
            {
                let mut log = s.log.lock().unwrap();
                log.in_flight += 1;
                log.max_in_flight = log.max_in_flight.max(log.in_flight);
            }
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            s.log.lock().unwrap().in_flight -= 1;
            let body = with_host(&fixture("feed.json"), &s.host);
            return ([(header::CONTENT_TYPE, "application/feed+json")], body).into_response();
        }
        "busy.xml" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "7200")],
            )
                .into_response();
        }
        _ => {}
    }
    let Some((_, ct, file)) = FEEDS.iter().find(|(p, _, _)| *p == name) else {
        return (StatusCode::NOT_FOUND, "no such feed").into_response();
    };
    let body = with_host(&fixture(file), &s.host);
    let etag = format!("\"{}-{}\"", name, body.len());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        s.log.lock().unwrap().not_modified += 1;
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    (h, body).into_response()
}

/// Starts the news server on 127.0.0.1 with an OS-chosen port.
pub async fn start_news_server() -> NewsServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let shared = Shared {
        host: addr.to_string(),
        log: log.clone(),
    };
    let app = Router::new()
        .route("/{name}", get(serve_feed))
        .with_state(shared);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    NewsServer { addr, log }
}

/// The sections a test daemon needs: its address, a small store, polls every
/// `interval`, and loopback sources allowed.
pub fn daemon_sections(store: &std::path::Path, listen: &str, interval: &str) -> String {
    format!(
        r#"[server]
listen = "{listen}"

[store]
path = "{}"
cache_size = "4MiB"

[fetch]
interval = "{interval}"
timeout = "5s"
allow_private = ["127.0.0.0/8"]
"#,
        store.display()
    )
}

/// A configuration with one source per fixture feed plus a 410 source.
pub fn config_text(news: &NewsServer, store: &std::path::Path, listen: &str) -> String {
    let mut s = format!(
        r#"[blog]
title = "テスト瓦版"
author = "networksecurity"
base_url = "http://127.0.0.1:8080/"
language = "ja"
timezone = "Asia/Tokyo"
max_entries = 50

{}"#,
        daemon_sections(store, listen, "1h")
    );
    let names = [
        "テスト新報",
        "東西日報",
        "Harbor Times",
        "JSON Wire",
        "No Dates",
        "Broken Feed",
    ];
    for ((path, _, _), name) in FEEDS.iter().zip(names) {
        s.push_str(&format!(
            "\n[[source]]\nname = \"{name}\"\nurl = \"{}\"\n",
            news.url(path)
        ));
    }
    s.push_str(&format!(
        "\n[[source]]\nname = \"Gone Daily\"\nurl = \"{}\"\n",
        news.url("gone.xml")
    ));
    s
}

/// Entries a good pass stores: 3 + 2 (one shared with the first feed) + 2 + 2 + 2.
pub const GOOD_ENTRIES: usize = 10;

/// The kawaraban binary, with logs plain and at their default level.
pub fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_kawaraban"));
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

/// Runs a command with a configuration file and waits for it.
pub async fn run(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .await
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A loopback address with a port nobody listens on right now, for a daemon's `listen`.
pub fn free_listen() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `kawaraban serve` with a configuration; killed when the handle is dropped, so a
/// failing test leaves no daemon behind.
pub fn spawn_daemon(cfg: &std::path::Path) -> tokio::process::Child {
    bin()
        .arg("--config")
        .arg(cfg)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits until the daemon at `listen` answers /healthz with 200.
pub async fn wait_healthy(listen: &str) {
    kawaraban::fetch::install_crypto_provider();
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("http://{listen}/healthz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the daemon at {listen} did not come up");
}

/// What a daemon started by [`spawn_daemon_logged`] has written to stderr so far.
#[derive(Clone, Default)]
pub struct DaemonLog(Arc<Mutex<String>>);

impl DaemonLog {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until the log holds `needle` at least `times` times; panics with
    /// the log otherwise.
    pub async fn wait_for(&self, needle: &str, times: usize) {
        for _ in 0..600 {
            if self.text().matches(needle).count() >= times {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the daemon did not log {needle:?} {times} time(s); its log:\n{}",
            self.text()
        );
    }
}

/// `kawaraban serve` with a configuration and extra global arguments, its stderr kept
/// for the test to read; killed when the handle is dropped.
pub fn spawn_daemon_logged(
    cfg: &std::path::Path,
    args: &[&str],
) -> (tokio::process::Child, DaemonLog) {
    use tokio::io::AsyncBufReadExt;
    let mut child = bin()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = DaemonLog::default();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = sink.0.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    (child, log)
}

/// Sends a signal (`"HUP"`, `"TERM"`) to a child process.
pub fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("the daemon is running");
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Writes a file the way editors save: a new file renamed over the old one.
pub fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Asserts the command exited 0 and gives its stdout.
pub fn ok(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The judging newsroom's configuration: a security topic, the sample's four
/// categories, two outlets (`toto`, `kyodo`) on `host`; `exclude` lists the topic's
/// exclude terms as TOML strings.
pub fn judging_config(host: &str, dir: &std::path::Path, listen: &str, exclude: &str) -> String {
    format!(
        r#"[blog]
title = "テスト瓦版"
author = "networksecurity"
language = "ja"
timezone = "Asia/Tokyo"
base_url = "http://blog.example/"
[server]
listen = "{listen}"
[store]
path = "{db}"
[fetch]
allow_private = ["127.0.0.0/8"]
[topic]
include = ["サイバー", "不正アクセス", "不正ログイン", "情報流出"]
exclude = [{exclude}]

[[category]]
name = "ショッピング"
slug = "shopping"
keywords = ["通販", "ECサイト"]
[[category]]
name = "サイバー攻撃"
slug = "attack"
keywords = ["サイバー攻撃", "ランサムウェア"]
[[category]]
name = "不正アクセス"
slug = "unauthorized-access"
keywords = ["不正ログイン", "不正アクセス"]
[[category]]
name = "ニュース"
slug = "news"
default = true

[[source]]
name = "東都新聞"
url = "http://{host}/toto/feed.xml"
full_text = "never"
[[source]]
name = "共同通信"
url = "http://{host}/kyodo/feed.xml"
full_text = "never"
"#,
        db = dir.join("db").display()
    )
}
