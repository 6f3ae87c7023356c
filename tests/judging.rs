//! Judging end to end on loopback: two outlets run the same story, one article is off
//! the blog's topic, one article lands in each category. Then the commands that look
//! at and redo the decisions: `categorize --explain`, `rejudge` (dry run, `--apply`,
//! and through a running daemon), `dedup --pairs` and `categorize --train`.

mod common;

use std::path::Path;
use std::process::Output;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{bin, judging_config, ok, run, text};
use tokio::io::AsyncWriteExt;

const STORY: [&str; 5] = [
    "東京都内の通販会社「みなと商会」は30日、同社の通販サイトが外部から不正アクセスを受け、顧客のクレジットカード情報最大2万4千件が流出した可能性があると発表した。",
    "同社によると、決済画面のプログラムが改ざんされ、昨年11月から今年3月までに入力されたカード番号や有効期限、セキュリティーコードが外部に送信されていたという。",
    "カード会社からの連絡で発覚した。すでに一部のカードで不正利用の被害が確認されており、同社は警視庁に相談している。",
    "同社はサイトでのカード決済を停止し、外部の専門機関に調査を依頼した。対象の顧客には個別にメールで連絡するとしている。",
    "社長は記者会見で「お客様に多大なご迷惑とご心配をおかけし、深くおわび申し上げる」と述べた。",
];

/// (outlet path, item path, title, body paragraphs)
fn items(outlet: &str) -> Vec<(&'static str, &'static str, String)> {
    match outlet {
        "toto" => vec![
            ("shop", "通販サイトに不正アクセス、カード情報流出か", STORY.join("</p><p>")),
            (
                "hospital",
                "市民病院にサイバー攻撃、外来を停止",
                "大阪市の市民病院が26日、電子カルテのシステムがサイバー攻撃を受け、外来診療を停止したと発表した。</p><p>身代金を要求する脅迫文が院内のプリンターから印刷されていた。復旧には数週間かかる見通しだという。</p><p>市は近隣の医療機関に患者の受け入れを要請した。".into(),
            ),
            (
                "movie",
                "話題の映画、サイバー犯罪を描く",
                "ハッカー集団とサイバー犯罪捜査官の攻防を描いた映画が来月公開される。</p><p>監督は取材に「現実の事件を参考にした」と話した。".into(),
            ),
            (
                "arrest",
                "不正ログインで男を逮捕",
                "他人のIDとパスワードを使ってSNSに不正ログインしたとして、県警は会社員の男を逮捕した。</p><p>男は「他人の写真が見たかった」と容疑を認めているという。".into(),
            ),
        ],
        _ => vec![
            (
                "card",
                "みなと商会、カード情報最大2万4千件流出の恐れ",
                format!(
                    "通販サイト「みなと商会」が不正アクセスを受け、顧客のカード情報が流出した恐れがある。</p><p>{}</p><p>{}（共同）",
                    STORY[1], STORY[2]
                ),
            ),
            (
                "policy",
                "政府、サイバー対策の新方針",
                "政府は重要インフラを守るサイバー対策の新たな方針をまとめた。</p><p>電力や通信などの事業者に、被害の報告を義務づける。関連法の改正案を来年の国会に提出する。".into(),
            ),
            (
                "weather",
                "あすは全国的に晴れ",
                "あすは高気圧に覆われ、全国的に晴れる見込み。</p><p>最高気温は東京で25度の予想。".into(),
            ),
        ],
    }
}

async fn serve(State(host): State<String>, UrlPath(path): UrlPath<String>) -> Response {
    let Some((outlet, _)) = path.split_once('/') else {
        return "?".into_response();
    };
    let entries: String = items(outlet)
        .into_iter()
        .map(|(p, title, body)| {
            format!(
                "<item><title>{title}</title><link>http://{host}/{outlet}/{p}.html</link><description><![CDATA[<p>{body}</p>]]></description><pubDate>Tue, 30 Apr 2024 1{}:00:00 +0900</pubDate></item>",
                if outlet == "toto" { 0 } else { 1 }
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{outlet}</title><link>http://{host}/</link><description>d</description>{entries}</channel></rss>"
    );
    ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
}

async fn news_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let app = Router::new()
        .route("/{*path}", get(serve))
        .with_state(host.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    host
}

async fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

/// (title, category term, category label, content) of each entry of a rendered Atom.
async fn render(cfg: &Path, out: &Path) -> Vec<(String, String, String, String)> {
    ok(&run(cfg, &["render", "--out", out.to_str().unwrap()]).await);
    let atom = std::fs::read(out.join("feed.atom")).unwrap();
    let feed = atom_syndication::Feed::read_from(&atom[..]).unwrap();
    let mut entries: Vec<_> = feed
        .entries
        .iter()
        .map(|e| {
            assert_eq!(e.categories.len(), 1, "one category per post");
            let c = &e.categories[0];
            assert_eq!(c.scheme.as_deref(), Some("http://blog.example/category/"));
            (
                e.title.value.clone(),
                c.term.clone(),
                c.label.clone().unwrap_or_default(),
                e.content
                    .as_ref()
                    .and_then(|c| c.value.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    entries.sort();
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stories_are_filtered_folded_and_filed_and_the_decisions_can_be_redone() {
    kawaraban::fetch::install_crypto_provider();
    let host = news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    std::fs::write(
        &cfg,
        judging_config(&host, dir.path(), "127.0.0.1:0", "\"映画\""),
    )
    .unwrap();

    let summary = ok(&run(&cfg, &["fetch"]).await);
    // The two sources are polled at once: either outlet's copy can come first.
    assert_eq!(summary.matches("1 off topic").count(), 2, "{summary}");
    assert_eq!(summary.matches("folded").count(), 1, "{summary}");

    let out = dir.path().join("out");
    let entries = render(&cfg, &out).await;
    let titles: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    // The movie (excluded) and the weather (no include term) are not published; the
    // second outlet's copy of the shop story is folded into the first's post.
    assert_eq!(
        titles,
        [
            "不正ログインで男を逮捕",
            "市民病院にサイバー攻撃、外来を停止",
            "政府、サイバー対策の新方針",
            "通販サイトに不正アクセス、カード情報流出か",
        ]
    );
    let cat = |t: &str| {
        let e = entries.iter().find(|e| e.0 == t).unwrap();
        (e.1.as_str(), e.2.as_str())
    };
    assert_eq!(
        cat("不正ログインで男を逮捕"),
        ("unauthorized-access", "不正アクセス")
    );
    assert_eq!(
        cat("市民病院にサイバー攻撃、外来を停止"),
        ("attack", "サイバー攻撃")
    );
    assert_eq!(cat("政府、サイバー対策の新方針"), ("news", "ニュース"));
    assert_eq!(
        cat("通販サイトに不正アクセス、カード情報流出か"),
        ("shopping", "ショッピング")
    );
    let shop = &entries[3].3;
    assert!(shop.contains("2024/4/30東都新聞"), "{shop}");
    assert!(shop.contains("also reported by"), "{shop}");
    assert!(
        shop.contains(&format!("http://{host}/kyodo/card.html")) && shop.contains("共同通信"),
        "{shop}"
    );

    // The blog itself, as `render --out` writes it: the sample's layout.
    let read =
        |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let index = read("index.html");
    assert!(index.contains("<html lang=\"ja\">"), "{index}");
    assert!(
        index.contains("<h2 class=\"date\">2024年04月30日</h2>"),
        "{index}"
    );
    assert!(
        index.contains(
            "posted by networksecurity at 10:00| <a href=\"category/attack/\">サイバー攻撃</a>"
        ),
        "{index}"
    );
    assert!(
        index.contains("rel=\"alternate\" type=\"application/atom+xml\""),
        "{index}"
    );
    assert_eq!(index.matches("<article class=\"post\"").count(), 4);
    let category = read("category/shopping/index.html");
    assert_eq!(category.matches("<article class=\"post\"").count(), 1);
    assert!(
        category.contains("href=\"../../category/shopping.atom\""),
        "{category}"
    );
    let archive = read("archive/2024/04/index.html");
    assert_eq!(archive.matches("<article class=\"post\"").count(), 4);
    let feed: serde_json::Value = serde_json::from_str(&read("feed.json")).unwrap();
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(feed["items"].as_array().unwrap().len(), 4);
    let attack: serde_json::Value = serde_json::from_str(&read("category/attack.json")).unwrap();
    assert_eq!(
        attack["items"][0]["title"],
        "市民病院にサイバー攻撃、外来を停止"
    );
    assert_eq!(attack["items"][0]["tags"][0], "サイバー攻撃");
    let permalink = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "不正ログインで男を逮捕")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let post = read(&format!("post/{permalink}/index.html"));
    assert!(
        post.contains("他人のIDとパスワード") && post.contains("href=\"../../style.css\""),
        "{post}"
    );
    assert!(read("style.css").contains("max-width"));

    // Why: the folded copy names its post, the post its other outlet and its
    // category's reason; which is which depends on which poll began first.
    let mut whys = Vec::new();
    for path in ["kyodo/card.html", "toto/shop.html"] {
        let url = format!("http://{host}/{path}");
        whys.push(ok(&run(&cfg, &["categorize", "--explain", &url]).await));
    }
    let folded: Vec<&String> = whys
        .iter()
        .filter(|w| w.contains("folded into post"))
        .collect();
    assert_eq!(folded.len(), 1, "{whys:?}");
    let post = whys
        .iter()
        .find(|w| w.contains("status     published"))
        .unwrap();
    assert!(post.contains("also       "), "{post}");
    for why in &whys {
        assert!(
            why.contains("ショッピング") && why.contains("keywords: 通販"),
            "{why}"
        );
    }
    let why = ok(&run(
        &cfg,
        &[
            "categorize",
            "--explain",
            &format!("http://{host}/toto/movie.html"),
        ],
    )
    .await);
    assert!(
        why.contains("skipped") && why.contains("excluded by 映画"),
        "{why}"
    );
    let missing = run(
        &cfg,
        &["categorize", "--explain", "http://nowhere.example/x"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));

    // A second pass stores nothing new and changes nothing (the folds were stored).
    let again = ok(&run(&cfg, &["fetch"]).await);
    assert!(!again.contains("folded"), "{again}");
    assert_eq!(render(&cfg, &out).await, entries);

    // The operator stops publishing arrests: a dry run lists, --apply changes.
    std::fs::write(
        &cfg,
        judging_config(&host, dir.path(), "127.0.0.1:0", "\"映画\", \"逮捕\""),
    )
    .unwrap();
    let dry = ok(&run(&cfg, &["rejudge"]).await);
    assert!(
        dry.contains("不正ログインで男を逮捕") && dry.contains("excluded by 逮捕"),
        "{dry}"
    );
    assert!(dry.contains("1 articles would change"), "{dry}");
    assert_eq!(
        render(&cfg, &out).await.len(),
        4,
        "a dry run changes nothing"
    );
    let applied = ok(&run(&cfg, &["rejudge", "--apply"]).await);
    assert!(applied.contains("1 articles changed"), "{applied}");
    assert_eq!(render(&cfg, &out).await.len(), 3);

    // With the daemon holding the store, rejudge and explain go through it, and the
    // daemon adopts the edited configuration.
    let listen = common::free_listen();
    std::fs::write(&cfg, judging_config(&host, dir.path(), &listen, "\"映画\"")).unwrap();
    let mut daemon = common::spawn_daemon(&cfg);
    common::wait_healthy(&listen).await;
    let applied = ok(&run(&cfg, &["rejudge", "--apply"]).await);
    assert!(applied.contains("1 articles changed"), "{applied}");
    let atom = reqwest::get(format!("http://{listen}/feed.atom"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(atom.contains("不正ログインで男を逮捕"), "the feed follows");
    // Every kind of endpoint: its type, a validator that gives 304, gzip.
    // Decompressing by itself, reqwest would hide the Content-Encoding checked here.
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .unwrap();
    for (path, ct) in [
        ("/", "text/html; charset=utf-8"),
        ("/category/news/", "text/html; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/category/attack.rss", "application/rss+xml; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let url = format!("http://{listen}{path}");
        let first = client.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        assert_eq!(first.headers()["content-type"], ct, "{path}");
        assert!(first.headers().contains_key("last-modified"), "{path}");
        let etag = first.headers()["etag"].clone();
        let again = client
            .get(&url)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        let gz = client
            .get(&url)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gz.headers()["content-encoding"], "gzip", "{path}");
    }
    let missing = client
        .get(format!("http://{listen}/category/nothing/"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let why = ok(&run(
        &cfg,
        &[
            "categorize",
            "--explain",
            &format!("http://{host}/toto/arrest.html"),
        ],
    )
    .await);
    assert!(
        why.contains("published") && why.contains("不正アクセス"),
        "{why}"
    );
    daemon.kill().await.unwrap();
}

#[tokio::test]
async fn dedup_pairs_prints_one_verdict_per_line_in_order() {
    let full = STORY.join("\n");
    let excerpt = format!("{}\n{}（共同）", STORY[1], STORY[2]);
    let other = "大阪市の市民病院が26日、電子カルテのシステムがサイバー攻撃を受け、外来診療を停止したと発表した。身代金を要求する脅迫文が印刷されていた。";
    let input = [
        serde_json::json!({ "a": full, "b": excerpt }),
        serde_json::json!({ "a": full, "b": other }),
        serde_json::json!({ "a": "", "b": "" }),
    ]
    .iter()
    .map(|v| format!("{v}\n"))
    .collect::<String>();
    let out = run_stdin(&["dedup", "--pairs"], &input).await;
    let lines: Vec<serde_json::Value> = ok(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["duplicate"], true);
    assert_eq!(lines[1]["duplicate"], false);
    assert_eq!(lines[2]["duplicate"], false);
    let s0 = lines[0]["score"].as_f64().unwrap();
    let s1 = lines[1]["score"].as_f64().unwrap();
    assert!(s0 > s1 && (0.0..=1.0).contains(&s0), "{s0} {s1}");

    let bad = run_stdin(&["dedup", "--pairs"], "{\"a\": 1}\n").await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("line 1"),
        "{}",
        text(&bad.stderr)
    );
}

#[tokio::test]
async fn categorize_learns_from_a_training_file() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.jsonl");
    let mut lines = String::new();
    for i in 0..8 {
        for (cat, title, body) in [
            (
                "sport",
                "Club wins the cup final",
                "The striker scored twice as the team won the league title in front of fans at the stadium.",
            ),
            (
                "science",
                "Telescope finds a distant galaxy",
                "Astronomers measured the light of the galaxy with a new space telescope and a spectrometer.",
            ),
        ] {
            lines.push_str(&serde_json::json!({"title": format!("{title} {i}"), "body": body, "category": cat}).to_string());
            lines.push('\n');
        }
    }
    std::fs::write(&train, lines).unwrap();
    let input = "{\"title\": \"Goalkeeper saves a penalty\", \"body\": \"The team won the final at the stadium.\"}\n{\"title\": \"A new galaxy\", \"body\": \"Astronomers and their telescope.\"}\n";
    let out = run_stdin(&["categorize", "--train", train.to_str().unwrap()], input).await;
    let got: Vec<serde_json::Value> = ok(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got[0]["category"], "sport");
    assert_eq!(got[1]["category"], "science");
    assert!(got[0]["why"].as_str().unwrap().starts_with("classifier"));
    let missing = run_stdin(&["categorize", "--train", "/nonexistent.jsonl"], "").await;
    assert_eq!(missing.status.code(), Some(2));
}

type Hits = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

async fn prefilter_site(
    State((host, hits)): State<(String, Hits)>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    match path.as_str() {
        "feed.xml" => {
            let item = |p: &str, t: &str| format!("<item><title>{t}</title><link>http://{host}/{p}.html</link><description>{t}</description></item>");
            let body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>p</title><link>http://{host}/</link><description>d</description>{}{}</channel></rss>",
                item("film", "映画「ハッカー」の試写会"),
                item("leak", "大学で個人情報流出")
            );
            ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
        }
        _ => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><head><title>大学で個人情報流出</title></head><body><article><h1>大学で個人情報流出</h1><p>市内の大学は、学生約3千人分の個人情報が流出した可能性があると発表した。職員のパソコンがマルウェアに感染したという。</p><p>大学は外部の専門家と調査を進めている。流出した情報には氏名や学籍番号が含まれる。</p><p>学生には個別に連絡し、不審なメールに注意するよう呼びかけている。</p></article></body></html>",
        )
            .into_response(),
    }
}

#[tokio::test]
async fn a_prefiltering_source_does_not_fetch_pages_of_excluded_items() {
    use kawaraban::ingest::{Ingest, run_pass};
    use std::sync::Arc;
    kawaraban::fetch::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let hits: Hits = Arc::default();
    let app = Router::new()
        .route("/{*path}", get(prefilter_site))
        .with_state((host.clone(), hits.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\npath = \"{}\"\n[fetch]\nallow_private = [\"127.0.0.0/8\"]\n[topic]\ninclude = [\"個人情報\", \"ハッカー\"]\nexclude = [\"映画\"]\n[[source]]\nname = \"予選通信\"\nurl = \"http://{host}/feed.xml\"\nfull_text = \"always\"\nprefilter = true\nignore_robots = true\n",
        dir.path().join("db").display()
    );
    let config = kawaraban::config::Config::parse(&text, "t.toml").unwrap();
    let store = kawaraban::store::Store::open(&config.store.path, 1 << 20).unwrap();
    let judge = kawaraban::judge::for_store(&config, &store).unwrap();
    let ingest = Arc::new(
        Ingest::new(config.fetch.clone(), store.clone())
            .unwrap()
            .with_judge(Arc::new(judge)),
    );
    let reports = run_pass(ingest, &config.resolved_sources(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (reports[0].new, reports[0].off_topic, reports[0].pages),
        (2, 1, 1)
    );
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.get("film.html"), None, "{hits:?}");
    assert_eq!(hits.get("leak.html"), Some(&1), "{hits:?}");
    // Skipped, not lost: the excluded item is stored with its reason.
    let skipped = kawaraban::judge::explain(&store, &format!("http://{host}/film.html"))
        .unwrap()
        .unwrap();
    assert!(skipped.contains("excluded by 映画"), "{skipped}");
    let posts = store.newest_posts(10).unwrap();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].content_text.contains("マルウェアに感染"));
}
