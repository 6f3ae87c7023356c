//! The fault matrix: one loopback server misbehaving in every way a feed host can, one
//! source per behaviour, polled by the real daemon at the same time as two healthy
//! sources on another port. Every faulty source must end with its own specific error
//! and back off (honouring Retry-After), the healthy ones must keep their interval and
//! be published, the daemon must keep answering, and its peak memory must stay under
//! 256 MiB with all of it in flight at once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{bin, text};
use kawaraban::parse::MAX_ENTRIES;
use kawaraban::store::{SourceState, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const INTERVAL: Duration = Duration::from_secs(2);
const TIMEOUT_SECS: u64 = 3;
const BULK_ENTRIES: usize = 100_000;
const RETRY_SECS: u64 = 120;
const RETRY_DATE_SECS: i64 = 150;
const MEMORY_LIMIT_KIB: u64 = 256 << 10;

/// Requests per path, on either server.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn hit(&self, path: &str) {
        *self.0.lock().unwrap().entry(path.to_owned()).or_default() += 1;
    }

    fn get(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

struct Origin {
    base: String,
    hits: Hits,
    bulk: Vec<u8>,
    /// Gzip header and first deflate block, then a block that is valid after any run of
    /// zeros: sent once and then over and over, a few KiB stand for gigabytes.
    bomb_head: Vec<u8>,
    bomb_block: Vec<u8>,
    marker_path: String,
}

fn rss(title: &str, items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.com/</link><description>d</description>\n{items}</channel></rss>\n"
    )
}

fn item(title: &str, link: &str, date: &str, body: &str) -> String {
    format!(
        "<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{date}</pubDate><description>{body}</description></item>\n"
    )
}

/// Newer than the bulk feed's entries, so the healthy ones lead the published feed;
/// fixed, so that a repeated poll finds nothing changed.
const DATE: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

fn bulk_feed(base: &str) -> Vec<u8> {
    let mut items = String::with_capacity(BULK_ENTRIES * 220);
    for i in 0..BULK_ENTRIES {
        items.push_str(&item(
            &format!("Bulk entry {i}"),
            &format!("{base}/bulk/{i}"),
            "Tue, 01 Sep 2020 00:00:00 GMT",
            &format!("Entry number {i} of the very long feed."),
        ));
    }
    rss("Bulk", &items).into_bytes()
}

/// A deflate stream of zeros cut into blocks with sync flushes: after the first block
/// the window holds only zeros, so the second block means the same wherever it is
/// repeated.
fn bomb_parts() -> (Vec<u8>, Vec<u8>) {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let block = |c: &mut Compress| {
        let mut out = Vec::with_capacity(64 << 10);
        let before = c.total_in();
        c.compress_vec(&zeros, &mut out, FlushCompress::Sync)
            .unwrap();
        assert_eq!(c.total_in() - before, zeros.len() as u64);
        out
    };
    let mut head = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    head.extend(block(&mut c));
    let repeat = block(&mut c);
    (head, repeat)
}

fn laughs() -> String {
    let mut dtd = String::from("<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE rss [\n{dtd}]>\n<rss version=\"2.0\"><channel><title>Laughs &lol9;</title><link>http://example.com/</link><description>d</description>\n{}</channel></rss>\n",
        item(
            "Laughing &lol9;",
            "http://example.com/laughs/1",
            DATE,
            "Body &lol9; end"
        )
    )
}

fn xxe(o: &Origin) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE rss SYSTEM \"{base}/xxe-dtd\" [\n<!ENTITY remote SYSTEM \"{base}/xxe-hit\">\n<!ENTITY local SYSTEM \"file://{file}\">\n<!ENTITY % param SYSTEM \"{base}/xxe-param\">\n%param;\n]>\n<rss version=\"2.0\"><channel><title>XXE &local;</title><link>http://example.com/</link><description>d</description>\n{}</channel></rss>\n",
        item(
            "Leak &local; &remote;",
            "http://example.com/xxe/1",
            DATE,
            "Body &local; &remote; end"
        ),
        base = o.base,
        file = o.marker_path,
    )
}

fn head(status: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

async fn whole(
    s: &mut TcpStream,
    status: &str,
    ct: &str,
    extra: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut headers = vec![
        ("Content-Type", ct.to_owned()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    s.write_all(&head(status, &headers)).await?;
    s.write_all(body).await?;
    s.shutdown().await
}

async fn redirect(s: &mut TcpStream, status: &str, to: String) -> std::io::Result<()> {
    whole(s, status, "text/plain", &[("Location", to)], b"moved").await
}

/// Writes `chunk` until `limit` bytes went out or the client hung up.
async fn stream(s: &mut TcpStream, chunk: &[u8], limit: u64) -> std::io::Result<()> {
    let mut sent = 0u64;
    while sent < limit {
        s.write_all(chunk).await?;
        sent += chunk.len() as u64;
    }
    s.shutdown().await
}

const RSS_TYPE: &str = "application/rss+xml; charset=utf-8";

async fn misbehave(mut s: TcpStream, path: &str, o: &Origin) -> std::io::Result<()> {
    let s = &mut s;
    if let Some(n) = path.strip_prefix("/chain/") {
        let n: usize = n.parse().unwrap_or(0);
        if n < 12 {
            let status = if n.is_multiple_of(2) {
                "301 Moved Permanently"
            } else {
                "302 Found"
            };
            return redirect(s, status, format!("{}/chain/{}", o.base, n + 1)).await;
        }
        return whole(s, "200 OK", RSS_TYPE, &[], rss("Chain end", "").as_bytes()).await;
    }
    match path {
        "/500" => {
            whole(
                s,
                "500 Internal Server Error",
                "text/html",
                &[],
                b"<h1>oops</h1>",
            )
            .await
        }
        "/502" => {
            whole(
                s,
                "502 Bad Gateway",
                "text/html",
                &[],
                b"<h1>bad gateway</h1>",
            )
            .await
        }
        "/503" => {
            whole(
                s,
                "503 Service Unavailable",
                "text/html",
                &[],
                b"<h1>down</h1>",
            )
            .await
        }
        "/429-seconds" => {
            let after = [("Retry-After", RETRY_SECS.to_string())];
            whole(
                s,
                "429 Too Many Requests",
                "text/plain",
                &after,
                b"slow down",
            )
            .await
        }
        "/429-date" => {
            let at = Utc::now() + chrono::Duration::seconds(RETRY_DATE_SECS);
            let after = [(
                "Retry-After",
                at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )];
            whole(
                s,
                "429 Too Many Requests",
                "text/plain",
                &after,
                b"slow down",
            )
            .await
        }
        "/loop/a" => redirect(s, "302 Found", format!("{}/loop/b", o.base)).await,
        "/loop/b" => redirect(s, "301 Moved Permanently", format!("{}/loop/a", o.base)).await,
        "/reset" => {
            let body = rss(
                "Reset",
                &item("Cut", "http://example.com/r", DATE, &"x".repeat(4000)),
            );
            let h = [
                ("Content-Type", RSS_TYPE.into()),
                ("Content-Length", "1048576".into()),
            ];
            s.write_all(&head("200 OK", &h)).await?;
            s.write_all(&body.as_bytes()[..2000]).await?;
            s.flush().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A zero linger turns the close into a RST, as a crashing peer or a
            // middlebox would.
            s.set_zero_linger()?;
            Ok(())
        }
        "/drip" => {
            let body = rss("Drip", &item("Drop", "http://example.com/d", DATE, "slow"));
            let h = [
                ("Content-Type", RSS_TYPE.into()),
                ("Content-Length", body.len().to_string()),
            ];
            s.write_all(&head("200 OK", &h)).await?;
            for b in body.as_bytes() {
                s.write_all(&[*b]).await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        "/stall" => {
            tokio::time::sleep(Duration::from_secs(300)).await;
            Ok(())
        }
        "/huge" => {
            let h = [
                ("Content-Type", RSS_TYPE.into()),
                ("Content-Length", (1u64 << 30).to_string()),
            ];
            s.write_all(&head("200 OK", &h)).await?;
            stream(s, &[b' '; 64 << 10], 1 << 30).await
        }
        "/huge-unannounced" => {
            s.write_all(&head("200 OK", &[("Content-Type", RSS_TYPE.into())]))
                .await?;
            stream(s, &[b' '; 64 << 10], 1 << 30).await
        }
        "/bomb" => {
            let h = [
                ("Content-Type", RSS_TYPE.into()),
                ("Content-Encoding", "gzip".into()),
            ];
            s.write_all(&head("200 OK", &h)).await?;
            s.write_all(&o.bomb_head).await?;
            // 8 GiB once inflated.
            stream(
                s,
                &o.bomb_block,
                (8u64 << 30) / (1 << 20) * o.bomb_block.len() as u64,
            )
            .await
        }
        "/wrong-type" => {
            let page = "<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>Our new website</h1><p>The feed moved.</p></body></html>";
            whole(
                s,
                "200 OK",
                "text/html; charset=utf-8",
                &[],
                page.as_bytes(),
            )
            .await
        }
        "/truncated" => {
            let items = format!(
                "{}{}",
                item("Whole entry", "http://example.com/t/1", DATE, "complete"),
                item(
                    "Cut entry",
                    "http://example.com/t/2",
                    DATE,
                    "this entry never ends because the connection"
                )
            );
            let full = rss("Truncated", &items);
            let cut = &full.as_bytes()[..full.find("because").unwrap()];
            whole(s, "200 OK", RSS_TYPE, &[], cut).await
        }
        "/bad-utf8" => {
            let mut body = rss(
                "Bad UTF-8",
                &item("Caf\u{1}MARK", "http://example.com/u/1", DATE, "body"),
            )
            .into_bytes();
            let at = body.windows(5).position(|w| w == b"\x01MARK").unwrap();
            body.splice(at..at + 5, *b"\xe9 \xff\xfe \xc3\x28");
            whole(s, "200 OK", RSS_TYPE, &[], &body).await
        }
        "/bulk" => whole(s, "200 OK", RSS_TYPE, &[], &o.bulk).await,
        "/laughs" => whole(s, "200 OK", RSS_TYPE, &[], laughs().as_bytes()).await,
        "/xxe" => whole(s, "200 OK", RSS_TYPE, &[], xxe(o).as_bytes()).await,
        "/endless-feed" => {
            let link = format!("{}/endless/page.html", o.base);
            let body = rss(
                "Endless",
                &item("The page that never ends", &link, DATE, "see the page"),
            );
            whole(s, "200 OK", RSS_TYPE, &[], body.as_bytes()).await
        }
        "/endless/page.html" => {
            s.write_all(&head(
                "200 OK",
                &[("Content-Type", "text/html; charset=utf-8".into())],
            ))
            .await?;
            s.write_all(b"<!DOCTYPE html><html><head><title>Forever</title></head><body><article>")
                .await?;
            let para = "<p>And the story goes on and on, with no end in sight.</p>\n".repeat(1000);
            stream(s, para.as_bytes(), u64::MAX).await
        }
        _ => whole(s, "404 Not Found", "text/plain", &[], b"not found").await,
    }
}

async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 || buf.len() > 64 << 10 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// Raw TCP rather than a framework, so that resets, stalls and lying headers are
/// exactly what is sent.
async fn start_faulty(dir: &Path) -> Arc<Origin> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let marker_path = dir.join("secret.txt");
    std::fs::write(&marker_path, "KAWARABAN-XXE-MARKER-7f3a").unwrap();
    let (bomb_head, bomb_block) = bomb_parts();
    let origin = Arc::new(Origin {
        bulk: bulk_feed(&base),
        base,
        hits: Hits::default(),
        bomb_head,
        bomb_block,
        marker_path: marker_path.display().to_string(),
    });
    let o = origin.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let o = o.clone();
            tokio::spawn(async move {
                if let Some(path) = read_head(&mut s).await {
                    o.hits.hit(&path);
                    let _ = misbehave(s, &path, &o).await;
                }
            });
        }
    });
    origin
}

async fn start_healthy() -> (String, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Hits::default();
    let h = hits.clone();
    let b = base.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (h, b) = (h.clone(), b.clone());
            tokio::spawn(async move {
                let Some(path) = read_head(&mut s).await else {
                    return;
                };
                h.hit(&path);
                let name = match path.as_str() {
                    "/a.xml" => "Alpha",
                    "/b.xml" => "Beta",
                    _ => {
                        let _ = whole(&mut s, "404 Not Found", "text/plain", &[], b"").await;
                        return;
                    }
                };
                let items: String = (1..=2)
                    .map(|i| {
                        item(
                            &format!("{name} healthy story {i}"),
                            &format!("{b}/{name}/{i}"),
                            DATE,
                            "A healthy entry.",
                        )
                    })
                    .collect();
                let _ = whole(
                    &mut s,
                    "200 OK",
                    RSS_TYPE,
                    &[],
                    rss(name, &items).as_bytes(),
                )
                .await;
            });
        }
    });
    (base, hits)
}

/// (source name, path, what its error must say)
const FAULTS: &[(&str, &str, &[&str])] = &[
    ("f-500", "/500", &["HTTP 500"]),
    ("f-502", "/502", &["HTTP 502"]),
    ("f-503", "/503", &["HTTP 503"]),
    (
        "f-429-seconds",
        "/429-seconds",
        &["HTTP 429", "retry after 120s"],
    ),
    ("f-429-date", "/429-date", &["HTTP 429", "retry after 1"]),
    ("f-chain", "/chain/0", &["more than 10 redirects"]),
    (
        "f-loop",
        "/loop/a",
        &["redirect loop", "/loop/b redirects back to", "/loop/a"],
    ),
    (
        "f-reset",
        "/reset",
        &["connection failed while reading the body", "reset"],
    ),
    ("f-drip", "/drip", &["timed out after 3s"]),
    ("f-stall", "/stall", &["timed out after 3s"]),
    (
        "f-huge",
        "/huge",
        &["larger than the limit of 8388608 bytes"],
    ),
    (
        "f-huge-unannounced",
        "/huge-unannounced",
        &["larger than the limit of 8388608 bytes"],
    ),
    (
        "f-bomb",
        "/bomb",
        &["larger than the limit of 8388608 bytes"],
    ),
    ("f-wrong-type", "/wrong-type", &["not a feed"]),
    ("f-truncated", "/truncated", &["not a feed"]),
];

/// Sources whose poll succeeds although something in them is hostile.
const TOLERATED: &[(&str, &str)] = &[
    ("f-bad-utf8", "/bad-utf8"),
    ("f-laughs", "/laughs"),
    ("f-xxe", "/xxe"),
    ("f-endless-page", "/endless-feed"),
    ("f-bulk", "/bulk"),
];

fn config(origin: &Origin, healthy: &str, dir: &Path, listen: &str) -> String {
    let mut s = format!(
        r#"[blog]
base_url = "http://{listen}/"
max_entries = 50

[server]
listen = "{listen}"

[store]
path = "{}"
cache_size = "8MiB"

# Everything in flight at once: the worst case for memory, and no fault waits for another.
[fetch]
interval = "{}s"
timeout = "{TIMEOUT_SECS}s"
connect_timeout = "2s"
max_backoff = "1m"
concurrency = 32
per_host = 32
allow_private = ["127.0.0.0/8"]
"#,
        dir.join("db").display(),
        INTERVAL.as_secs(),
    );
    let mut add = |name: &str, url: String, extra: &str| {
        s.push_str(&format!(
            "\n[[source]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}"
        ));
    };
    // Short descriptions would otherwise send every entry to its article page.
    let never = "full_text = \"never\"\n";
    for (name, path, _) in FAULTS {
        add(name, format!("{}{path}", origin.base), never);
    }
    for (name, path) in TOLERATED {
        let extra = match *name {
            "f-bulk" => "full_text = \"never\"\nmax_bytes = \"64MiB\"\n",
            "f-endless-page" => "full_text = \"always\"\n",
            _ => never,
        };
        add(name, format!("{}{path}", origin.base), extra);
    }
    add("Alpha", format!("{healthy}/a.xml"), never);
    add("Beta", format!("{healthy}/b.xml"), never);
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// The most polls a source backing off from `INTERVAL` (doubling, with -10 % jitter)
/// can have had in `elapsed`.
fn most_polls_with_backoff(elapsed: Duration) -> usize {
    let mut at = Duration::ZERO;
    let mut delay = INTERVAL.mul_f64(0.9);
    let mut polls = 1;
    while at + delay <= elapsed {
        at += delay;
        polls += 1;
        if polls > 2 {
            delay *= 2;
        }
    }
    polls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_fails_alone_and_the_daemon_keeps_serving() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let origin = start_faulty(dir.path()).await;
    let (healthy, healthy_hits) = start_healthy().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(&cfg, config(&origin, &healthy, dir.path(), &listen)).unwrap();
    let log_path = dir.path().join("daemon.log");
    let mut daemon = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = daemon.id().unwrap();
    let log = || text(&std::fs::read(&log_path).unwrap_or_default());
    let base = format!("http://{listen}");
    kawaraban::fetch::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The daemon must answer its readers throughout the storm, not only before it.
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    let mut storm_started = None;
    let bulk_done = |log: &str| {
        log.lines()
            .any(|l| l.contains("source=f-bulk") && l.contains("polled"))
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        for path in ["/healthz", "/feed.atom"] {
            let t = Instant::now();
            match client.get(format!("{base}{path}")).send().await {
                Ok(r) if r.status() == 200 => {
                    storm_started.get_or_insert(Instant::now());
                    answered += 1;
                    slowest = slowest.max(t.elapsed());
                }
                other if storm_started.is_some() => {
                    panic!("{path} failed during the storm: {other:?}\n{}", log())
                }
                _ => {}
            }
        }
        let polls_each = ["/a.xml", "/b.xml"].map(|p| healthy_hits.get(p));
        let every_fault_tried = FAULTS
            .iter()
            .map(|f| f.1)
            .chain(TOLERATED.iter().map(|t| t.1))
            .all(|p| origin.hits.get(p) > 0);
        if polls_each.iter().all(|n| *n >= 5) && every_fault_tried && bulk_done(&log()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the storm did not settle: healthy polls {polls_each:?}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let storm = storm_started.unwrap().elapsed();
    let peak_kib = vm_hwm_kib(pid);

    let atom = client
        .get(format!("{base}/feed.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for t in ["Alpha healthy story 1", "Beta healthy story 2"] {
        assert!(atom.contains(t), "{t} is not published:\n{atom}");
    }

    let stop = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(stop.success());
    let exit = tokio::time::timeout(Duration::from_secs(45), daemon.wait())
        .await
        .expect("the daemon stops on SIGTERM")
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{}", log());

    let store = Store::open(&dir.path().join("db"), 8 << 20).unwrap();
    let state = |path: &str| -> SourceState {
        store
            .source_state(&format!("{}{path}", origin.base))
            .unwrap()
    };
    let secs = |s: &SourceState| (s.next_poll.unwrap() - s.last_attempt.unwrap()).as_seconds_f64();
    println!(
        "storm of {:.1}s: daemon peak RSS (VmHWM) {:.1} MiB; {answered} reader requests answered, slowest {:?}",
        storm.as_secs_f64(),
        peak_kib as f64 / 1024.0,
        slowest
    );

    let most = most_polls_with_backoff(storm + Duration::from_secs(2));
    for (name, path, needles) in FAULTS {
        let s = state(path);
        let err = s.last_error.clone().unwrap_or_default();
        let hits = origin.hits.get(path);
        println!(
            "{name:20} hits {hits:2}  failures {}  next poll +{:6.1}s  {err}",
            s.consecutive_failures,
            secs(&s)
        );
        for n in *needles {
            assert!(err.contains(n), "{name}: {n:?} not in {err:?}");
        }
        assert!(s.consecutive_failures >= 1, "{name}: {s:?}");
        assert!(s.last_success.is_none(), "{name}: {s:?}");
        let f = s.consecutive_failures;
        let backoff = INTERVAL.as_secs_f64() * 2f64.powi(f as i32 - 1).min(30.0) * 0.9;
        assert!(secs(&s) >= backoff - 0.01, "{name} did not back off: {s:?}");
        assert!(
            hits <= most,
            "{name}: {hits} requests in {storm:?} (at most {most} with backoff)"
        );
    }
    for path in ["/429-seconds", "/429-date"] {
        assert_eq!(
            origin.hits.get(path),
            1,
            "{path} was asked again before Retry-After"
        );
        assert_eq!(state(path).last_status, Some(429));
    }
    assert!(secs(&state("/429-seconds")) >= RETRY_SECS as f64);
    assert!(secs(&state("/429-date")) >= (RETRY_DATE_SECS - 2) as f64);
    assert_eq!(state("/500").last_status, Some(500));
    // Ten redirects are followed, so the eleventh hop is never asked for.
    assert_eq!(
        origin.hits.get("/chain/10"),
        origin.hits.get("/chain/0"),
        "the chain was followed to its limit"
    );
    assert_eq!(origin.hits.get("/chain/11"), 0);

    for (name, path) in TOLERATED {
        let s = state(path);
        println!(
            "{name:20} hits {:2}  failures {}  articles {}  error {:?}  page error {:?}",
            origin.hits.get(path),
            s.consecutive_failures,
            s.articles,
            s.last_error,
            s.last_page_error
        );
    }
    let log = log();
    let articles: Vec<_> = store.all_articles().map(Result::unwrap).collect();
    let dump: String = articles
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();

    // Internal subsets are dropped before parsing: nothing is expanded or fetched.
    for path in ["/xxe-hit", "/xxe-dtd", "/xxe-param"] {
        assert_eq!(origin.hits.get(path), 0, "{path} was fetched");
    }
    for text in [&dump, &atom] {
        assert!(
            !text.contains("KAWARABAN-XXE-MARKER"),
            "the local file leaked"
        );
        assert!(!text.contains("lollollol"), "an entity was expanded");
    }
    let (hits_a, hits_b) = (healthy_hits.get("/a.xml"), healthy_hits.get("/b.xml"));
    println!(
        "healthy polls: Alpha {hits_a}, Beta {hits_b} in {storm:?}; test took {:?}",
        started.elapsed()
    );
    assert!(!state("/chain/0").last_error.unwrap().contains("loop"));

    // A feed of that length is read up to the limit, and that much is stored.
    let bulk = state("/bulk");
    assert!(bulk.last_error.is_none(), "{bulk:?}");
    assert_eq!(bulk.articles, MAX_ENTRIES as u64);
    let polled_at = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("no {needle:?} in the log"))
    };
    println!(
        "bulk feed of {BULK_ENTRIES} entries ({} MiB) polled in {:.1}s after the daemon started",
        origin.bulk.len() >> 20,
        (polled_at("source=f-bulk") - polled_at("serving")).as_seconds_f64()
    );
    assert!(log.contains("skipped=99000"), "{log}");

    let tolerated = |path: &str| {
        let s = state(path);
        assert!(s.last_error.is_none(), "{path}: {s:?}");
        let stored: Vec<_> = articles
            .iter()
            .filter(|a| a.source_url == format!("{}{path}", origin.base))
            .collect();
        assert_eq!(stored.len(), 1, "{path}");
        (s, stored[0].clone())
    };
    // Invalid sequences become U+FFFD; the rest of the feed is read.
    let (_, a) = tolerated("/bad-utf8");
    assert!(a.title.starts_with("Caf\u{FFFD}"), "{}", a.title);
    let (_, a) = tolerated("/laughs");
    assert!(a.title.starts_with("Laughing"), "{}", a.title);
    tolerated("/xxe");
    // The feed's own text stands in for the page, and the source says why.
    let (s, a) = tolerated("/endless-feed");
    assert!(
        !a.full_text && a.content_text.contains("see the page"),
        "{a:?}"
    );
    let page_error = s.last_page_error.unwrap();
    assert!(
        page_error.contains("/endless/page.html") && page_error.contains("larger than the limit"),
        "{page_error}"
    );
    assert!(
        peak_kib < MEMORY_LIMIT_KIB,
        "peak RSS {peak_kib} KiB is over 256 MiB"
    );
}
