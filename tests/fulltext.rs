//! Full text end to end on loopback: a feed of one-line descriptions whose articles
//! are fetched from their pages (Shift_JIS and EUC-JP declared only in a meta tag,
//! a boilerplate-heavy UTF-8 page), robots.txt honoured, a failing page keeping the
//! feed's text, an index-page source without a feed, and the published Atom carrying
//! the whole body and the attribution line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kawaraban::config::Config;
use kawaraban::ingest::{Ingest, run_pass};
use kawaraban::publish::site::Site;
use kawaraban::store::Store;
use serde_json::Value;

type Hits = Arc<Mutex<HashMap<String, usize>>>;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pages")
            .join(name),
    )
    .unwrap()
}

fn expect(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{name}.expect.json"))).unwrap()
}

/// Article pages, by path, and the fixture each serves.
const PAGES: &[(&str, &str)] = &[
    ("sjis.html", "sjis-meta-charset.html"),
    ("euc.html", "eucjp-http-equiv.html"),
    ("heavy.html", "boilerplate-heavy.html"),
    ("textdate.html", "japanese-text-date.html"),
    ("blocked.html", "sjis-meta-charset.html"),
];

async fn serve(
    State((host, hits)): State<(String, Hits)>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let item = |p: &str, title: &str| {
        format!(
            "<item><title>{title}</title><link>http://{host}/a/{p}</link><description>一行だけの要約…</description><pubDate>Thu, 14 Mar 2024 10:30:00 +0900</pubDate></item>"
        )
    };
    match path.as_str() {
        "robots.txt" => "User-agent: *\nDisallow: /a/blocked\n".into_response(),
        "feed.xml" => {
            let items: String = [
                ("sjis.html", "偽SMSで不正送金"),
                ("euc.html", "中古PCにデータ"),
                ("heavy.html", "Ransomware at Osaka"),
                ("blocked.html", "ロボット禁止"),
                ("missing.html", "消えた記事"),
            ]
            .iter()
            .map(|(p, t)| item(p, t))
            .collect();
            let body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>要約だけの通信</title><link>http://{host}/</link><description>d</description>{items}</channel></rss>"
            );
            ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
        }
        "index.html" => {
            let body = format!(
                "<html><body><ul class=\"news-list\"><li><a href=\"/a/textdate.html\">中小企業</a></li><li><a href=\"http://{host}/a/textdate.html?utm_source=top\">dup</a></li></ul><a href=\"/about\">about</a></body></html>"
            );
            ([(header::CONTENT_TYPE, "text/html")], body).into_response()
        }
        p => match PAGES.iter().find(|(path, _)| format!("a/{path}") == p) {
            // No charset in the header: the page's own <meta> must be found.
            Some((_, file)) => {
                ([(header::CONTENT_TYPE, "text/html")], fixture(file)).into_response()
            }
            None => (StatusCode::NOT_FOUND, "not here").into_response(),
        },
    }
}

#[tokio::test]
async fn one_line_feeds_get_their_articles_full_text() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let hits: Hits = Arc::default();
    let app = Router::new()
        .route("/{*path}", get(serve))
        .with_state((host.clone(), hits.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[blog]
author = "networksecurity"
timezone = "Asia/Tokyo"
[store]
path = "{}"
[fetch]
allow_private = ["127.0.0.0/8"]
[[source]]
name = "要約通信"
url = "http://{host}/feed.xml"
[[source]]
name = "西海経済新聞"
page = "http://{host}/index.html"
links = "ul.news-list a"
"#,
        dir.path().join("db").display()
    );
    let config = Config::parse(&text, "t.toml").unwrap();
    let store = Store::open(&config.store.path, 1 << 20).unwrap();
    let ingest = Arc::new(Ingest::new(config.fetch.clone(), store.clone()).unwrap());
    let reports = run_pass(ingest.clone(), &config.resolved_sources(), |_| {})
        .await
        .unwrap();
    let feed = reports.iter().find(|r| r.name == "要約通信").unwrap();
    assert_eq!(feed.new, 5, "{feed:?}");
    assert_eq!(
        feed.page_errors, 2,
        "the robots-blocked and the missing page: {feed:?}"
    );
    let index = reports.iter().find(|r| r.name == "西海経済新聞").unwrap();
    assert_eq!(
        (index.new, index.page_errors, index.error.as_deref()),
        (1, 0, None),
        "{index:?}"
    );

    let seen = hits.lock().unwrap().clone();
    assert_eq!(
        seen.get("a/blocked.html"),
        None,
        "robots.txt disallows it: never requested"
    );
    assert_eq!(
        seen.get("robots.txt"),
        Some(&1),
        "robots.txt is fetched once per host and cached"
    );
    let state = store
        .source_state(&format!("http://{host}/feed.xml"))
        .unwrap();
    assert!(
        state
            .last_page_error
            .as_deref()
            .is_some_and(|e| e.contains("missing.html")),
        "{state:?}"
    );
    assert_eq!(
        state.consecutive_failures, 0,
        "page failures do not fail the feed"
    );

    let articles: Vec<_> = store.all_articles().map(Result::unwrap).collect();
    let by_link = |p: &str| {
        articles
            .iter()
            .find(|a| a.link.as_deref() == Some(&format!("http://{host}/a/{p}")))
            .unwrap()
    };
    for (path, name) in [
        ("sjis.html", "sjis-meta-charset"),
        ("euc.html", "eucjp-http-equiv"),
        ("heavy.html", "boilerplate-heavy"),
    ] {
        let a = by_link(path);
        let e = expect(name);
        assert!(a.full_text, "{path}");
        for s in e["body_contains"].as_array().unwrap() {
            let s = s.as_str().unwrap();
            assert!(
                a.content_text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .contains(&s.split_whitespace().collect::<Vec<_>>().join(" ")),
                "{path}: {s:?} missing from {}",
                a.content_text
            );
        }
        for s in e["body_excludes"].as_array().unwrap() {
            assert!(
                !a.content_text.contains(s.as_str().unwrap()),
                "{path}: boilerplate {s} kept"
            );
        }
        assert!(
            !a.content_html.contains("<script") && !a.content_html.contains("onerror"),
            "{path}: {}",
            a.content_html
        );
    }
    // Pages that could not be read keep the feed's own text.
    for p in ["blocked.html", "missing.html"] {
        let a = by_link(p);
        assert!(
            !a.full_text && a.content_text == "一行だけの要約…",
            "{p}: {a:?}"
        );
    }
    // The index page's article: title and date from the page itself.
    let t = by_link("textdate.html");
    assert_eq!(
        t.title,
        expect("japanese-text-date")["title"].as_str().unwrap()
    );
    assert_eq!(
        t.published.unwrap().to_rfc3339(),
        "2019-07-03T09:05:00+00:00"
    );
    assert_eq!(t.publisher, "西海経済新聞");

    // A second pass fetches no page again: known articles keep their text, and the
    // two unreadable pages wait out their backoff instead of being asked every poll.
    let again = run_pass(ingest.clone(), &config.resolved_sources(), |_| {})
        .await
        .unwrap();
    assert!(
        again.iter().all(|r| r.new == 0 && r.updated == 0),
        "{again:?}"
    );
    let sum = |rs: &[kawaraban::ingest::SourceReport],
               f: fn(&kawaraban::ingest::SourceReport) -> usize| {
        rs.iter().map(f).sum::<usize>()
    };
    assert_eq!(
        (sum(&again, |r| r.pages), sum(&again, |r| r.pages_deferred)),
        (0, 2),
        "{again:?}"
    );
    assert_eq!(hits.lock().unwrap().get("a/missing.html"), Some(&1));

    // Once the backoff has run out the page is tried again, and a second failure
    // doubles the wait.
    let feed_url = format!("http://{host}/feed.xml");
    let mut state = store.source_state(&feed_url).unwrap();
    let missing = format!("http://{host}/a/missing.html");
    let first_wait = state.page_retries[&missing].next_try - state.last_attempt.unwrap();
    for r in state.page_retries.values_mut() {
        r.next_try = chrono::Utc::now() - chrono::Duration::seconds(1);
    }
    store.put_source_state(&feed_url, &state).unwrap();
    let third = run_pass(ingest, &config.resolved_sources(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (sum(&third, |r| r.pages), sum(&third, |r| r.pages_deferred)),
        (2, 0),
        "{third:?}"
    );
    assert_eq!(hits.lock().unwrap().get("a/missing.html"), Some(&2));
    let state = store.source_state(&feed_url).unwrap();
    let retry = &state.page_retries[&missing];
    let second_wait = retry.next_try - state.last_attempt.unwrap();
    assert_eq!(retry.failures, 2);
    assert!(
        second_wait > first_wait + first_wait / 2,
        "{first_wait} then {second_wait}"
    );

    // Published: the whole body, then the attribution line.
    let rendered = Site::new(&config)
        .render(&store, "feed.atom")
        .unwrap()
        .unwrap();
    let atom = feed_rs::parser::parse(&rendered.body[..]).unwrap();
    let entry = atom
        .entries
        .iter()
        .find(|e| e.title.as_ref().unwrap().content == "偽SMSで不正送金")
        .unwrap();
    let body = entry.content.as_ref().unwrap().body.as_ref().unwrap();
    assert!(
        body.contains("同金庫の髙村和義・事務統括部長は13日の記者会見で"),
        "{body}"
    );
    assert!(
        body.contains("2024/3/14要約通信"),
        "attribution line: {body}"
    );
    assert!(!body.contains("アクセスランキング"));
}
