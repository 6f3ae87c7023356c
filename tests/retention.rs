//! Retention through the binary: `prune` and `stats` with and without a running daemon,
//! and a pruned article that its feed still lists does not come back.

mod common;

use common::{config_text, free_listen, run, spawn_daemon, start_news_server, text, wait_healthy};
use serde_json::Value;

async fn stats(cfg: &std::path::Path) -> Value {
    let out = run(cfg, &["stats", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn pruned_articles_stay_gone_and_stats_follow() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let base = config_text(&news, &dir.path().join("db"), &listen);
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(
        &cfg,
        base.replace(
            "cache_size = \"4MiB\"",
            "cache_size = \"4MiB\"\nkeep_max = 4",
        ),
    )
    .unwrap();

    let out = run(&cfg, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = stats(&cfg).await;
    let stored = before["articles"].as_u64().unwrap();
    assert!(stored > 4, "{before}");
    assert_eq!(before["tombstones"], 0);
    assert!(before["size_on_disk"].as_u64().unwrap() > 0);

    let out = run(&cfg, &["prune"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let after = stats(&cfg).await;
    let kept = after["articles"].as_u64().unwrap();
    assert!(kept <= 4, "{after}");
    assert!(
        said.contains(&format!("pruned {} articles", stored - kept)),
        "{said}"
    );
    let tombstones = after["tombstones"].as_u64().unwrap();
    assert!(tombstones >= stored - kept, "{after}");

    // The same feeds under other URLs (no conditional-GET state, so every entry is
    // read again): what was pruned is not stored again. The feed whose items have
    // neither guid nor link is left out: its keys are made from the feed's URL.
    let fresh = dir.path().join("fresh.toml");
    let nodates = format!("url = \"{}\"", news.url("nodates.xml"));
    let mut again = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&nodates, "url = \"http://127.0.0.1:9/none.xml\"");
    for ext in ["xml", "json", "rdf"] {
        again = again.replace(&format!(".{ext}\""), &format!(".{ext}?again=1\""));
    }
    std::fs::write(&fresh, again).unwrap();
    let out = run(&fresh, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pruned before, not stored again"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        stats(&fresh).await["articles"].as_u64().unwrap(),
        kept,
        "{}",
        text(&out.stdout)
    );

    // With a daemon holding the store, both commands ask it.
    let mut daemon = spawn_daemon(&cfg);
    wait_healthy(&listen).await;
    let through = stats(&cfg).await;
    assert_eq!(through["articles"].as_u64().unwrap(), kept);
    let human = run(&cfg, &["stats"]).await;
    let human = text(&human.stdout);
    assert!(
        human.contains("tombstones") && human.contains(&format!("articles      {kept}")),
        "{human}"
    );
    let out = run(&cfg, &["prune"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pruned 0 articles"));
    daemon.kill().await.unwrap();
}
