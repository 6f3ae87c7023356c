//! Crash safety: the daemon is killed with SIGKILL at seeded random moments while it
//! ingests the sample newsroom and a few hundred generated articles, and restarted
//! each time. Nothing a reader was served may be lost, nothing may be stored twice,
//! and once the ingest has finished the feeds must be those of a run that was never
//! interrupted. `kawaraban export` reads the store between the runs, and its output
//! must survive `kawaraban import` unchanged.

#[allow(dead_code)]
#[path = "../examples/newsroom.rs"]
mod newsroom;

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::DateTime;
use common::{bin, run, text};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncBufReadExt;

const SEED: u64 = 0x6b61_7761_7261_6261;
const KILLS: usize = 24;
/// Kills land this long after the daemon's start, at most: over its start-up (opening
/// the store, judging what a kill left unjudged) and its first polls.
const KILL_WITHIN_MS: u64 = 1500;
const GENERATED_FEEDS: usize = 6;
const ENTRIES_PER_FEED: usize = 40;

/// A loopback server of generated RSS feeds that grow: each shows its first quarter
/// of entries at first, one quarter more every `REVEALED_AFTER / 4`. The feeds carry
/// the first paragraph and the sources fetch every new article's page, which answers
/// slowly while the feeds grow: a poll stores its new articles one by one over a second
/// or more, so kills land among those writes (the uninterrupted run, once the feeds are
/// whole, is not slowed). The feeds send no validators: every poll reads them whole.
#[derive(Clone)]
struct Generated {
    /// Per feed, oldest first: title, date, paragraphs.
    items: Arc<Vec<Vec<Item>>>,
    origin: String,
    start: Instant,
}

struct Item {
    title: String,
    date: String,
    paragraphs: Vec<String>,
}

const REVEALED_AFTER: Duration = Duration::from_secs(20);
const REVEAL_STEPS: usize = 4;
const PAGE_DELAY: Duration = Duration::from_millis(50);

impl Generated {
    fn feed(&self, n: usize) -> Option<String> {
        let items = self.items.get(n)?;
        let step = (self.start.elapsed().as_secs_f64() / REVEALED_AFTER.as_secs_f64()
            * REVEAL_STEPS as f64) as usize
            + 1;
        let shown = items.len() * step.min(REVEAL_STEPS) / REVEAL_STEPS;
        let origin = &self.origin;
        let body: String = items[..shown]
            .iter()
            .enumerate()
            .map(|(i, item)| {
                format!(
                    "<item><title>{}</title><link>{origin}/gen/{n}/{i}.html</link><pubDate>{}</pubDate><description>&lt;p&gt;{}&lt;/p&gt;</description></item>\n",
                    item.title, item.date, item.paragraphs[0]
                )
            })
            .collect();
        Some(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>生成 {n}</title><link>{origin}/gen/{n}/</link><description>generated</description>\n{body}</channel></rss>\n"
        ))
    }

    fn page(&self, n: usize, file: &str) -> Option<String> {
        let i: usize = file.strip_suffix(".html")?.parse().ok()?;
        let item = self.items.get(n)?.get(i)?;
        let paragraphs: String = item
            .paragraphs
            .iter()
            .map(|p| format!("<p>{p}</p>"))
            .collect();
        Some(format!(
            "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{0}</title></head><body><nav><a href=\"/\">トップ</a></nav><article><h1>{0}</h1>{paragraphs}</article><footer>生成 {n}</footer></body></html>",
            item.title
        ))
    }
}

async fn serve_generated(
    State(g): State<Generated>,
    UrlPath((n, file)): UrlPath<(usize, String)>,
) -> axum::response::Response {
    if file == "feed.xml" {
        let feed = g.feed(n).unwrap_or_default();
        return ([(header::CONTENT_TYPE, "application/rss+xml")], feed).into_response();
    }
    if g.start.elapsed() < REVEALED_AFTER {
        tokio::time::sleep(PAGE_DELAY).await;
    }
    match g.page(n, &file) {
        Some(page) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Random katakana words: every article's text differs from every other's, so none
/// is taken for a copy of another story.
fn words(rng: &mut StdRng, n: usize) -> String {
    const KANA: &[char] = &[
        'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ',
        'タ', 'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ',
        'マ', 'ミ', 'ム', 'メ', 'モ', 'ラ', 'リ', 'ル', 'レ', 'ロ',
    ];
    let mut out = String::new();
    for w in 0..n {
        if w > 0 {
            out.push_str(if w % 7 == 0 { "。" } else { "の" });
        }
        for _ in 0..rng.random_range(2..5) {
            out.push(KANA[rng.random_range(0..KANA.len())]);
        }
    }
    out
}

fn generated_items() -> Vec<Vec<Item>> {
    let mut rng = StdRng::seed_from_u64(SEED ^ 1);
    let start = DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap();
    (0..GENERATED_FEEDS)
        .map(|f| {
            (0..ENTRIES_PER_FEED)
                .map(|i| Item {
                    title: format!("セキュリティ速報 {f}-{i} {}", words(&mut rng, 3)),
                    date: (start + chrono::Duration::minutes((i * GENERATED_FEEDS + f) as i64))
                        .to_rfc2822(),
                    paragraphs: vec![
                        format!(
                            "不正アクセスの続報、第{}報。{}。",
                            f * 1000 + i,
                            words(&mut rng, 20)
                        ),
                        format!("{}。", words(&mut rng, 30)),
                        format!("{}。", words(&mut rng, 30)),
                    ],
                })
                .collect()
        })
        .collect()
}

/// `config/offline.toml` aimed at the newsroom on `newsroom`, plus the generated
/// feeds: a short interval, and a feed long enough to show every post.
fn crash_config(newsroom: &str, generated: &str, dir: &Path, listen: &str) -> PathBuf {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let original = std::fs::read_to_string(config_dir.join("offline.toml")).unwrap();
    let mut config: toml::Table = original.parse().unwrap();
    let demo_origin = format!("http://127.0.0.1:{}", newsroom::CONFIG_PORT);
    config["store"]["path"] = dir.join("store").to_str().unwrap().into();
    config["server"]["listen"] = listen.into();
    config["blog"]["max_entries"] = 1000.into();
    config["fetch"]["interval"] = "1s".into();
    for source in config["source"].as_array_mut().unwrap() {
        let url = source["url"].as_str().unwrap();
        let rest = url.strip_prefix(&demo_origin).unwrap();
        source["url"] = format!("{newsroom}{rest}").into();
    }
    for category in config["category"].as_array_mut().unwrap() {
        if let Some(examples) = category.get("examples").and_then(|e| e.as_str()) {
            category["examples"] = config_dir.join(examples).to_str().unwrap().into();
        }
    }
    let sources = config["source"].as_array_mut().unwrap();
    for f in 0..GENERATED_FEEDS {
        let mut s = toml::Table::new();
        s.insert("name".into(), format!("生成 {f}").into());
        s.insert("url".into(), format!("{generated}/gen/{f}/feed.xml").into());
        s.insert("full_text".into(), "always".into());
        sources.push(s.into());
    }
    let path = dir.join("crash.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// What the checks read of an Atom entry. The id is the article part of the `tag:`
/// URI: its date is the first-seen day, which two runs share only on the same day.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: String,
    link: String,
    title: String,
    content: String,
    published: Option<DateTime<chrono::FixedOffset>>,
    category: Option<String>,
}

fn entries(atom: &[u8]) -> Option<Vec<Entry>> {
    let feed = atom_syndication::Feed::read_from(atom).ok()?;
    Some(
        feed.entries
            .iter()
            .map(|e| Entry {
                id: e.id.rsplit("post/").next().unwrap_or_default().to_owned(),
                link: e
                    .links
                    .iter()
                    .find(|l| l.rel == "alternate")
                    .map(|l| l.href.clone())
                    .unwrap_or_default(),
                title: e.title.value.clone(),
                content: e
                    .content
                    .as_ref()
                    .and_then(|c| c.value.clone())
                    .unwrap_or_default(),
                published: e.published,
                category: e.categories.first().map(|c| c.term.clone()),
            })
            .collect(),
    )
}

/// No post twice in one feed: by id, and by the article it links.
fn assert_no_repeats(feed: &[Entry], when: &str) {
    let ids: HashSet<&str> = feed.iter().map(|e| e.id.as_str()).collect();
    let links: HashSet<&str> = feed.iter().map(|e| e.link.as_str()).collect();
    assert_eq!(ids.len(), feed.len(), "{when}: an id served twice");
    assert_eq!(links.len(), feed.len(), "{when}: an article served twice");
}

/// A stored article as `kawaraban export` writes it, with what the checks read.
struct Stored {
    key: String,
    link: Option<String>,
    aliases: Vec<String>,
    post: bool,
    on_topic: bool,
    duplicate_of: Option<String>,
}

/// Exports the store with the command (so the store must open) and reads it back.
async fn export(cfg: &Path) -> (String, BTreeMap<String, Stored>) {
    let out = run(cfg, &["export"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "the store does not open: {}",
        text(&out.stderr)
    );
    let lines = text(&out.stdout);
    let mut articles = BTreeMap::new();
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "article" {
            continue;
        }
        let j = &v["judgement"];
        let on_topic = j["topic"]["on_topic"].as_bool().unwrap_or(false);
        let duplicate_of = j["duplicate_of"].as_str().map(str::to_owned);
        let stored = Stored {
            key: v["key"].as_str().unwrap().to_owned(),
            link: v["link"].as_str().map(str::to_owned),
            aliases: serde_json::from_value(v["aliases"].clone()).unwrap(),
            post: on_topic && duplicate_of.is_none(),
            on_topic,
            duplicate_of,
        };
        let id = v["id"].as_str().unwrap().to_owned();
        assert!(
            articles.insert(id.clone(), stored).is_none(),
            "{id} stored twice"
        );
    }
    (lines, articles)
}

/// Nothing stored twice: every key and every link names one article.
fn assert_stored_once(articles: &BTreeMap<String, Stored>, when: &str) {
    let mut keys = HashSet::new();
    let mut links = HashSet::new();
    for (id, a) in articles {
        for k in std::iter::once(&a.key).chain(&a.aliases) {
            assert!(
                keys.insert(k.clone()),
                "{when}: key {k} stored twice ({id})"
            );
        }
        if let Some(l) = &a.link {
            assert!(links.insert(l.clone()), "{when}: {l} stored twice ({id})");
        }
    }
}

struct Daemon {
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<String>>>,
    log_done: tokio::task::JoinHandle<()>,
}

fn start(cfg: &Path) -> Daemon {
    let mut child = bin()
        .arg("--config")
        .arg(cfg)
        .arg("serve")
        // Every article judged is logged within its poll, so the log tells which
        // polls were storing when the kill came.
        .env(
            "RUST_LOG",
            "info,html5ever=off,sled=warn,kawaraban::ingest=debug",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    let log_done = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    Daemon {
        child,
        log,
        log_done,
    }
}

impl Daemon {
    /// SIGKILL, then the whole of its log. A daemon that is gone already failed to
    /// start on what the last kill left, or stopped by itself.
    async fn kill(mut self) -> Vec<String> {
        let exited = self.child.try_wait().unwrap();
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.log_done.await.unwrap();
        let log = std::mem::take(&mut *self.log.lock().unwrap());
        assert!(
            exited.is_none(),
            "the daemon exited ({exited:?}):\n{}",
            log.join("\n")
        );
        log
    }
}

/// Whether a poll of a generated feed had judged (so stored) an article and not
/// finished: its changes were not all flushed yet.
fn storing_when_killed(log: &[String]) -> bool {
    let mut open: BTreeMap<&str, bool> = BTreeMap::new();
    for line in log {
        let Some(url) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("url="))
            .filter(|u| u.contains("/gen/"))
        else {
            continue;
        };
        let url = url.trim_end_matches(['}', ':']);
        if line.contains(" judged ") {
            open.insert(url, true);
        } else if line.contains(" polled ") || line.contains(" poll failed ") {
            open.insert(url, false);
        }
    }
    open.values().any(|o| *o)
}

/// The main feeds and the front page, rendered from a store no daemon holds.
fn render(cfg: &Path) -> [(&'static str, bytes::Bytes); 4] {
    let config = kawaraban::config::Config::load(cfg).unwrap();
    let store = kawaraban::store::Store::open(&config.store.path, 1 << 20).unwrap();
    let site = kawaraban::publish::site::Site::new(&config);
    ["feed.atom", "feed.rss", "feed.json", "index.html"]
        .map(|p| (p, site.render(&store, p).unwrap().unwrap().body))
}

async fn get_feed(client: &reqwest::Client, listen: &str) -> Option<Vec<Entry>> {
    let resp = client
        .get(format!("http://{listen}/feed.atom"))
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    entries(&resp.bytes().await.ok()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_the_daemon_loses_and_repeats_nothing() {
    kawaraban::fetch::install_crypto_provider();
    let began = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let newsroom_origin = format!("http://{}", listener.local_addr().unwrap());
    let site = newsroom::build_site(&newsroom_origin).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, newsroom::router(site)).await.unwrap();
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let generated_origin = format!("http://{}", listener.local_addr().unwrap());
    let generated = Generated {
        items: Arc::new(generated_items()),
        origin: generated_origin.clone(),
        start: Instant::now(),
    };
    let app = Router::new()
        .route("/gen/{n}/{file}", get(serve_generated))
        .with_state(generated.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");

    // The run that is never interrupted: one pass over every source once the feeds
    // are whole, alongside the last kills (on its own store).
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_cfg = crash_config(
        &newsroom_origin,
        &generated_origin,
        clean_dir.path(),
        &listen,
    );
    let clean_run = {
        let cfg = clean_cfg.clone();
        let whole = generated.start + REVEALED_AFTER;
        tokio::spawn(async move {
            tokio::time::sleep_until(whole.into()).await;
            let fetched = run(&cfg, &["fetch"]).await;
            assert_eq!(fetched.status.code(), Some(0), "{}", text(&fetched.stderr));
            entries(&render(&cfg)[0].1).unwrap()
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let cfg = crash_config(&newsroom_origin, &generated_origin, dir.path(), &listen);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut ever_served: BTreeSet<String> = BTreeSet::new();
    let mut mid_writes = 0;
    for kill in 0..KILLS {
        let delay = Duration::from_millis(rng.random_range(0..=KILL_WITHIN_MS));
        let daemon = start(&cfg);
        let started = Instant::now();
        // Reads the feed as often as it can until the kill; only whole responses count.
        let served: Arc<Mutex<Vec<Vec<Entry>>>> = Arc::default();
        let reader = {
            let (client, listen, served) = (client.clone(), listen.clone(), served.clone());
            tokio::spawn(async move {
                loop {
                    if let Some(feed) = get_feed(&client, &listen).await {
                        served.lock().unwrap().push(feed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        tokio::time::sleep_until((started + delay).into()).await;
        let log = daemon.kill().await;
        reader.abort();
        let _ = reader.await;
        assert!(
            !log.iter().any(|l| l.contains("panicked")),
            "kill {kill}: {}",
            log.join("\n")
        );

        let when = format!("kill {kill} at {delay:?}");
        let served = std::mem::take(&mut *served.lock().unwrap());
        for feed in &served {
            assert_no_repeats(feed, &when);
            ever_served.extend(feed.iter().map(|e| e.id.clone()));
        }
        let (_, stored) = export(&cfg).await;
        assert_stored_once(&stored, &when);
        // Served once, published for good: still stored, and a post, or folded into
        // one (a copy of its story from a poll that began earlier, finishing later,
        // takes the story over).
        for id in &ever_served {
            let a = stored
                .get(id)
                .unwrap_or_else(|| panic!("{when}: {id} was served, and is lost"));
            let published = a.post
                || a.on_topic
                    && a.duplicate_of
                        .as_ref()
                        .and_then(|root| stored.get(root))
                        .is_some_and(|r| r.post);
            assert!(published, "{when}: {id} was served, and is not any more");
        }

        if storing_when_killed(&log) {
            mid_writes += 1;
        }
    }
    let kills_took = began.elapsed();
    let clean = clean_run.await.unwrap();
    let (_, clean_stored) = export(&clean_cfg).await;
    assert_stored_once(&clean_stored, "the clean run");
    assert!(
        clean.len() > GENERATED_FEEDS * ENTRIES_PER_FEED,
        "{}",
        clean.len()
    );

    // After the last restart, once the ingest has caught up: the clean run's feed.
    let daemon = start(&cfg);
    let mut last = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(feed) = get_feed(&client, &listen).await {
            last = feed;
            if last.len() == clean.len() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The store is the daemon's: export says so instead of reading it underneath.
    let refused = run(&cfg, &["export"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("in use by a running daemon"),
        "{}",
        text(&refused.stderr)
    );
    daemon.kill().await;
    let (exported, stored) = export(&cfg).await;
    assert_stored_once(&stored, "at the end");
    assert_no_repeats(&last, "at the end");
    let links = |feed: &[Entry]| feed.iter().map(|e| e.link.clone()).collect::<Vec<_>>();
    assert_eq!(links(&last), links(&clean), "the posts, in order");
    for (got, want) in last.iter().zip(&clean) {
        // A story two outlets ran keeps the id of the copy stored first, which the
        // concurrent polls decide in any run: either copy's id is right.
        let folded_into = |id: &str, root: &str| {
            stored
                .get(id)
                .is_some_and(|a| a.duplicate_of.as_deref() == Some(root))
        };
        assert!(
            got.id == want.id || folded_into(&want.id, &got.id),
            "{}: id {} against {}",
            got.link,
            got.id,
            want.id
        );
        // `updated` is left out: it follows the first-seen and judging times.
        assert_eq!(
            (&got.title, &got.content, got.published, &got.category),
            (&want.title, &want.content, want.published, &want.category),
            "{}",
            got.link
        );
    }

    // The crash-run store through export and import: the same lines, the same feeds.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy_cfg = crash_config(
        &newsroom_origin,
        &generated_origin,
        copy_dir.path(),
        &listen,
    );
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &exported).unwrap();
    let imported = run(&copy_cfg, &["import", file.to_str().unwrap()]).await;
    assert_eq!(
        imported.status.code(),
        Some(0),
        "{}",
        text(&imported.stderr)
    );
    let again = run(&copy_cfg, &["import", file.to_str().unwrap()]).await;
    assert_eq!(again.status.code(), Some(1), "a second import is refused");
    assert!(
        text(&again.stderr).contains("--replace"),
        "{}",
        text(&again.stderr)
    );
    let (reexported, _) = export(&copy_cfg).await;
    assert!(
        exported == reexported,
        "export → import → export changed the lines"
    );
    let (original, copy) = (render(&cfg), render(&copy_cfg));
    for ((path, a), (_, b)) in original.iter().zip(&copy) {
        assert!(a == b, "{path} differs after export and import");
    }

    eprintln!(
        "{KILLS} kills, {mid_writes} of them while a poll was storing articles; {} posts served before kills; kills done after {kills_took:?}, all after {:?}",
        ever_served.len(),
        began.elapsed()
    );
}
