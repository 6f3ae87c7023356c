//! Sources from the command line, as a user runs them: `sources add|remove|list|check`
//! editing and reading `feeds.toml` and the store (directly, or through a running
//! daemon), `opml export|import`, and the daemon's `/sources.opml`.

mod common;

use std::path::{Path, PathBuf};

use common::{config_text, free_listen, run, spawn_daemon, start_news_server, text, wait_healthy};
use serde_json::Value;

/// The fixture sources with comments around them, and the blog's topic: botnets and
/// ransomware (so of the JSON Wire feed, the botnet item is kept and the patch item is
/// off topic).
fn write_config(news: &common::NewsServer, dir: &Path, listen: &str) -> (PathBuf, String) {
    let cfg = dir.join("feeds.toml");
    let text = format!(
        "# my blog — hand-written, keep this\n\n{}\n# the topic, after the sources\n[topic]\ninclude = [\"botnet\", \"ransomware\"]   # English fixtures\n\n# end\n",
        config_text(news, &dir.join("db"), listen)
    );
    std::fs::write(&cfg, &text).unwrap();
    (cfg, text)
}

fn json(out: &std::process::Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

fn row<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_remove_edit_the_file_in_place_and_show_fetch_state() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, original) = write_config(&news, dir.path(), "127.0.0.1:0");
    let extra = news.url("slow-extra.json");

    let out = run(
        &cfg,
        &[
            "sources",
            "add",
            "Extra Wire",
            &extra,
            "--interval",
            "2h",
            "--tag",
            "News/Extra",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The new block sits after the last source; every other byte is as it was.
    let edited = std::fs::read_to_string(&cfg).unwrap();
    let block = format!(
        "\n[[source]]\nname = \"Extra Wire\"\nurl = \"{extra}\"\ninterval = \"2h\"\ntags = [\"News/Extra\"]\n"
    );
    let at = original.find("\n# the topic").unwrap();
    assert_eq!(
        edited,
        format!("{}{block}{}", &original[..at], &original[at..])
    );
    let out = run(&cfg, &["check-config"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Refused, and the file is left alone: the same URL again, a bad interval.
    for args in [
        vec!["sources", "add", "Again", extra.as_str()],
        vec![
            "sources",
            "add",
            "Bad",
            "https://bad.example/",
            "--interval",
            "soon",
        ],
        vec!["sources", "add", "Bad", "ftp://bad.example/"],
    ] {
        let out = run(&cfg, &args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), edited);
    }
    let out = run(&cfg, &["sources", "add", "Again", &extra]).await;
    assert!(text(&out.stderr).contains("already the URL of source \"Extra Wire\""));

    // Nothing polled yet, and listing creates no store.
    let list = json(&run(&cfg, &["sources", "list", "--json"]).await);
    assert_eq!(list.as_array().unwrap().len(), 8);
    let r = row(&list, "Extra Wire");
    assert_eq!(r["interval"], "2h");
    assert_eq!(r["tags"], serde_json::json!(["News/Extra"]));
    assert_eq!(r["last_success"], Value::Null);
    assert!(!dir.path().join("db").exists());

    let out = run(&cfg, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = json(&run(&cfg, &["sources", "list", "--json"]).await);
    let r = row(&list, "JSON Wire");
    assert!(r["last_success"].is_string(), "{r}");
    assert!(r["next_poll"].is_string(), "{r}");
    assert_eq!(r["articles"], 2);
    assert_eq!(r["consecutive_failures"], 0);
    assert_eq!(r["url"], news.url("feed.json"));
    let r = row(&list, "Broken Feed");
    assert_eq!(r["consecutive_failures"], 1);
    assert!(r["last_error"].is_string(), "{r}");
    assert_eq!(r["last_success"], Value::Null);

    let out = run(&cfg, &["sources", "list"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("NEXT POLL"),
        "{table}"
    );
    let json_line = lines.iter().find(|l| l.starts_with("JSON Wire")).unwrap();
    assert!(
        json_line.contains(&news.url("feed.json")) && json_line.contains(" in "),
        "{table}"
    );
    let broken = lines
        .iter()
        .position(|l| l.starts_with("Broken Feed"))
        .unwrap();
    assert!(lines[broken + 1].starts_with("    last error: "), "{table}");

    // Removing by name gives back the original file, byte for byte.
    let out = run(&cfg, &["sources", "remove", "Extra Wire"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    let out = run(&cfg, &["sources", "remove", "Extra Wire"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no source has the URL or name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_several_sources_share_is_refused_with_their_urls() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = write_config(&news, dir.path(), "127.0.0.1:0");
    let second = news.url("slow-second.json");
    let out = run(&cfg, &["sources", "add", "JSON Wire", &second]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = std::fs::read_to_string(&cfg).unwrap();
    for cmd in ["remove", "check"] {
        let out = run(&cfg, &["sources", cmd, "JSON Wire"]).await;
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(
            err.contains("2 sources are named \"JSON Wire\"")
                && err.contains(&news.url("feed.json"))
                && err.contains(&second),
            "{cmd}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    assert_eq!(news.hits("feed.json"), 0, "a refused check fetches nothing");
    // By URL it is one of them.
    let out = run(&cfg, &["sources", "remove", &second]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap().to_owned(),
                i["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_would_be_stored_and_stores_nothing() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = write_config(&news, dir.path(), "127.0.0.1:0");

    // No store yet: judged on topic, not compared with stored articles, none created.
    let report = json(&run(&cfg, &["sources", "check", "JSON Wire", "--json"]).await);
    assert_eq!(report["store_checked"], false);
    assert_eq!(report["configured"], true);
    assert_eq!(report["entries"], 2);
    assert_eq!(
        verdicts(&report),
        [
            ("Botnet taken down".to_owned(), "post".to_owned()),
            (
                "Patch released for router flaw".to_owned(),
                "off_topic".to_owned()
            ),
        ]
    );
    assert!(!dir.path().join("db").exists());
    let out = run(&cfg, &["sources", "check", "JSON Wire"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("KEEP  Botnet taken down"), "{shown}");
    assert!(
        shown.contains("SKIP  Patch released for router flaw"),
        "{shown}"
    );
    assert!(
        shown.contains("off topic: no include term matched"),
        "{shown}"
    );
    assert!(
        shown.contains("not compared with stored articles"),
        "{shown}"
    );
    assert!(
        shown.contains("of 2 items: 1 new posts, 0 folded into a story, 1 off topic"),
        "{shown}"
    );

    // After a fetch, the items are known; the check changes nothing in the store.
    let out = run(&cfg, &["fetch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = run(&cfg, &["export"]).await;
    assert_eq!(before.status.code(), Some(0), "{}", text(&before.stderr));
    let report = json(
        &run(
            &cfg,
            &["sources", "check", &news.url("feed.json"), "--json"],
        )
        .await,
    );
    assert_eq!(report["store_checked"], true);
    assert!(
        verdicts(&report).iter().all(|(_, v)| v == "stored"),
        "{report}"
    );
    let after = run(&cfg, &["export"]).await;
    assert_eq!(text(&after.stdout), text(&before.stdout));

    // A URL that is not configured is checked with the defaults; a failing one exits 1.
    let report = json(&run(&cfg, &["sources", "check", &news.url("atom.xml"), "--json"]).await);
    assert_eq!(report["configured"], true);
    let report = json(
        &run(
            &cfg,
            &["sources", "check", &news.url("slow-new.json"), "--json"],
        )
        .await,
    );
    assert_eq!(report["configured"], false);
    assert_eq!(report["name"], "127.0.0.1");
    assert_eq!(
        verdicts(&report),
        [
            ("Botnet taken down".to_owned(), "stored".to_owned()),
            (
                "Patch released for router flaw".to_owned(),
                "stored".to_owned()
            ),
        ],
        "the same articles, known by their links"
    );
    let out = run(&cfg, &["sources", "check", "Broken Feed"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("malformed.xml"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_daemon_running_list_and_check_ask_it_and_it_serves_sources_opml() {
    kawaraban::fetch::install_crypto_provider();
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let (cfg, _) = write_config(&news, dir.path(), &listen);
    let _daemon = spawn_daemon(&cfg);
    wait_healthy(&listen).await;

    // The daemon polls every source at start; wait for the JSON feed's first success.
    let mut list = Value::Null;
    for _ in 0..200 {
        list = json(&run(&cfg, &["sources", "list", "--json"]).await);
        if row(&list, "JSON Wire")["last_success"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(row(&list, "JSON Wire")["articles"], 2, "{list}");

    let report = json(&run(&cfg, &["sources", "check", "JSON Wire", "--json"]).await);
    assert_eq!(report["store_checked"], true, "{report}");
    assert!(
        verdicts(&report).iter().all(|(_, v)| v == "stored"),
        "{report}"
    );

    let resp = reqwest::get(format!("http://{listen}/sources.opml"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/x-opml; charset=utf-8");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let body = resp.bytes().await.unwrap();
    let parsed = kawaraban::sources::opml::parse(&body).unwrap();
    let urls: Vec<String> = parsed.feeds.iter().map(|f| f.url.to_string()).collect();
    let config = kawaraban::config::Config::load(&cfg).unwrap();
    let want: Vec<String> = config
        .resolved_sources()
        .iter()
        .map(|s| s.url.to_string())
        .collect();
    assert_eq!(urls, want);
    assert_eq!(parsed.feeds[0].name, "テスト新報");
    let again = reqwest::Client::new()
        .get(format!("http://{listen}/sources.opml"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // `sources add` edits the file; the daemon's reload polls the new source and
    // `/sources.opml` names it.
    let added = news.url("atom.xml?added=1");
    let out = run(&cfg, &["sources", "add", "追加日報", &added]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let mut seen = (false, false);
    for _ in 0..200 {
        let opml = reqwest::get(format!("http://{listen}/sources.opml"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let list = json(&run(&cfg, &["sources", "list", "--json"]).await);
        seen = (
            opml.contains("追加日報"),
            row(&list, "追加日報")["last_success"].is_string(),
        );
        if seen == (true, true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, (true, true), "in /sources.opml, polled");
}

#[tokio::test]
async fn opml_export_then_import_into_another_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(
        &a,
        "[blog]\ntitle = \"瓦版\"\n\n[[source]]\nname = \"山手新報\"\nurl = \"https://yamate.example/index.rdf\"\ntags = [\"ニュース/国内\"]\n\n[[source]]\nname = \"Harbor Times\"\nurl = \"https://harbor.example/atom.xml\"\n",
    )
    .unwrap();
    let opml = dir.path().join("sources.opml");
    let out = run(&a, &["opml", "export", "--out", opml.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Into a file that already has one of them, with its own comments.
    let b = dir.path().join("b.toml");
    let b_text = "# mine\n[[source]]\nname = \"Harbor\"   # my name for it\nurl = \"https://harbor.example/atom.xml\"\n";
    std::fs::write(&b, b_text).unwrap();
    let out = run(&b, &["opml", "import", opml.to_str().unwrap(), "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&b).unwrap(), b_text);
    let out = run(&b, &["opml", "import", opml.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("1 added, 1 skipped as duplicates, 0 invalid"),
        "{report}"
    );
    assert!(report.contains("already the source \"Harbor\""), "{report}");
    assert_eq!(
        std::fs::read_to_string(&b).unwrap(),
        format!(
            "{b_text}\n[[source]]\nname = \"山手新報\"\nurl = \"https://yamate.example/index.rdf\"\ntags = [\"ニュース/国内\"]\n"
        )
    );

    // Reader exports: folders, OPML 1.0, broken outlines.
    let c = dir.path().join("c.toml");
    std::fs::write(&c, "").unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opml");
    for (file, line) in [
        (
            "nested-folders.opml",
            "5 added, 0 skipped as duplicates, 0 invalid",
        ),
        (
            "opml1-typerss.opml",
            "2 added, 0 skipped as duplicates, 0 invalid",
        ),
        (
            "invalid-outlines.opml",
            "1 added, 0 skipped as duplicates, 3 invalid",
        ),
        (
            "nested-folders.opml",
            "0 added, 5 skipped as duplicates, 0 invalid",
        ),
    ] {
        let out = run(
            &c,
            &["opml", "import", fixtures.join(file).to_str().unwrap()],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(line),
            "{file}: {}",
            text(&out.stdout)
        );
    }
    let config = kawaraban::config::Config::load(&c).unwrap();
    assert_eq!(config.sources.len(), 8);
    let deep = config
        .sources
        .iter()
        .find(|s| s.name == "Deep Feed")
        .unwrap();
    assert_eq!(deep.tags, ["Tech/Security/Japan"]);

    // Not OPML at all: exit 2, nothing changed.
    let bad = dir.path().join("feed.xml");
    std::fs::write(&bad, "<rss version=\"2.0\"><channel/></rss>").unwrap();
    let before = std::fs::read_to_string(&c).unwrap();
    let out = run(&c, &["opml", "import", bad.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not an OPML file"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&c).unwrap(), before);
}
