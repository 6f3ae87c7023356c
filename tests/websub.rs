//! WebSub publish pings against a hub stub on loopback that records what it is sent
//! and answers as each test scripts it: failures, 429 with Retry-After, refusals, and
//! slowness.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kawaraban::publish::websub::{Backoff, Failure, Pinger};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

/// Generous: the machine running the tests may be busy.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Clone)]
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    /// How long the hub takes to answer.
    delay: Duration,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

struct Received {
    at: Instant,
    content_type: Option<String>,
    form: Vec<(String, String)>,
    /// The feed version the hub would have fetched, had it fetched on receipt.
    version: u64,
}

struct Hub {
    script: Mutex<VecDeque<Reply>>,
    /// Once the script is spent.
    otherwise: Reply,
    received: Mutex<Vec<Received>>,
    /// The publisher's current feed version, which the test moves forward.
    version: Arc<AtomicU64>,
}

struct HubStub {
    url: Url,
    hub: Arc<Hub>,
}

impl HubStub {
    fn count(&self) -> usize {
        self.hub.received.lock().unwrap().len()
    }

    fn forms(&self) -> Vec<Vec<(String, String)>> {
        let r = self.hub.received.lock().unwrap();
        r.iter().map(|r| r.form.clone()).collect()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if done(&self.hub.received.lock().unwrap()) {
                return;
            }
            assert!(Instant::now() < deadline, "the hub never saw {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn start_hub(script: Vec<Reply>, otherwise: Reply) -> HubStub {
    let hub = Arc::new(Hub {
        script: Mutex::new(script.into()),
        otherwise,
        received: Mutex::new(Vec::new()),
        version: Arc::new(AtomicU64::new(0)),
    });
    let app = Router::new()
        .route("/{name}", post(publish))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    HubStub {
        url: Url::parse(&format!("http://{addr}/hub")).unwrap(),
        hub,
    }
}

async fn publish(State(hub): State<Arc<Hub>>, headers: HeaderMap, body: String) -> Response {
    hub.received.lock().unwrap().push(Received {
        at: Instant::now(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        form: url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect(),
        version: hub.version.load(Ordering::SeqCst),
    });
    let r = hub
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| hub.otherwise.clone());
    tokio::time::sleep(r.delay).await;
    let mut resp = StatusCode::from_u16(r.status).unwrap().into_response();
    if let Some(v) = r.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, v.parse().unwrap());
    }
    resp
}

fn client() -> reqwest::Client {
    kawaraban::fetch::install_crypto_provider();
    reqwest::Client::builder().build().unwrap()
}

fn topic(name: &str) -> Url {
    Url::parse(&format!("https://news.example/{name}")).unwrap()
}

fn fast(attempts: u32) -> Backoff {
    Backoff {
        first: Duration::from_millis(5),
        max: Duration::from_millis(40),
        attempts,
        max_retry_after: Duration::from_secs(5),
    }
}

fn pinger(hub: &HubStub, topics: Vec<Url>, attempts: u32) -> Pinger {
    Pinger::new(hub.url.clone(), topics, client())
        .with_backoff(fast(attempts))
        .with_min_interval(Duration::ZERO)
        .with_timeout(Duration::from_secs(10))
}

fn form(t: &Url) -> Vec<(String, String)> {
    vec![
        ("hub.mode".into(), "publish".into()),
        ("hub.url".into(), t.to_string()),
    ]
}

#[tokio::test]
async fn one_form_request_per_topic() {
    let hub = start_hub(vec![], reply(204)).await;
    let topics = vec![topic("feed.atom"), topic("feed.rss?x=1&y=a b")];
    pinger(&hub, topics.clone(), 3).ping_once().await.unwrap();
    let r = hub.hub.received.lock().unwrap();
    assert_eq!(r.len(), 2);
    for req in r.iter() {
        assert_eq!(
            req.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }
    let mut forms: Vec<_> = r.iter().map(|r| r.form.clone()).collect();
    forms.sort();
    let mut want: Vec<_> = topics.iter().map(form).collect();
    want.sort();
    assert_eq!(forms, want);
}

#[tokio::test]
async fn server_errors_are_retried_until_accepted() {
    let hub = start_hub(vec![reply(503), reply(500), reply(502)], reply(204)).await;
    let t = topic("feed.atom");
    pinger(&hub, vec![t.clone()], 5).ping_once().await.unwrap();
    assert_eq!(hub.forms(), vec![form(&t); 4]);
}

#[tokio::test]
async fn only_failed_topics_are_sent_again() {
    // The first request fails, whichever topic it was for.
    let hub = start_hub(vec![reply(503)], reply(204)).await;
    let topics = vec![topic("feed.atom"), topic("feed.rss")];
    pinger(&hub, topics.clone(), 3).ping_once().await.unwrap();
    let forms = hub.forms();
    assert_eq!(forms.len(), 3, "{forms:?}");
    for t in &topics {
        assert!(forms.contains(&form(t)), "{t} never sent: {forms:?}");
    }
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let hub = start_hub(vec![reply(400)], reply(204)).await;
    let t = topic("feed.atom");
    let err = pinger(&hub, vec![t.clone()], 5)
        .ping_once()
        .await
        .unwrap_err();
    assert_eq!(hub.count(), 1);
    assert_eq!(err.hub, hub.url);
    assert_eq!(err.failed.len(), 1);
    assert_eq!(err.failed[0].topic, t);
    assert_eq!(err.failed[0].attempts, 1);
    assert!(matches!(
        err.failed[0].last,
        Failure::Status { status, .. } if status == StatusCode::BAD_REQUEST
    ));
    let text = err.to_string();
    assert!(
        text.contains(hub.url.as_str()) && text.contains("400"),
        "{text}"
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let hub = start_hub(vec![], reply(503)).await;
    let err = pinger(&hub, vec![topic("feed.atom")], 3)
        .ping_once()
        .await
        .unwrap_err();
    assert_eq!(hub.count(), 3);
    assert_eq!(err.failed[0].attempts, 3);
    assert!(err.failed[0].last.is_transient());
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn too_many_requests_waits_as_asked() {
    let busy = Reply {
        status: 429,
        retry_after: Some("1"),
        delay: Duration::ZERO,
    };
    let hub = start_hub(vec![busy], reply(204)).await;
    pinger(&hub, vec![topic("feed.atom")], 3)
        .ping_once()
        .await
        .unwrap();
    let r = hub.hub.received.lock().unwrap();
    assert_eq!(r.len(), 2);
    // The backoff alone would have waited 5 ms.
    let waited = r[1].at - r[0].at;
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
}

#[tokio::test]
async fn connection_errors_are_retried_and_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let hub = Url::parse(&format!("http://{addr}/hub")).unwrap();
    let err = Pinger::new(hub.clone(), vec![topic("feed.atom")], client())
        .with_backoff(fast(2))
        .ping_once()
        .await
        .unwrap_err();
    assert_eq!(err.hub, hub);
    assert_eq!(err.failed[0].attempts, 2);
    assert!(matches!(err.failed[0].last, Failure::Transport(_)));
}

#[tokio::test]
async fn changes_during_a_slow_ping_are_coalesced() {
    let slow = Reply {
        status: 204,
        retry_after: None,
        delay: Duration::from_millis(150),
    };
    let hub = start_hub(vec![], slow).await;
    let version = hub.hub.version.clone();
    let (tx, rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pinger(&hub, vec![topic("feed.atom")], 3).run(rx, stop_rx));
    const CHANGES: u64 = 20;
    for v in 1..=CHANGES {
        version.store(v, Ordering::SeqCst);
        tx.send(v).unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    hub.wait_for("the last version", |r| {
        r.iter().any(|r| r.version == CHANGES)
    })
    .await;
    // Nothing more to tell: give a stray extra ping the time to show up.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pings = hub.count();
    assert!(
        (pings as u64) < CHANGES,
        "{pings} pings for {CHANGES} changes"
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_change_during_retries_is_covered() {
    // The hub fails a while; the feed changes in the meantime.
    let hub = start_hub(vec![reply(503); 4], reply(204)).await;
    let version = hub.hub.version.clone();
    let (tx, rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_millis(50),
        attempts: 10,
        max_retry_after: Duration::from_secs(1),
    };
    let p = Pinger::new(hub.url.clone(), vec![topic("feed.atom")], client())
        .with_backoff(backoff)
        .with_min_interval(Duration::ZERO);
    let task = tokio::spawn(p.run(rx, stop_rx));
    version.store(1, Ordering::SeqCst);
    tx.send(1).unwrap();
    hub.wait_for("a first ping", |r| !r.is_empty()).await;
    version.store(2, Ordering::SeqCst);
    tx.send(2).unwrap();
    hub.wait_for("the second version", |r| r.iter().any(|r| r.version == 2))
        .await;
    hub.wait_for("an accepted ping", |r| r.len() >= 5).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn nothing_is_sent_without_a_change() {
    let hub = start_hub(vec![], reply(204)).await;
    let (tx, rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pinger(&hub, vec![topic("feed.atom")], 3).run(rx, stop_rx));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.count(), 0);
    tx.send(1).unwrap();
    hub.wait_for("a ping", |r| r.len() == 1).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
    assert_eq!(hub.count(), 1);
}

#[tokio::test]
async fn shutdown_ends_a_retry_wait() {
    let hub = start_hub(vec![], reply(503)).await;
    let (tx, rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let backoff = Backoff {
        first: Duration::from_secs(3600),
        max: Duration::from_secs(3600),
        attempts: 5,
        max_retry_after: Duration::from_secs(3600),
    };
    let p = Pinger::new(hub.url.clone(), vec![topic("feed.atom")], client()).with_backoff(backoff);
    let task = tokio::spawn(p.run(rx, stop_rx));
    tx.send(1).unwrap();
    hub.wait_for("a ping", |r| !r.is_empty()).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run still waiting to retry after shutdown")
        .unwrap();
    assert_eq!(hub.count(), 1);
}

#[tokio::test]
async fn shutdown_ends_a_request_to_a_hung_hub() {
    let hung = Reply {
        status: 204,
        retry_after: None,
        delay: Duration::from_secs(3600),
    };
    let hub = start_hub(vec![], hung).await;
    let (tx, rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pinger(&hub, vec![topic("feed.atom")], 3).run(rx, stop_rx));
    tx.send(1).unwrap();
    hub.wait_for("a ping", |r| !r.is_empty()).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run still waiting for the hub after shutdown")
        .unwrap();
}

#[tokio::test]
async fn run_ends_when_the_changes_sender_is_gone() {
    let hub = start_hub(vec![], reply(204)).await;
    let (tx, rx) = watch::channel(0u64);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pinger(&hub, vec![topic("feed.atom")], 3).run(rx, stop_rx));
    drop(tx);
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
    assert_eq!(hub.count(), 0);
}

/// The daemon with `[blog] hub`: its feeds name the hub and themselves, and the hub
/// hears about every feed, category feeds included, when the daemon starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_names_the_hub_in_its_feeds_and_pings_it() {
    kawaraban::fetch::install_crypto_provider();
    let hub = start_hub(Vec::new(), reply(204)).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[blog]\nbase_url = \"http://blog.example/\"\nhub = \"{}\"\n[store]\npath = \"{}\"\n[[category]]\nname = \"ニュース\"\ndefault = true\n",
        hub.url,
        dir.path().join("db").display()
    );
    let config = kawaraban::config::Config::parse(&text, "t.toml").unwrap();
    let store = kawaraban::store::Store::open(&config.store.path, 1 << 20).unwrap();
    let daemon = kawaraban::daemon::Daemon::new(&config, store).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(daemon.run(listener, rx));

    hub.wait_for("a ping for every feed", |r| r.len() >= 6)
        .await;
    let mut topics: Vec<String> = hub
        .forms()
        .iter()
        .flat_map(|f| {
            f.iter()
                .filter(|(k, _)| k == "hub.url")
                .map(|(_, v)| v.clone())
        })
        .collect();
    topics.sort();
    topics.dedup();
    assert!(
        topics.contains(&"http://blog.example/feed.atom".to_string()),
        "{topics:?}"
    );
    assert!(
        topics.contains(
            &"http://blog.example/category/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9.json".to_string()
        ),
        "{topics:?}"
    );
    for path in ["feed.atom", "feed.rss"] {
        let body = client()
            .get(format!("http://{addr}/{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            body.contains(&format!("href=\"{}\"", hub.url)) && body.contains("rel=\"hub\""),
            "{body}"
        );
        assert!(
            body.contains(&format!("http://blog.example/{path}")),
            "{body}"
        );
    }
    let json = client()
        .get(format!("http://{addr}/feed.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["hubs"][0]["url"], hub.url.as_str());
    tx.send(true).unwrap();
    running.await.unwrap().unwrap();
}
