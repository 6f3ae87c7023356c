//! The editor's hand end to end on loopback: every `kawaraban post` command through the
//! command line, first on the store (checked in the rendered blog), then through a
//! running daemon (checked in what it serves, at once), and after restarts, new polls
//! of the same articles and a rejudge.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{judging_config, ok, run, text};

const SHOP: [&str; 5] = [
    "東京都内の通販会社「みなと商会」は30日、同社の通販サイトが外部から不正アクセスを受け、顧客のクレジットカード情報最大2万4千件が流出した可能性があると発表した。",
    "同社によると、決済画面のプログラムが改ざんされ、昨年11月から今年3月までに入力されたカード番号や有効期限、セキュリティーコードが外部に送信されていたという。",
    "カード会社からの連絡で発覚した。すでに一部のカードで不正利用の被害が確認されており、同社は警視庁に相談している。",
    "同社はサイトでのカード決済を停止し、外部の専門機関に調査を依頼した。対象の顧客には個別にメールで連絡するとしている。",
    "社長は記者会見で「お客様に多大なご迷惑とご心配をおかけし、深くおわび申し上げる」と述べた。",
];

const RAIL: [&str; 5] = [
    "東海道線の運行管理システムが30日早朝、外部からのサイバー攻撃を受けて停止し、始発から約3時間にわたり全線で運転を見合わせた。",
    "鉄道会社によると、システムを保守する委託先のパソコンがマルウエアに感染し、そこから社内のネットワークに侵入されたとみられる。",
    "乗客約12万人に影響が出た。駅では振り替え輸送の案内を待つ長い列ができ、通勤客からは戸惑いの声が上がった。",
    "同社は国土交通省に報告し、警察にも被害を相談している。運行管理システムは予備の系統に切り替えて復旧させた。",
    "社長は記者会見で「利用者の皆様に多大なご迷惑をおかけした」と陳謝した。",
];

const SHOP_T: &str = "通販サイトに不正アクセス、カード情報流出か";
const CARD_T: &str = "みなと商会、カード情報最大2万4千件流出の恐れ";
const HOSPITAL_T: &str = "市民病院にサイバー攻撃、外来を停止";
const MOVIE_T: &str = "話題の映画、サイバー犯罪を描く";
const ARREST_T: &str = "不正ログインで男を逮捕";
const RAIL_T: &str = "東海道線にサイバー攻撃、全線で運転見合わせ";
const RAIL2_T: &str = "東海道線、サイバー攻撃で3時間運休";
const POLICY_T: &str = "政府、サイバー対策の新方針";
const WEATHER_T: &str = "あすは全国的に晴れ";

/// (outlet, path, publication time (JST), title, body). `rev` revises the other
/// outlet's copies, as a source that edits its stories after publishing.
fn items(outlet: &str, rev: usize) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let revised = "同社は再発防止策をまとめ、近く公表するとしている。".repeat(rev);
    match outlet {
        "toto" => vec![
            ("shop", "10:00", SHOP_T, SHOP.join("</p><p>")),
            (
                "hospital",
                "10:10",
                HOSPITAL_T,
                "大阪市の市民病院が26日、電子カルテのシステムがサイバー攻撃を受け、外来診療を停止したと発表した。</p><p>身代金を要求する脅迫文が院内のプリンターから印刷されていた。復旧には数週間かかる見通しだという。</p><p>市は近隣の医療機関に患者の受け入れを要請した。".into(),
            ),
            (
                "movie",
                "10:20",
                MOVIE_T,
                "ハッカー集団とサイバー犯罪捜査官の攻防を描いた映画が来月公開される。</p><p>監督は取材に「現実の事件を参考にした」と話した。".into(),
            ),
            (
                "arrest",
                "09:00",
                ARREST_T,
                "他人のIDとパスワードを使ってSNSに不正ログインしたとして、県警は会社員の男を逮捕した。</p><p>男は「他人の写真が見たかった」と容疑を認めているという。".into(),
            ),
            ("rail", "10:30", RAIL_T, RAIL.join("</p><p>")),
        ],
        _ => vec![
            (
                "card",
                "11:00",
                CARD_T,
                format!(
                    "通販サイト「みなと商会」が不正アクセスを受け、顧客のカード情報が流出した恐れがある。</p><p>{}</p><p>{}（共同）{revised}",
                    SHOP[1], SHOP[2]
                ),
            ),
            (
                "policy",
                "11:10",
                POLICY_T,
                "政府は重要インフラを守るサイバー対策の新たな方針をまとめた。</p><p>電力や通信などの事業者に、被害の報告を義務づける。関連法の改正案を来年の国会に提出する。".into(),
            ),
            (
                "weather",
                "11:20",
                WEATHER_T,
                "あすは高気圧に覆われ、全国的に晴れる見込み。</p><p>最高気温は東京で25度の予想。".into(),
            ),
            (
                "rail",
                "11:30",
                RAIL2_T,
                format!(
                    "東海道線が30日、サイバー攻撃で運転を見合わせた。</p><p>{}</p><p>{}（共同）{revised}",
                    RAIL[1], RAIL[2]
                ),
            ),
        ],
    }
}

#[derive(Clone)]
struct Newsroom {
    host: String,
    rev: Arc<AtomicUsize>,
}

async fn serve(State(n): State<Newsroom>, UrlPath(path): UrlPath<String>) -> Response {
    let Some((outlet, _)) = path.split_once('/') else {
        return "?".into_response();
    };
    let host = &n.host;
    let entries: String = items(outlet, n.rev.load(Ordering::SeqCst))
        .into_iter()
        .map(|(p, time, title, body)| {
            format!(
                "<item><title>{title}</title><link>http://{host}/{outlet}/{p}.html</link><description><![CDATA[<p>{body}</p>]]></description><pubDate>Tue, 30 Apr 2024 {time}:00 +0900</pubDate></item>"
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{outlet}</title><link>http://{host}/</link><description>d</description>{entries}</channel></rss>"
    );
    ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response()
}

async fn newsroom() -> Newsroom {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let n = Newsroom {
        host: listener.local_addr().unwrap().to_string(),
        rev: Arc::default(),
    };
    let app = Router::new()
        .route("/{*path}", get(serve))
        .with_state(n.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    n
}

/// What a reader sees: the feed's entries (title → (category term, entry id)) in feed
/// order, and the front page's titles in page order.
#[derive(Debug, PartialEq)]
struct Blog {
    feed: Vec<(String, String, String)>,
    front: Vec<String>,
}

impl Blog {
    fn parse(atom: &str, index: &str) -> Blog {
        let feed = atom_syndication::Feed::read_from(atom.as_bytes()).unwrap();
        let feed = feed
            .entries
            .iter()
            .map(|e| {
                (
                    e.title.value.clone(),
                    e.categories[0].term.clone(),
                    e.id.clone(),
                )
            })
            .collect();
        let front = index
            .split("<h3 class=\"title\"><a href=\"")
            .skip(1)
            .map(|s| {
                let s = &s[s.find("\">").unwrap() + 2..];
                s[..s.find("</a>").unwrap()].to_owned()
            })
            .collect();
        Blog { feed, front }
    }

    fn titles(&self) -> Vec<&str> {
        self.feed.iter().map(|e| e.0.as_str()).collect()
    }

    fn has(&self, title: &str) -> bool {
        let in_feed = self.feed.iter().any(|e| e.0 == title);
        assert_eq!(
            in_feed,
            self.front.iter().any(|t| t == title),
            "the feed and the front page agree about {title}: {self:?}"
        );
        in_feed
    }

    fn term(&self, title: &str) -> &str {
        &self.feed.iter().find(|e| e.0 == title).unwrap().1
    }

    fn id(&self, title: &str) -> &str {
        &self.feed.iter().find(|e| e.0 == title).unwrap().2
    }
}

/// The blog as `render --out` writes it (no daemon).
async fn rendered(cfg: &Path, dir: &Path) -> Blog {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    ok(&run(cfg, &["render", "--out", out.to_str().unwrap()]).await);
    Blog::parse(
        &std::fs::read_to_string(out.join("feed.atom")).unwrap(),
        &std::fs::read_to_string(out.join("index.html")).unwrap(),
    )
}

/// The blog as the running daemon serves it right now.
async fn served(listen: &str) -> Blog {
    let get = |p: &str| {
        let url = format!("http://{listen}{p}");
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    Blog::parse(&get("/feed.atom").await, &get("/").await)
}

async fn post(cfg: &Path, args: &[&str]) -> String {
    let mut all = vec!["post"];
    all.extend_from_slice(args);
    ok(&run(cfg, &all).await)
}

/// `post list --json`, as (title, status, category, pinned) by title.
async fn listed(cfg: &Path, args: &[&str]) -> Vec<(String, String, String, bool)> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let mut out: Vec<_> = post(cfg, &all)
        .await
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["title"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
                v["category"].as_str().unwrap_or("-").to_owned(),
                v["pinned"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn row(title: &str, status: &str, category: &str, pinned: bool) -> (String, String, String, bool) {
    (title.into(), status.into(), category.into(), pinned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_command_changes_the_blog_with_and_without_a_daemon() {
    kawaraban::fetch::install_crypto_provider();
    let news = newsroom().await;
    let host = news.host.clone();
    let url = |p: &str| format!("http://{host}/{p}.html");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("feeds.toml");
    let listen = common::free_listen();
    std::fs::write(&cfg, judging_config(&host, dir.path(), &listen, "\"映画\"")).unwrap();
    ok(&run(&cfg, &["fetch"]).await);

    // As judged: two stories folded, the film and the weather skipped.
    let blog = rendered(&cfg, dir.path()).await;
    assert_eq!(
        blog.titles(),
        [POLICY_T, RAIL_T, HOSPITAL_T, SHOP_T, ARREST_T],
        "{blog:?}"
    );
    assert_eq!(blog.front, blog.titles());
    let list = listed(&cfg, &[]).await;
    let folded = list.iter().filter(|r| r.1 == "folded").count();
    assert_eq!((list.len(), folded), (7, 2), "{list:?}");
    assert!(list.contains(&row(ARREST_T, "published", "不正アクセス", false)));
    let skipped = post(&cfg, &["list", "--skipped"]).await;
    assert_eq!(skipped.lines().count(), 2, "{skipped}");
    assert!(
        skipped.contains(MOVIE_T) && skipped.contains("skipped: excluded by 映画"),
        "{skipped}"
    );
    assert!(
        skipped.contains("2024-04-30 11:20") && skipped.contains("no include term matched"),
        "{skipped}"
    );

    // Without a daemon: each command on the store, the rendered blog follows.
    let said = post(&cfg, &["hide", &url("toto/hospital")]).await;
    assert!(said.contains("hidden"), "{said}");
    let blog = rendered(&cfg, dir.path()).await;
    assert!(!blog.has(HOSPITAL_T), "{blog:?}");

    // By the post id as the feed publishes it: first on the front page, the feed
    // keeps date order.
    let arrest = blog.id(ARREST_T).to_owned();
    assert!(arrest.starts_with("tag:blog.example,"), "{arrest}");
    post(&cfg, &["pin", &arrest]).await;
    let blog = rendered(&cfg, dir.path()).await;
    assert_eq!(blog.front, [ARREST_T, POLICY_T, RAIL_T, SHOP_T]);
    assert_eq!(blog.titles(), [POLICY_T, RAIL_T, SHOP_T, ARREST_T]);

    // By the short id of /post/ID/.
    let policy = blog.id(POLICY_T).rsplit('/').next().unwrap().to_owned();
    post(&cfg, &["category", &policy, "不正アクセス"]).await;
    let blog = rendered(&cfg, dir.path()).await;
    assert_eq!(blog.term(POLICY_T), "unauthorized-access");
    let filed = listed(&cfg, &["--category", "unauthorized-access"]).await;
    assert_eq!(
        filed,
        [
            row(ARREST_T, "published", "不正アクセス", true),
            row(POLICY_T, "published", "不正アクセス", false),
        ]
    );

    post(&cfg, &["publish", &url("toto/movie")]).await;
    let blog = rendered(&cfg, dir.path()).await;
    assert!(blog.has(MOVIE_T), "{blog:?}");

    let said = post(&cfg, &["unfold", &url("kyodo/card")]).await;
    assert!(said.contains("a post of its own"), "{said}");
    let blog = rendered(&cfg, dir.path()).await;
    assert!(blog.has(CARD_T) && blog.has(SHOP_T), "{blog:?}");

    // Commands that cannot be carried out say why.
    let missing = run(&cfg, &["post", "hide", "http://nowhere.example/x"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no stored article"));
    let unknown = run(&cfg, &["post", "category", &policy, "スポーツ"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("configured: ショッピング"));
    let alone = run(&cfg, &["post", "unfold", &url("toto/arrest")]).await;
    assert_eq!(alone.status.code(), Some(1));
    assert!(text(&alone.stderr).contains("nothing to unfold"));

    // A new poll revises the unfolded copy; a rejudge runs over everything: the
    // editor's choices stand.
    let before = rendered(&cfg, dir.path()).await;
    news.rev.store(1, Ordering::SeqCst);
    let fetched = ok(&run(&cfg, &["fetch"]).await);
    assert!(fetched.contains("0 new, 2 updated"), "{fetched}");
    assert_eq!(rendered(&cfg, dir.path()).await, before);
    let rejudged = ok(&run(&cfg, &["rejudge", "--apply"]).await);
    assert!(rejudged.contains("0 articles changed"), "{rejudged}");
    assert_eq!(rendered(&cfg, dir.path()).await, before);

    // A daemon started on that store serves the same blog; through it each command
    // shows in what it serves as soon as the command returns.
    let mut daemon = common::spawn_daemon(&cfg);
    common::wait_healthy(&listen).await;
    assert_eq!(served(&listen).await, before);

    post(&cfg, &["show", &url("toto/hospital")]).await;
    assert!(served(&listen).await.has(HOSPITAL_T));

    post(&cfg, &["publish", &url("kyodo/weather")]).await;
    assert!(served(&listen).await.has(WEATHER_T));

    assert!(!served(&listen).await.has(RAIL2_T));
    post(&cfg, &["unfold", &url("kyodo/rail")]).await;
    let blog = served(&listen).await;
    assert!(blog.has(RAIL2_T) && blog.has(RAIL_T), "{blog:?}");

    post(&cfg, &["unpin", &arrest]).await;
    post(&cfg, &["pin", &url("toto/shop")]).await;
    post(&cfg, &["pin", &url("kyodo/policy")]).await;
    let blog = served(&listen).await;
    assert_eq!(blog.front[..2], [SHOP_T, POLICY_T], "{blog:?}");
    assert_eq!(blog.front.last().map(String::as_str), Some(ARREST_T));

    post(&cfg, &["category", &url("toto/hospital"), "shopping"]).await;
    assert_eq!(served(&listen).await.term(HOSPITAL_T), "shopping");

    post(&cfg, &["hide", &url("toto/movie")]).await;
    assert!(!served(&listen).await.has(MOVIE_T));

    let list = listed(&cfg, &[]).await;
    assert!(
        list.contains(&row(MOVIE_T, "hidden", "ニュース", false)),
        "{list:?}"
    );
    assert!(list.contains(&row(SHOP_T, "published", "ショッピング", true)));
    assert!(list.contains(&row(HOSPITAL_T, "published", "ショッピング", false)));
    assert!(list.iter().all(|r| r.1 != "folded"), "{list:?}");
    let text_list = post(&cfg, &["list"]).await;
    assert!(
        text_list.contains("[hidden, published by hand]"),
        "{text_list}"
    );
    let failed = run(&cfg, &["post", "category", &policy, "スポーツ"]).await;
    assert_eq!(
        failed.status.code(),
        Some(2),
        "the same exit through the daemon"
    );

    // A new poll through the daemon, then a restart: nothing the editor did is lost,
    // even when the daemon is killed rather than stopped.
    let edited = served(&listen).await;
    news.rev.store(2, Ordering::SeqCst);
    let fetched = ok(&run(&cfg, &["fetch"]).await);
    assert!(fetched.contains("0 new, 2 updated"), "{fetched}");
    assert_eq!(served(&listen).await, edited);
    daemon.kill().await.unwrap();
    let mut daemon = common::spawn_daemon(&cfg);
    common::wait_healthy(&listen).await;
    assert_eq!(served(&listen).await, edited);
    let why = ok(&run(&cfg, &["categorize", "--explain", &url("toto/movie")]).await);
    assert!(
        why.contains("hidden by the operator") && why.contains("published by the operator"),
        "{why}"
    );
    daemon.kill().await.unwrap();
    assert_eq!(rendered(&cfg, dir.path()).await, edited);
}
