//! Live reload against a running daemon on loopback: sources added and removed by
//! rewriting `feeds.toml`, a reload by SIGHUP alone, an invalid file rejected while the
//! old configuration keeps working, and a `[topic]` change that applies to new articles
//! (stored ones follow with `recategorize --apply`).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{
    NewsServer, daemon_sections, free_listen, replace_file, run, signal, spawn_daemon_logged,
    start_news_server, text, wait_healthy,
};

fn head(store: &Path, listen: &str, extra: &str) -> String {
    format!(
        "[blog]\ntitle = \"reload\"\n\n{}{extra}\n",
        daemon_sections(store, listen, "1s")
    )
}

fn source(news: &NewsServer, name: &str, path: &str) -> String {
    format!(
        "\n[[source]]\nname = \"{name}\"\nurl = \"{}\"\nfull_text = \"never\"\n",
        news.url(path)
    )
}

/// Waits (bounded) until `path` on the news server has been asked at least `n` times.
async fn wait_hits(news: &NewsServer, path: &str, n: usize) {
    for _ in 0..600 {
        if news.hits(path) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} was asked {} times, not {n}", news.hits(path));
}

#[tokio::test]
async fn sources_come_and_go_when_the_file_changes() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    let head = head(&dir.path().join("db"), &listen, "");
    std::fs::write(&cfg, format!("{head}{}", source(&news, "Atom", "atom.xml"))).unwrap();
    let (daemon, log) = spawn_daemon_logged(&cfg, &[]);
    wait_healthy(&listen).await;
    wait_hits(&news, "atom.xml", 1).await;
    assert_eq!(news.hits("feed.json"), 0);

    // Added: polled without a restart.
    replace_file(
        &cfg,
        &format!(
            "{head}{}{}",
            source(&news, "Atom", "atom.xml"),
            source(&news, "Wire", "feed.json")
        ),
    );
    wait_hits(&news, "feed.json", 1).await;
    log.wait_for("source added", 1).await;

    // Removed: no longer asked. The scheduler has surely taken the new list once the
    // remaining source has been polled twice after the reload; from then on, three
    // more polls of it (a second apart) would each have come with one of the removed.
    replace_file(
        &cfg,
        &format!("{head}{}", source(&news, "Wire", "feed.json")),
    );
    log.wait_for("source removed", 1).await;
    let wire = news.hits("feed.json");
    wait_hits(&news, "feed.json", wire + 2).await;
    let atom = news.hits("atom.xml");
    let wire = news.hits("feed.json");
    wait_hits(&news, "feed.json", wire + 3).await;
    assert_eq!(news.hits("atom.xml"), atom, "a removed source was polled");
    assert_eq!(
        reqwest::get(format!("http://{listen}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    drop(daemon);
}

#[tokio::test]
async fn sighup_reloads_what_the_watch_cannot_see() {
    kawaraban::fetch::install_crypto_provider();
    // The configuration is a symlink into another directory: editing the target is
    // invisible to the watch on the link's directory, so only SIGHUP reloads it.
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let real_dir = tempfile::tempdir().unwrap();
    let real = real_dir.path().join("real.toml");
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    let head = head(&dir.path().join("db"), &listen, "");
    std::fs::write(
        &real,
        format!("{head}{}", source(&news, "Atom", "atom.xml")),
    )
    .unwrap();
    std::os::unix::fs::symlink(&real, &cfg).unwrap();
    let (mut daemon, log) = spawn_daemon_logged(&cfg, &[]);
    wait_healthy(&listen).await;
    wait_hits(&news, "atom.xml", 1).await;

    std::fs::write(
        &real,
        format!(
            "{head}{}{}",
            source(&news, "Atom", "atom.xml"),
            source(&news, "Euc", "euc.xml")
        ),
    )
    .unwrap();
    // Not reloaded by itself: the old source keeps being polled, the new one not.
    let atom = news.hits("atom.xml");
    wait_hits(&news, "atom.xml", atom + 2).await;
    assert_eq!(news.hits("euc.xml"), 0, "{}", log.text());

    signal(&daemon, "HUP");
    log.wait_for("SIGHUP: reloading the configuration", 1).await;
    wait_hits(&news, "euc.xml", 1).await;
    log.wait_for("configuration reloaded", 1).await;
    // SIGHUP did not end the daemon.
    assert!(daemon.try_wait().unwrap().is_none());
    wait_healthy(&listen).await;
}

#[tokio::test]
async fn an_invalid_file_is_rejected_and_the_running_configuration_stays() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    let head = head(&dir.path().join("db"), &listen, "");
    let good = format!("{head}{}", source(&news, "Atom", "atom.xml"));
    std::fs::write(&cfg, &good).unwrap();
    let (mut daemon, log) = spawn_daemon_logged(&cfg, &[]);
    wait_healthy(&listen).await;
    wait_hits(&news, "atom.xml", 1).await;

    // A misspelt key on a line we know, and a new source that must not be adopted.
    let bad = format!(
        "{good}{}intervall = \"5m\"\n",
        source(&news, "Euc", "euc.xml")
    );
    let bad_line = bad.lines().count();
    replace_file(&cfg, &bad);
    log.wait_for("the configuration was not reloaded", 1).await;
    let logged = log.text();
    assert!(
        logged.contains(&format!("feeds.toml:{bad_line}:1")) && logged.contains("intervall"),
        "the error names the line and column and the key:\n{logged}"
    );

    // Still serving and polling with the old configuration.
    let atom = news.hits("atom.xml");
    wait_hits(&news, "atom.xml", atom + 2).await;
    assert_eq!(news.hits("euc.xml"), 0);
    assert_eq!(
        reqwest::get(format!("http://{listen}/feed.atom"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(daemon.try_wait().unwrap().is_none());

    // A listen address change is named as needing a restart; the rest applies.
    let other = free_listen();
    let moved = format!(
        "{}{}{}",
        head.replace(&listen, &other),
        source(&news, "Atom", "atom.xml"),
        source(&news, "Euc", "euc.xml")
    );
    replace_file(&cfg, &moved);
    log.wait_for("configuration reloaded", 1).await;
    let logged = log.text();
    assert!(
        logged.contains("`server.listen` changed") && logged.contains("restarts"),
        "{logged}"
    );
    wait_hits(&news, "euc.xml", 1).await;
    wait_healthy(&listen).await;
}

/// A feed whose items the test adds while the daemon runs.
#[derive(Clone, Default)]
struct Items(Arc<Mutex<Vec<(String, String)>>>);

async fn rss(State((items, host)): State<(Items, String)>) -> impl IntoResponse {
    let entries: String = items
        .0
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, (title, body))| {
            format!(
                "<item><title>{title}</title><link>http://{host}/a/{i}.html</link><description>{body}</description><pubDate>Tue, 30 Apr 2024 1{i}:00:00 +0000</pubDate></item>"
            )
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>http://{host}/</link><description>d</description>{entries}</channel></rss>"
        ),
    )
}

#[tokio::test]
async fn a_topic_change_applies_to_new_articles_and_recategorize_to_stored_ones() {
    kawaraban::fetch::install_crypto_provider();
    let items = Items::default();
    items.0.lock().unwrap().extend([
        (
            "Alpha harbour opens".to_owned(),
            "The alpha harbour opened to ships on Monday after two years of work on its piers."
                .to_owned(),
        ),
        (
            "Beta orchestra tours".to_owned(),
            "The beta orchestra starts a tour of nine cities with a new programme of symphonies."
                .to_owned(),
        ),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let app = Router::new()
        .route("/feed.xml", get(rss))
        .with_state((items.clone(), host.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = free_listen();
    let src = format!(
        "\n[[source]]\nname = \"Gazette\"\nurl = \"http://{host}/feed.xml\"\nfull_text = \"never\"\n"
    );
    let with_topic = |term: &str| {
        format!(
            "{}{src}",
            head(
                &dir.path().join("db"),
                &listen,
                &format!("\n[topic]\ninclude = [\"{term}\"]\n")
            )
        )
    };
    std::fs::write(&cfg, with_topic("alpha")).unwrap();
    let (_daemon, log) = spawn_daemon_logged(&cfg, &[]);
    wait_healthy(&listen).await;
    let feed = || async {
        reqwest::get(format!("http://{listen}/feed.atom"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let wait_feed = |needle: &'static str| async move {
        for _ in 0..600 {
            let f = feed().await;
            if f.contains(needle) {
                return f;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{needle:?} never appeared in the feed:\n{}", feed().await);
    };
    let first = wait_feed("Alpha harbour opens").await;
    assert!(!first.contains("Beta orchestra"), "{first}");

    replace_file(&cfg, &with_topic("beta"));
    log.wait_for("configuration reloaded", 1).await;
    assert!(log.text().contains("[topic] or the categories changed"));
    items.0.lock().unwrap().push((
        "Beta quartet records".to_owned(),
        "A beta quartet recorded its first album in a church hall over three quiet winter nights."
            .to_owned(),
    ));
    // The new article is judged by the new topic; stored ones keep their judgement.
    let after = wait_feed("Beta quartet records").await;
    assert!(after.contains("Alpha harbour opens"), "{after}");
    assert!(!after.contains("Beta orchestra tours"), "{after}");

    // `recategorize` is `rejudge`: through the running daemon, with the edited file.
    let out = run(&cfg, &["recategorize", "--apply"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 articles changed"),
        "{}",
        text(&out.stdout)
    );
    let last = wait_feed("Beta orchestra tours").await;
    assert!(!last.contains("Alpha harbour opens"), "{last}");
}
