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

/// An article of `text` first seen `days_ago`, as an export line of a judged store.
fn exported_article(key: &str, text: &str, days_ago: i64) -> String {
    use kawaraban::article::Article;
    let seen = chrono::Utc::now() - chrono::Duration::days(days_ago);
    let dir = tempfile::tempdir().unwrap();
    let store = kawaraban::store::Store::open(&dir.path().join("db"), 1 << 20).unwrap();
    let a = Article {
        id: String::new(),
        key: key.into(),
        source_url: "https://a.example/feed".into(),
        publisher: "A".into(),
        link: Some(key.into()),
        title: key.into(),
        content_html: format!("<p>{text}</p>"),
        content_text: text.into(),
        author: None,
        tags: Vec::new(),
        published: Some(seen),
        first_seen: seen,
        updated: seen,
        full_text: true,
        aliases: Vec::new(),
        judgement: None,
    };
    store.upsert(a, seen).unwrap();
    let judge = kawaraban::judge::Judge::permissive();
    kawaraban::judge::judge_pending(&store, &judge).unwrap();
    let mut out = Vec::new();
    store.export(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_dedup_window_is_configured_and_import_and_prune_keep_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let lines = [
        exported_article(
            "https://a.example/old",
            "県内の市立病院が不正アクセスを受け、患者の個人情報が流出した可能性があると発表した。",
            40,
        ),
        exported_article(
            "https://a.example/recent",
            "通販サイトのカード決済画面が改ざんされ、顧客のカード情報が外部に送信されていた。",
            2,
        ),
    ];
    std::fs::write(&export, lines.concat()).unwrap();
    let store = dir.path().join("db");
    let cfg = dir.path().join("feeds.toml");
    let config = |window: &str| {
        format!(
            "[store]\npath = \"{}\"\n{window}\n[[source]]\nname = \"none\"\nurl = \"http://127.0.0.1:9/feed.xml\"\n",
            store.display()
        )
    };
    std::fs::write(&cfg, config("")).unwrap();
    let out = run(&cfg, &["import", export.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Import left the 40-day-old article out of the dedup index: nothing to drop.
    let out = run(&cfg, &["prune"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("dropped 0 articles first seen over 30 days ago"),
        "{said}"
    );
    // A day's window: the two-day-old one goes too, and stays stored.
    std::fs::write(&cfg, config("dedup_window = \"1day\"")).unwrap();
    let out = run(&cfg, &["prune"]).await;
    let said = text(&out.stdout);
    assert!(
        said.contains("pruned 0 articles") && said.contains("dropped 1 articles"),
        "{said}"
    );
    assert_eq!(stats(&cfg).await["articles"], 2);
    std::fs::write(&cfg, config("dedup_window = \"10m\"")).unwrap();
    let out = run(&cfg, &["prune"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("store.dedup_window"),
        "{}",
        text(&out.stderr)
    );
}
