//! The spine end to end on loopback: fixture feeds in every format and encoding →
//! fetch → parse → store → the merged feeds served by the daemon.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{GOOD_ENTRIES, NewsServer, config_text, start_news_server};
use kawaraban::article::Article;
use kawaraban::config::Config;
use kawaraban::daemon::Daemon;
use kawaraban::ingest::{Ingest, Outcome, SourceReport, run_pass};
use kawaraban::store::Store;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn setup(news: &NewsServer, dir: &std::path::Path) -> (Config, Store) {
    let text = config_text(news, &dir.join("db"), "127.0.0.1:0");
    let config = Config::parse(&text, "test.toml").unwrap();
    let store = Store::open(&config.store.path, config.store.cache_size.0).unwrap();
    (config, store)
}

async fn pass(config: &Config, store: &Store) -> Vec<SourceReport> {
    let ingest = Arc::new(Ingest::new(config.fetch.clone(), store.clone()).unwrap());
    run_pass(ingest, &config.resolved_sources(), |_| {})
        .await
        .unwrap()
}

fn all(store: &Store) -> Vec<Article> {
    store.all_articles().map(Result::unwrap).collect()
}

fn by_title<'a>(articles: &'a [Article], title: &str) -> &'a Article {
    articles
        .iter()
        .find(|a| a.title == title)
        .unwrap_or_else(|| {
            panic!(
                "no article titled {title:?} in {:?}",
                articles.iter().map(|a| &a.title).collect::<Vec<_>>()
            )
        })
}

#[tokio::test]
async fn every_good_entry_lands_once_and_bad_sources_record_errors() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, store) = setup(&news, dir.path());
    let host = news.addr.to_string();

    let reports = pass(&config, &store).await;
    let outcome = |name: &str| reports.iter().find(|r| r.name == name).unwrap();
    for name in [
        "テスト新報",
        "東西日報",
        "Harbor Times",
        "JSON Wire",
        "No Dates",
    ] {
        assert_eq!(
            outcome(name).outcome,
            Outcome::Fetched,
            "{name}: {:?}",
            outcome(name).error
        );
    }
    assert_eq!(outcome("Broken Feed").outcome, Outcome::Error);
    assert!(
        outcome("Broken Feed")
            .error
            .as_deref()
            .unwrap()
            .contains("not a feed")
    );
    assert_eq!(outcome("Gone Daily").outcome, Outcome::Gone);

    let articles = all(&store);
    assert_eq!(
        articles.len(),
        GOOD_ENTRIES,
        "{:#?}",
        articles.iter().map(|a| &a.key).collect::<Vec<_>>()
    );

    // Shift_JIS RSS 1.0 with CP932-only characters, a W3CDTF date without seconds,
    // and dc:subject kept.
    let a = by_title(&articles, "髙橋㈱に不正アクセス ①顧客情報が流出か");
    assert_eq!(a.publisher, "テスト新報");
    assert_eq!(a.published, Some(utc("2019-07-12T02:12:00Z")));
    assert_eq!(a.tags, vec!["社会"]);
    assert!(
        a.content_text.contains("～詳細は調査中～"),
        "{}",
        a.content_text
    );

    // EUC-JP RSS 2.0: full content, sanitized, relative image made absolute.
    let b = by_title(&articles, "カード情報流出、通販サイトが謝罪");
    assert_eq!(b.published, Some(utc("2019-07-12T06:00:00Z")));
    assert!(b.content_html.contains("約1万件"));
    assert!(
        !b.content_html.contains("script") && !b.content_html.contains("onclick"),
        "{}",
        b.content_html
    );
    assert!(
        b.content_html
            .contains(&format!("src=\"http://{host}/img/b1.jpg\"")),
        "{}",
        b.content_html
    );

    // Atom: xml:base on the feed and on an entry; an HTML title stored as text.
    let c1 = by_title(&articles, "Bank warns of phishing wave");
    assert_eq!(
        c1.link.as_deref(),
        Some(format!("http://{host}/atom/news/c1.html").as_str())
    );
    assert!(
        c1.content_html
            .contains(&format!("href=\"http://{host}/atom/news/more.html\"")),
        "{}",
        c1.content_html
    );
    let c2 = by_title(&articles, "Ransomware hits port operator");
    assert_eq!(
        c2.link.as_deref(),
        Some(format!("http://{host}/atom/sub/c2.html").as_str())
    );
    assert_eq!(c2.published, Some(utc("2019-07-11T10:00:00Z")));

    // JSON Feed, including content_text escaped rather than taken as markup.
    assert_eq!(
        by_title(&articles, "Botnet taken down").published,
        Some(utc("2019-07-09T12:00:00Z"))
    );
    assert_eq!(
        by_title(&articles, "Patch released for router flaw").content_text,
        "Vendor shipped a fix."
    );

    // The same URL from two feeds, once with utm_ parameters: stored once.
    let shared: Vec<_> = articles
        .iter()
        .filter(|a| a.title == "共通の記事：フィッシング詐欺に注意")
        .collect();
    assert_eq!(shared.len(), 1);
    assert_eq!(
        shared[0].link.as_deref(),
        Some(format!("http://{host}/shared/story.html").as_str())
    );
    assert_eq!(shared[0].published, Some(utc("2019-07-09T23:30:00Z")));

    // No dates: the first-seen time stands in, and is kept on later polls.
    let undated = by_title(&articles, "Undated without link or guid");
    assert_eq!(undated.published, None);
    assert!(undated.key.starts_with("hash:"));
    let first_seen = undated.first_seen;

    // Second pass: validators are sent, 304s store nothing new, the gone source is
    // not asked again, the broken one keeps failing and counting.
    let again = pass(&config, &store).await;
    for path in [
        "sjis.rdf",
        "euc.xml",
        "atom.xml",
        "feed.json",
        "nodates.xml",
    ] {
        assert_eq!(
            news.conditional(path),
            1,
            "{path} was not fetched conditionally"
        );
    }
    assert!(again.iter().all(|r| r.new == 0 && r.updated == 0));
    assert_eq!(
        again
            .iter()
            .filter(|r| r.outcome == Outcome::NotModified)
            .count(),
        5
    );
    assert_eq!(news.hits("gone.xml"), 1, "a 410 source is not polled again");
    assert_eq!(store.article_count().unwrap(), GOOD_ENTRIES);
    let broken = store.source_state(&news.url("malformed.xml")).unwrap();
    assert_eq!(broken.consecutive_failures, 2);
    assert!(broken.last_error.unwrap().contains("not a feed"));
    let good = store.source_state(&news.url("sjis.rdf")).unwrap();
    assert_eq!(good.consecutive_failures, 0);
    assert!(good.last_success.is_some() && good.etag.is_some());

    // Reopening the store keeps everything, with the same ids and first-seen times.
    let before = all(&store);
    drop(store);
    let store = Store::open(&config.store.path, 1 << 20).unwrap();
    let after = all(&store);
    assert_eq!(before, after);
    assert_eq!(
        by_title(&after, "Undated without link or guid").first_seen,
        first_seen
    );
    let mut newest: Vec<String> = store
        .newest(2)
        .unwrap()
        .into_iter()
        .map(|a| a.title)
        .collect();
    newest.sort();
    assert_eq!(
        newest,
        ["Undated with link", "Undated without link or guid"],
        "undated posts sort by first-seen time"
    );
}

#[tokio::test]
async fn permanent_redirects_are_remembered_and_retry_after_is_honoured() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\npath = \"{}\"\n[fetch]\ninterval = \"10m\"\nallow_private = [\"127.0.0.0/8\"]\n\n[[source]]\nname = \"Moved\"\nurl = \"{}\"\n\n[[source]]\nname = \"Loop\"\nurl = \"{}\"\n\n[[source]]\nname = \"Busy\"\nurl = \"{}\"\n\n[[source]]\nname = \"Hop\"\nurl = \"{}\"\n",
        dir.path().join("db").display(),
        news.url("moved.xml"),
        news.url("loop.xml"),
        news.url("busy.xml"),
        news.url("hop.xml"),
    );
    let config = Config::parse(&text, "t.toml").unwrap();
    let store = Store::open(&config.store.path, 1 << 20).unwrap();
    let reports = pass(&config, &store).await;
    let r = |n: &str| reports.iter().find(|r| r.name == n).unwrap().clone();

    assert_eq!(r("Moved").outcome, Outcome::Fetched);
    assert_eq!(
        r("Moved").moved_to.as_deref(),
        Some(news.url("atom.xml").as_str())
    );
    // A temporary hop before the permanent one is not a permanent move of this URL.
    assert_eq!(r("Hop").outcome, Outcome::Fetched);
    assert_eq!(r("Hop").moved_to, None);
    assert!(
        r("Loop").error.as_deref().unwrap().contains("redirects"),
        "{:?}",
        r("Loop").error
    );
    assert!(r("Busy").error.as_deref().unwrap().contains("429"));
    let busy_next = r("Busy").next_poll.unwrap();
    assert!(
        busy_next - Utc::now() > chrono::Duration::minutes(100),
        "Retry-After 7200 s is a minimum delay"
    );

    pass(&config, &store).await;
    assert_eq!(
        news.hits("moved.xml"),
        1,
        "the moved feed is fetched at its new URL"
    );
    assert_eq!(
        news.hits("hop.xml"),
        2,
        "a temporary redirect is followed anew each time"
    );
    assert_eq!(
        news.conditional("atom.xml"),
        2,
        "the new URL is fetched conditionally"
    );
    assert_eq!(
        store
            .source_state(&news.url("loop.xml"))
            .unwrap()
            .consecutive_failures,
        2
    );
}

#[tokio::test]
async fn the_daemon_serves_merged_feeds_that_parse_back() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (config, store) = setup(&news, dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let daemon = Daemon::new(&config, store.clone()).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(daemon.run(listener, rx));

    let client = reqwest::Client::builder().gzip(false).build().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let atom = loop {
        let body = client
            .get(format!("{base}/feed.atom"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let feed = feed_rs::parser::parse(&body[..]).unwrap();
        if feed.entries.len() == GOOD_ENTRIES {
            break feed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not ingest the fixtures in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let titles: Vec<String> = atom
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    assert!(
        titles.contains(&"髙橋㈱に不正アクセス ①顧客情報が流出か".to_string()),
        "{titles:?}"
    );
    // Newest first by post time: the undated ones (first seen now) lead.
    let times: Vec<_> = atom.entries.iter().map(|e| e.published.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    for e in &atom.entries {
        assert!(
            e.links[0].href.starts_with("http://"),
            "absolute links only"
        );
        assert!(e.id.starts_with("tag:127.0.0.1,"), "{}", e.id);
        assert_eq!(e.authors[0].name.as_deref(), Some("networksecurity"));
    }
    let sjis = atom
        .entries
        .iter()
        .find(|e| e.title.as_ref().unwrap().content.starts_with("髙橋"))
        .unwrap();
    let body = sjis.content.as_ref().unwrap().body.as_ref().unwrap();
    assert!(
        body.contains("2019/7/12テスト新報"),
        "the attribution line: {body}"
    );

    let rss_resp = client.get(format!("{base}/feed.rss")).send().await.unwrap();
    assert_eq!(
        rss_resp.headers()["content-type"],
        "application/rss+xml; charset=utf-8"
    );
    let rss = feed_rs::parser::parse(&rss_resp.bytes().await.unwrap()[..]).unwrap();
    assert_eq!(rss.entries.len(), GOOD_ENTRIES);
    let ids: Vec<_> = atom.entries.iter().map(|e| &e.id).collect();
    assert!(
        rss.entries.iter().all(|e| ids.contains(&&e.id)),
        "the same post ids in both feeds"
    );

    // Validators: a repeated request with the ETag or the date gets 304.
    let first = client
        .get(format!("{base}/feed.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let again = client
        .get(format!("{base}/feed.atom"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let again = client
        .get(format!("{base}/feed.atom"))
        .header("If-Modified-Since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let gz = client
        .get(format!("{base}/feed.atom"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_ne!(gz.headers()["etag"].to_str().unwrap(), etag);
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        client
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("feed.atom")
    );

    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(40), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The daemon has let go of the store: it opens again.
    drop(store);
    assert_eq!(
        Store::open(&config.store.path, 1 << 20)
            .unwrap()
            .article_count()
            .unwrap(),
        GOOD_ENTRIES
    );
}

#[tokio::test]
async fn limits_max_age_and_a_gone_source_whose_entry_changes() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let make = |gone_name: &str| {
        let text = format!(
            "[store]\npath = \"{}\"\n[fetch]\nmax_age = \"30d\"\nallow_private = [\"127.0.0.0/8\"]\n\n[[source]]\nname = \"Small\"\nurl = \"{}\"\nmax_bytes = \"100\"\n\n[[source]]\nname = \"Old\"\nurl = \"{}\"\n\n[[source]]\nname = \"Undated\"\nurl = \"{}\"\n\n[[source]]\nname = \"{gone_name}\"\nurl = \"{}\"\n",
            dir.path().join("db").display(),
            news.url("sjis.rdf"),
            news.url("feed.json"),
            news.url("nodates.xml"),
            news.url("gone.xml"),
        );
        Config::parse(&text, "t.toml").unwrap()
    };
    let config = make("Gone Daily");
    let store = Store::open(&config.store.path, 1 << 20).unwrap();
    let reports = pass(&config, &store).await;
    let r = |n: &str| reports.iter().find(|r| r.name == n).unwrap().clone();
    assert!(
        r("Small")
            .error
            .as_deref()
            .unwrap()
            .contains("larger than the limit of 100 bytes"),
        "{:?}",
        r("Small").error
    );
    assert_eq!(
        (r("Old").new, r("Old").too_old),
        (0, 2),
        "2019 items are older than max_age"
    );
    assert_eq!(r("Undated").new, 2, "undated items are new at first sight");
    assert_eq!(r("Gone Daily").outcome, Outcome::Gone);

    pass(&config, &store).await;
    assert_eq!(news.hits("gone.xml"), 1);
    let renamed = make("Gone Daily (new name)");
    pass(&renamed, &store).await;
    assert_eq!(
        news.hits("gone.xml"),
        2,
        "a changed config entry is polled again"
    );
}

#[tokio::test]
async fn per_host_limit_timeouts_and_refused_connections() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut text = format!(
        "[store]\npath = \"{}\"\n[fetch]\ntimeout = \"1s\"\nallow_private = [\"127.0.0.0/8\"]\nper_host = 1\nconcurrency = 8\n\n[[source]]\nname = \"Stall\"\nurl = \"{}\"\n\n[[source]]\nname = \"Closed\"\nurl = \"http://{closed}/feed.xml\"\n",
        dir.path().join("db").display(),
        news.url("stall.xml"),
    );
    for i in 0..4 {
        text.push_str(&format!(
            "\n[[source]]\nname = \"Slow {i}\"\nurl = \"{}\"\n",
            news.url(&format!("slow{i}.xml"))
        ));
    }
    let config = Config::parse(&text, "t.toml").unwrap();
    let store = Store::open(&config.store.path, 1 << 20).unwrap();
    let reports = pass(&config, &store).await;
    let r = |n: &str| reports.iter().find(|r| r.name == n).unwrap().clone();
    assert!(
        r("Stall").error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        r("Stall").error
    );
    assert!(
        r("Closed")
            .error
            .as_deref()
            .unwrap()
            .contains("could not connect"),
        "{:?}",
        r("Closed").error
    );
    for i in 0..4 {
        assert_eq!(r(&format!("Slow {i}")).outcome, Outcome::Fetched);
    }
    assert_eq!(
        news.log.lock().unwrap().max_in_flight,
        1,
        "per_host = 1 allows one request at a time to a host"
    );
}
