//! The binary as a user runs it: exit codes, error messages, the one-shot fetch, and
//! the daemon answering other commands over its admin socket and stopping on SIGTERM.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    bin, config_text, free_listen, ok, run, spawn_daemon, start_news_server, text, wait_healthy,
};
use tokio::process::Command;

#[tokio::test]
async fn config_errors_name_the_place_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[fetch]\ninterval = \"5m\"\nintervall = \"5m\"\n").unwrap();
    let out = run(&bad, &["check-config"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:3:1") && err.contains("intervall"),
        "{err}"
    );

    let missing = run(&dir.path().join("nope.toml"), &["fetch"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("nope.toml"));

    let usage = bin().arg("frobnicate").output().await.unwrap();
    assert_eq!(usage.status.code(), Some(2));

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n",
    )
    .unwrap();
    let out = run(&good, &["check-config"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("max_backoff = \"6h\""),
        "defaults are printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_summarizes_each_source_and_strict_fails_on_errors() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(
        &cfg,
        config_text(&news, &dir.path().join("db"), "127.0.0.1:0"),
    )
    .unwrap();

    let out = run(&cfg, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary
            .contains("7 sources: 5 with new articles, 0 unchanged, 2 failed; 10 articles stored"),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("Gone Daily") && l.contains("gone")),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("Broken Feed") && l.contains("error")),
        "{summary}"
    );

    let out = run(&cfg, &["fetch", "--strict"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("0 with new articles, 5 unchanged"),
        "{}",
        text(&out.stdout)
    );

    let feeds = dir.path().join("out");
    let out = run(&cfg, &["render", "--out", feeds.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let atom = std::fs::read(feeds.join("feed.atom")).unwrap();
    assert_eq!(feed_rs::parser::parse(&atom[..]).unwrap().entries.len(), 10);
    assert!(feeds.join("feed.rss").exists());
}

/// A config for the fixture feeds with the daemon on a free loopback port.
fn daemon_config(news: &common::NewsServer, dir: &Path) -> (std::path::PathBuf, String) {
    let listen = free_listen();
    let cfg = dir.join("feeds.toml");
    std::fs::write(&cfg, config_text(news, &dir.join("db"), &listen)).unwrap();
    (cfg, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_a_running_daemon_and_sigterm_stops_it_cleanly() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, listen) = daemon_config(&news, dir.path());

    let mut daemon = spawn_daemon(&cfg);
    wait_healthy(&listen).await;

    // The store is the daemon's: fetch and render go through its admin socket.
    let out = run(&cfg, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("a daemon is running"));
    assert!(
        text(&out.stdout).contains("7 sources"),
        "{}",
        text(&out.stdout)
    );
    let feeds = dir.path().join("out");
    let out = run(&cfg, &["render", "--out", feeds.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(feeds.join("feed.atom").exists());

    let pid = daemon.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(40), daemon.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean exit");

    // The store was flushed and released: a command opens it directly now.
    let direct = dir.path().join("direct");
    let out = run(&cfg, &["render", "--out", direct.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let atom = std::fs::read(direct.join("feed.atom")).unwrap();
    assert_eq!(feed_rs::parser::parse(&atom[..]).unwrap().entries.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_from_the_environment_is_used() {
    // The news server doubles as the proxy: a proxied plain-HTTP request arrives in
    // absolute form and is routed by its path. The feed's host does not exist, so
    // the fetch can only succeed through the proxy.
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let config = format!(
        "[store]\npath = \"{}\"\n[[source]]\nname = \"Via proxy\"\nurl = \"http://feeds.proxied.invalid/feed.json\"\n",
        dir.path().join("db").display()
    );
    std::fs::write(&cfg, config).unwrap();
    let out = bin()
        .env("HTTP_PROXY", format!("http://{}", news.addr))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .arg("--config")
        .arg(&cfg)
        .args(["fetch", "--strict"])
        .output()
        .await
        .unwrap();
    let stdout = ok(&out);
    assert!(stdout.contains("2 new"), "{stdout}");
    assert_eq!(news.hits("feed.json"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reopens_after_the_daemon_is_killed() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, listen) = daemon_config(&news, dir.path());
    let mut daemon = spawn_daemon(&cfg);
    wait_healthy(&listen).await;
    // Wait until the first pass is in the served feed, then kill without warning.
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let body = client
            .get(format!("http://{listen}/feed.atom"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if feed_rs::parser::parse(&body[..]).unwrap().entries.len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();

    // A new daemon starts on the same store (the stale admin socket is replaced) and
    // serves what the killed one had stored.
    let mut daemon = spawn_daemon(&cfg);
    wait_healthy(&listen).await;
    let body = client
        .get(format!("http://{listen}/feed.atom"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(feed_rs::parser::parse(&body[..]).unwrap().entries.len(), 10);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
}

#[tokio::test]
async fn extract_reads_a_saved_page_without_any_config() {
    let dir = tempfile::tempdir().unwrap();
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pages/sjis-meta-charset.html"
    );
    // Run where no feeds.toml exists: extract needs none.
    let json = bin()
        .current_dir(dir.path())
        .args([
            "extract",
            "--file",
            page,
            "--url",
            "https://www.totonichi.example.jp/articles/1.html",
            "--format",
            "json",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["title"], "信用金庫かたる偽SMSで不正送金、被害1800万円超");
    assert!(v["body_text"].as_str().unwrap().contains("髙村和義"));
    assert!(v["body_html"].as_str().unwrap().starts_with("<p>"));
    assert_eq!(v["published"], "2024-03-14T01:30:00Z");

    let plain = bin()
        .current_dir(dir.path())
        .args(["extract", "--file", page, "--url", "https://x.example/"])
        .output()
        .await
        .unwrap();
    assert_eq!(plain.status.code(), Some(0));
    assert!(
        text(&plain.stdout).contains("\n\n"),
        "paragraphs are separated by a blank line"
    );

    let empty = dir.path().join("empty.html");
    std::fs::write(
        &empty,
        "<html><body><nav><a href='/'>home</a></nav></body></html>",
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args([
            "extract",
            "--file",
            empty.to_str().unwrap(),
            "--url",
            "https://x.example/",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no article text"),
        "{}",
        text(&out.stderr)
    );
}

/// `kawaraban extract … | head` is how scripts use it: a reader that stops early
/// ends the output quietly, and a full disk is reported, never a panic.
#[tokio::test]
async fn output_to_a_closed_pipe_or_a_full_disk_does_not_panic() {
    let page = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pages/sjis-meta-charset.html"
    );
    let args = [
        "extract",
        "--file",
        page,
        "--url",
        "https://www.totonichi.example.jp/articles/1.html",
    ];
    // `output()` would replace the standard output given here with its own pipe.
    let run = |stdout: std::process::Stdio| async {
        bin()
            .args(args)
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .await
            .unwrap()
    };
    // The pipe's reading end is closed before the command starts, so every write
    // fails with a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let closed = run(writer.into()).await;
    assert_eq!(closed.status.code(), Some(0), "{}", text(&closed.stderr));
    assert!(closed.stderr.is_empty(), "{}", text(&closed.stderr));

    if Path::new("/dev/full").exists() {
        let full = run(std::fs::File::create("/dev/full").unwrap().into()).await;
        assert_eq!(full.status.code(), Some(1), "{}", text(&full.stderr));
        let err = text(&full.stderr);
        assert!(
            err.contains("cannot write to standard output") && !err.contains("panicked"),
            "{err}"
        );
    }
}
