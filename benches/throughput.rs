//! Parse throughput and publish cost, each next to a baseline measured in the same run
//! so results can be quoted as ratios that survive a change of machine.
//!
//! `cargo bench --bench throughput`; `cargo bench --bench throughput -- parse` (or
//! `-- render`, `-- extract`, `-- judge`) runs one group. Peak resident memory is printed at the end.

use std::cell::LazyCell;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone as _, Utc};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use kawaraban::article::Article;
use kawaraban::config::{BlogConfig, TimeZone};
use kawaraban::extract::{Options, decode_page, extract};
use kawaraban::judge::topic::TopicVerdict;
use kawaraban::judge::{Judge, Judgement, Plan};
use kawaraban::parse::parse_feed;
use kawaraban::publish::site::Site;
use kawaraban::store::Store;
use quick_xml::events::Event;
use url::Url;

const HOST: &str = "127.0.0.1:1";
const SYNTHETIC_ITEMS: usize = 200;
/// Japanese characters per synthetic item body: news articles run to about this much,
/// and it keeps the feed near a megabyte so fixed per-call costs do not dominate MB/s.
const BODY_CHARS: usize = 2_000;
const STORE_ARTICLES: usize = 100_000;
const RENDER_ENTRIES: usize = 50;

/// As the integration tests serve them, so charset detection follows the same path.
const FIXTURES: &[(&str, &str)] = &[
    ("sjis-rss1.rdf", "application/rdf+xml"),
    ("eucjp-rss2.xml", "application/rss+xml"),
    ("atom-xmlbase.xml", "application/atom+xml"),
    ("feed.json", "application/feed+json"),
    ("nodates.xml", "application/rss+xml"),
    // Kept as the error path: how fast a broken feed is rejected matters too.
    ("malformed.xml", "application/rss+xml"),
];

/// Every character is in JIS X 0208, so the Shift_JIS encoding is lossless (checked).
const SENTENCES: &[&str] = &[
    "大手通販サイトは十二日、外部からの不正アクセスにより顧客のクレジットカード情報が流出した可能性があると発表した。",
    "同社によると、流出した可能性があるのは今年四月から六月までに決済を行った利用者の氏名や住所、カード番号など約一万件に上る。",
    "警視庁は不正アクセス禁止法違反の疑いで捜査を始めており、侵入経路の特定を急いでいる。",
    "専門家は「古いソフトウェアの弱点が放置されていた可能性が高い」と指摘し、定期的な更新の重要性を訴えた。",
    "政府は来年度から中小企業向けの情報セキュリティ対策の補助金を拡充する方針を固めた。",
    "地方銀行の間では、フィッシング詐欺による被害を防ぐため、ワンタイムパスワードの導入が相次いでいる。",
    "総務省の調査では、昨年一年間に報告されたサイバー攻撃の件数は前年の約一・五倍に増えた。",
    "被害に遭った利用者からは「説明が遅すぎる」との声が上がっており、同社は専用の問い合わせ窓口を設けた。",
    "東京都内の会見で社長は深く頭を下げ、再発防止策を年内にまとめると述べた。",
    "関係者によると、攻撃には海外のサーバーが複数使われており、国際的な協力が不可欠だという。",
    "気象庁は週末にかけて西日本を中心に大雨となるおそれがあるとして、土砂災害への警戒を呼びかけている。",
    "株式市場では半導体関連の銘柄が買われ、日経平均株価は三日ぶりに反発した。",
];
const TITLES: &[&str] = &[
    "カード情報流出、通販サイトが謝罪",
    "不正アクセスで捜査開始",
    "中小企業のセキュリティ対策に補助金",
    "地銀でワンタイムパスワード導入進む",
    "サイバー攻撃、前年の一・五倍に",
    "西日本で大雨のおそれ",
    "日経平均、三日ぶり反発",
];
const SECTIONS: &[&str] = &["社会", "経済", "IT", "政治", "国際", "気象"];

/// `cargo test --all-targets` runs each benchmark once without `--bench` (criterion's
/// test mode); a small store keeps that quick while still exercising the code.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

fn with_host(bytes: &[u8]) -> Vec<u8> {
    const NEEDLE: &[u8] = b"NEWS_HOST";
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(NEEDLE) {
            out.extend_from_slice(HOST.as_bytes());
            rest = &rest[NEEDLE.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// About `chars` characters of article HTML, varied per item so no two bodies are equal.
fn body_html(item: usize, chars: usize) -> String {
    let mut html = String::from("<p>");
    let mut written = 0;
    let mut k = item;
    while written < chars {
        let s = SENTENCES[k % SENTENCES.len()];
        html.push_str(s);
        written += s.chars().count();
        k += 1;
        if k.is_multiple_of(4) && written < chars {
            html.push_str("</p>\n<p>");
        }
    }
    html.push_str(&format!(
        " <a href=\"/related/{item}.html\">関連記事</a></p>"
    ));
    html
}

fn item_date(item: usize) -> DateTime<FixedOffset> {
    let jst = FixedOffset::east_opt(9 * 3600).expect("valid offset");
    let newest = jst
        .with_ymd_and_hms(2019, 7, 12, 15, 0, 0)
        .single()
        .expect("valid date");
    newest - chrono::Duration::minutes(17 * item as i64)
}

/// A large RSS 2.0 feed declaring `encoding`; the caller encodes the text to match.
fn synthetic_rss2(encoding: &str) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n\
         <rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n\
         <channel>\n<title>東西日報</title>\n<link>http://{HOST}/big/</link>\n\
         <description>合成フィード</description>\n<ttl>30</ttl>\n"
    );
    for i in 0..SYNTHETIC_ITEMS {
        let body = body_html(i, BODY_CHARS);
        xml.push_str(&format!(
            "<item>\n<title>{title}（{i}）</title>\n<link>http://{HOST}/big/{i}.html</link>\n\
             <guid>http://{HOST}/big/{i}.html</guid>\n<pubDate>{date}</pubDate>\n\
             <category>{section}</category>\n<description>{summary}</description>\n\
             <content:encoded><![CDATA[{body}]]></content:encoded>\n</item>\n",
            title = TITLES[i % TITLES.len()],
            date = item_date(i).to_rfc2822(),
            section = SECTIONS[i % SECTIONS.len()],
            summary = SENTENCES[i % SENTENCES.len()],
        ));
    }
    xml.push_str("</channel>\n</rss>\n");
    xml
}

/// A large Atom feed with escaped HTML content and relative links, the common shape
/// that makes the parser decode entities and resolve against xml:base.
fn synthetic_atom() -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:base=\"http://{HOST}/atom/\">\n\
         <title>港湾タイムズ</title>\n<id>urn:bench:atom</id>\n\
         <updated>{updated}</updated>\n<link rel=\"alternate\" href=\"./\"/>\n",
        updated = item_date(0).to_rfc3339()
    );
    for i in 0..SYNTHETIC_ITEMS {
        let date = item_date(i).to_rfc3339();
        let body = body_html(i, BODY_CHARS);
        xml.push_str(&format!(
            "<entry>\n<title>{title}（{i}）</title>\n<id>urn:bench:atom:{i}</id>\n\
             <link rel=\"alternate\" href=\"news/{i}.html\"/>\n\
             <published>{date}</published>\n<updated>{date}</updated>\n\
             <author><name>記者{author}</name></author>\n<category term=\"{section}\"/>\n\
             <summary>{summary}</summary>\n<content type=\"html\">{content}</content>\n</entry>\n",
            title = TITLES[i % TITLES.len()],
            author = i % 7,
            section = SECTIONS[i % SECTIONS.len()],
            summary = SENTENCES[i % SENTENCES.len()],
            content = html_escape::encode_text(&body),
        ));
    }
    xml.push_str("</feed>\n");
    xml
}

struct ParseInput {
    name: String,
    bytes: Vec<u8>,
    content_type: &'static str,
    url: Url,
}

impl ParseInput {
    fn new(name: &str, bytes: Vec<u8>, content_type: &'static str) -> ParseInput {
        let url = Url::parse(&format!("http://{HOST}/{name}")).expect("valid URL");
        ParseInput {
            name: name.to_owned(),
            bytes,
            content_type,
            url,
        }
    }

    fn parse(&self) -> Result<kawaraban::parse::ParsedFeed, kawaraban::parse::ParseError> {
        parse_feed(
            black_box(&self.bytes),
            Some(self.content_type),
            &self.url,
            chrono_tz::Asia::Tokyo,
        )
    }
}

/// The floor any XML feed parser pays: tokenizing, with no decoding, no tree, no
/// allocation per event.
fn scan_events(xml: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return events,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
            Err(e) => panic!("the baseline input is not well-formed XML: {e}"),
        }
    }
}

fn parse(c: &mut Criterion) {
    let mut inputs: Vec<ParseInput> = FIXTURES
        .iter()
        .map(|&(file, content_type)| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(file);
            let raw =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            ParseInput::new(file, with_host(&raw), content_type)
        })
        .collect();

    let rss_utf8 = synthetic_rss2("UTF-8");
    let rss_sjis_text = synthetic_rss2("Shift_JIS");
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&rss_sjis_text);
    assert!(!unmappable, "the synthetic text must be Shift_JIS-clean");
    let atom = synthetic_atom();
    inputs.push(ParseInput::new(
        "synthetic-rss2-sjis",
        sjis.into_owned(),
        "application/rss+xml",
    ));
    // The same document in UTF-8: against the Shift_JIS one it isolates transcoding,
    // and it is the input the quick-xml baseline can read.
    inputs.push(ParseInput::new(
        "synthetic-rss2-utf8",
        rss_utf8.clone().into_bytes(),
        "application/rss+xml",
    ));
    inputs.push(ParseInput::new(
        "synthetic-atom-utf8",
        atom.clone().into_bytes(),
        "application/atom+xml",
    ));

    // A benchmark of a parse that silently fails or drops entries would measure the
    // wrong thing, so the outcome of each input is shown and the large ones checked.
    println!("parse inputs:");
    for input in &inputs {
        match input.parse() {
            Ok(f) => {
                println!(
                    "  {:<22} {:>9} bytes  {} as {}, {} entries",
                    input.name,
                    input.bytes.len(),
                    f.format,
                    f.encoding,
                    f.entries.len()
                );
                if input.name.starts_with("synthetic") {
                    assert_eq!(f.entries.len(), SYNTHETIC_ITEMS, "{}", input.name);
                }
            }
            Err(e) => println!(
                "  {:<22} {:>9} bytes  error: {e}",
                input.name,
                input.bytes.len()
            ),
        }
    }

    let mut group = c.benchmark_group("parse");
    for input in &inputs {
        group.throughput(Throughput::Bytes(input.bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse_feed", &input.name),
            input,
            |b, input| b.iter(|| input.parse()),
        );
    }
    for (name, xml) in [
        ("synthetic-rss2-utf8", &rss_utf8),
        ("synthetic-atom-utf8", &atom),
    ] {
        group.throughput(Throughput::Bytes(xml.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("quick_xml_scan", name),
            xml.as_bytes(),
            |b, xml| b.iter(|| scan_events(black_box(xml))),
        );
    }
    group.finish();
}

fn synthetic_article(i: usize) -> Article {
    let site = i % 20;
    let link = format!("https://news{site}.example.jp/articles/{i}.html");
    let published = item_date(
        // A permutation of 0..STORE_ARTICLES (7919 is prime and coprime with it), so
        // insertion order is not time order and the time index fills in out of order.
        (i * 7919) % STORE_ARTICLES,
    )
    .with_timezone(&Utc);
    let first_seen = published + chrono::Duration::minutes(3);
    let content_html = body_html(i, 300);
    let content_text = kawaraban::parse::strip_tags(&content_html);
    Article {
        id: String::new(),
        key: link.clone(),
        source_url: format!("https://news{site}.example.jp/rss"),
        publisher: format!("東西日報{site}"),
        link: Some(link),
        title: format!("{}（{i}）", TITLES[i % TITLES.len()]),
        content_html,
        content_text,
        author: Some(format!("記者{}", i % 7)),
        tags: vec![SECTIONS[i % SECTIONS.len()].to_owned()],
        published: Some(published),
        first_seen,
        updated: first_seen,
        full_text: true,
        aliases: Vec::new(),
        judgement: None,
    }
}

fn as_post(mut a: Article, now: DateTime<Utc>) -> Plan {
    a.judgement = Some(Judgement::new(
        TopicVerdict {
            on_topic: true,
            ..TopicVerdict::default()
        },
        now,
    ));
    Plan {
        id: a.id.clone(),
        articles: vec![a],
        fingerprint: None,
    }
}

struct RenderFixture {
    // Declared before the directory so sled closes before the files are deleted.
    store: Store,
    _dir: tempfile::TempDir,
}

fn build_store(articles: usize) -> RenderFixture {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("db"), 64 << 20).expect("open store");
    let now = Utc::now();
    for i in 0..articles {
        let (_, stored) = store
            .upsert(synthetic_article(i), now)
            .expect("insert article");
        // Published as a post of its own, without the dedup index: this group measures
        // rendering, and the judge group measures judging.
        store.apply(&as_post(stored, now)).expect("judge article");
    }
    let inserted = started.elapsed();
    // Otherwise sled's background flusher would compete with the measured renders.
    store.flush().expect("flush store");
    assert_eq!(store.article_count().unwrap(), articles);
    println!(
        "render: built a store of {articles} articles in {:.1?} ({:.1?} inserting, {:.1?} flushing)",
        started.elapsed(),
        inserted,
        started.elapsed() - inserted
    );
    RenderFixture { store, _dir: dir }
}

fn render(c: &mut Criterion) {
    let articles = if benchmarking() {
        STORE_ARTICLES
    } else {
        1_000
    };
    // Built on first use, so `-- parse` and `--list` do not pay for 100k inserts;
    // criterion times only inside `iter`, so the build does not skew the warm-up.
    let fixture = LazyCell::new(|| build_store(articles));
    let blog = BlogConfig {
        max_entries: RENDER_ENTRIES,
        language: "ja".into(),
        timezone: TimeZone(chrono_tz::Asia::Tokyo),
        ..BlogConfig::default()
    };

    let mut group = c.benchmark_group("render");
    group.bench_function(format!("render_{RENDER_ENTRIES}_of_{articles}"), |b| {
        let store = &fixture.store;
        b.iter(|| {
            // A fresh site each time: its cache must not turn the measure into a lookup.
            let site = Site::from_blog(blog.clone());
            let atom = site
                .render(store, "feed.atom")
                .expect("render")
                .expect("feed");
            let rss = site
                .render(store, "feed.rss")
                .expect("render")
                .expect("feed");
            assert_eq!(
                String::from_utf8_lossy(&atom.body)
                    .matches("<entry>")
                    .count(),
                RENDER_ENTRIES
            );
            (atom, rss)
        })
    });
    group.bench_function(format!("newest_{RENDER_ENTRIES}_of_{articles}"), |b| {
        let store = &fixture.store;
        b.iter(|| store.newest_posts(black_box(RENDER_ENTRIES)).expect("read"))
    });
    group.finish();
}

struct Page {
    name: String,
    bytes: Vec<u8>,
    url: Url,
}

impl Page {
    fn extract(&self, opts: &Options) -> Result<kawaraban::extract::Extracted, String> {
        let html = decode_page(black_box(&self.bytes), None, &self.url);
        extract(&html, &self.url, opts).map_err(|e| e.to_string())
    }
}

/// Our own news pages, with the URL each is tested under (it hints the charset).
fn fixture_pages() -> Vec<Page> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages");
    let mut pages: Vec<Page> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let expect = dir.join(format!("{name}.expect.json"));
            let expect: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&expect)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", expect.display())),
            )
            .expect("expectation is JSON");
            let url = Url::parse(expect["url"].as_str().expect("expectation has a url"))
                .expect("valid URL");
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            Page { name, bytes, url }
        })
        .collect();
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    pages
}

/// Readability.js's test pages, when the shared sets sit beside the repository;
/// unpacked here so gzip is not timed.
fn shared_testpages() -> Option<Vec<Page>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/extraction-testpages/pages");
    let url = Url::parse("http://fakehost/test/page.html").expect("valid URL");
    let mut pages: Vec<Page> = std::fs::read_dir(&dir)
        .ok()?
        .map(|e| e.expect("directory entry").path())
        .filter_map(|path| {
            let gz = std::fs::read(path.join("source.html.gz")).ok()?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(gz.as_slice()),
                &mut bytes,
            )
            .unwrap_or_else(|e| panic!("unpacking {}: {e}", path.display()));
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some(Page {
                name,
                bytes,
                url: url.clone(),
            })
        })
        .collect();
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    (!pages.is_empty()).then_some(pages)
}

fn extract_pages(c: &mut Criterion) {
    let opts = Options {
        timezone: chrono_tz::Asia::Tokyo,
        ..Options::default()
    };
    let mut sets = vec![("fixtures", fixture_pages())];
    // In criterion's test mode the fixtures exercise the same code; 130 more pages
    // would add seconds to every `cargo test --all-targets` in a debug build.
    if benchmarking() {
        match shared_testpages() {
            Some(pages) => sets.push(("readability-testpages", pages)),
            None => println!("extract: ../shared/extraction-testpages not found, fixtures only"),
        }
    }

    // As for parse: a page that yields no article costs less than one that does, so
    // the outcome is shown next to the figures.
    println!("extract inputs:");
    for (set, pages) in &sets {
        let failed: Vec<&str> = pages
            .iter()
            .filter(|p| p.extract(&opts).is_err())
            .map(|p| p.name.as_str())
            .collect();
        println!(
            "  {set:<22} {:>3} pages {:>9} bytes  {} extracted{}",
            pages.len(),
            pages.iter().map(|p| p.bytes.len()).sum::<usize>(),
            pages.len() - failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(", no article: {}", failed.join(", "))
            }
        );
    }

    let mut group = c.benchmark_group("extract");
    // One pass over a set takes tens to hundreds of milliseconds; linear sampling
    // would run it hundreds of times.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (set, pages) in &sets {
        group.throughput(Throughput::Elements(pages.len() as u64));
        group.bench_with_input(BenchmarkId::new("extract", set), pages, |b, pages| {
            b.iter(|| {
                for page in pages {
                    // A page without an article is measured too: the daemon meets them.
                    let _ = black_box(page.extract(&opts));
                }
            })
        });
        // The tree every extraction starts from: extract's cost over it is the ratio
        // of the two figures. Decoded beforehand, as it is not parsing.
        let decoded: Vec<String> = pages
            .iter()
            .map(|p| decode_page(&p.bytes, None, &p.url))
            .collect();
        group.bench_with_input(
            BenchmarkId::new("parse_document", set),
            &decoded,
            |b, decoded| {
                b.iter(|| {
                    for html in decoded {
                        black_box(scraper::Html::parse_document(black_box(html)));
                    }
                })
            },
        );
    }
    group.finish();
}

/// The kernel's high-water mark for this process, over every group that ran.
/// Stored articles for the lookup benchmark: distinct stories written from a fixed
/// vocabulary, as a news store is, so phrases recur across articles but stories do not.
fn random_story(rng: &mut rand::rngs::StdRng, chars: usize) -> String {
    use rand::Rng;
    const WORDS: &str = "政府 企業 警察 被害 情報 流出 調査 発表 顧客 個人 会社 社長 記者 会見 容疑 逮捕 事件 捜査 攻撃 対策 システム サーバー 管理 利用 通信 決済 番号 件数 今年 昨年 国内 海外 関係 担当 専門 機関 報告 確認 可能性 被害額 億円 万件 東京 大阪 県警 市役所 病院 大学 銀行 証券 保険 鉄道 電力 ガス 水道 学校 病院 工場 店舗 倉庫 港湾 空港";
    let words: Vec<&str> = WORDS.split(' ').collect();
    let mut out = String::with_capacity(chars * 3);
    let mut n = 0;
    while n < chars {
        let w = words[rng.random_range(0..words.len())];
        out.push_str(w);
        n += w.chars().count();
        match rng.random_range(0..10) {
            0 => out.push('。'),
            1 | 2 => out.push('、'),
            3 => out.push_str(&rng.random_range(1..10_000).to_string()),
            _ => out.push(['の', 'が', 'を', 'に', 'で', 'と'][rng.random_range(0..6)]),
        }
        n += 1;
    }
    out
}

struct JudgeFixture {
    store: Store,
    _dir: tempfile::TempDir,
}

fn judged_store(articles: usize) -> JudgeFixture {
    use rand::SeedableRng;
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(articles as u64);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("db"), 64 << 20).expect("open store");
    let judge = Judge::permissive();
    let now = Utc::now();
    for i in 0..articles {
        let mut a = synthetic_article(i);
        a.content_text = random_story(&mut rng, 600);
        let (_, stored) = store.upsert(a, now).expect("insert article");
        kawaraban::judge::judge_stored(&store, &judge, &stored.id, now).expect("judge");
    }
    store.flush().expect("flush store");
    println!(
        "judge: built and judged a store of {articles} articles in {:.1?}",
        started.elapsed()
    );
    JudgeFixture { store, _dir: dir }
}

fn jsonl(path: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Judging: duplicate detection per pair against folding the same texts (the fixed
/// cost every text comparison pays), the dedup lookup against stores of two sizes (it
/// should cost the same), and categorizing against folding the same documents.
fn judge(c: &mut Criterion) {
    use kawaraban::judge::category::{Categorizer, Example};
    use kawaraban::judge::{dedup, text::fold};
    let pairs: Vec<(String, String)> = jsonl("tests/fixtures/judge/pairs/pairs.jsonl")
        .into_iter()
        .map(|v| {
            (
                v["a"].as_str().unwrap_or_default().to_owned(),
                v["b"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let chars: usize = pairs
        .iter()
        .map(|(a, b)| a.chars().count() + b.chars().count())
        .sum();
    println!(
        "judge: {} labeled pairs, {} characters per text on average",
        pairs.len(),
        chars / (2 * pairs.len().max(1))
    );
    let mut group = c.benchmark_group("judge");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("dedup_pairs", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(a, b)| {
                    dedup::compare(&dedup::fingerprint(a), &dedup::fingerprint(b)).duplicate
                })
                .count()
        })
    });
    group.bench_function("fold_pairs", |b| {
        b.iter(|| {
            pairs
                .iter()
                .map(|(a, b)| fold(a).len() + fold(b).len())
                .sum::<usize>()
        })
    });

    let sizes: &[usize] = if benchmarking() {
        &[1_000, 50_000]
    } else {
        &[100, 1_000]
    };
    group.throughput(Throughput::Elements(1));
    for &n in sizes {
        let fixture = LazyCell::new(|| judged_store(n));
        let judge = Judge::permissive();
        let mut probe = synthetic_article(n + 1);
        probe.id = "probe".into();
        probe.content_text = pairs[0].0.clone();
        group.bench_with_input(BenchmarkId::new("lookup_in", n), &n, |b, _| {
            let store = &fixture.store;
            b.iter(|| kawaraban::judge::decide(&judge, &probe, store, Utc::now()).expect("decide"))
        });
    }

    let examples: Vec<Example> = jsonl("tests/fixtures/judge/categories/security-ja-train.jsonl")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let docs: Vec<Example> = jsonl("tests/fixtures/judge/categories/security-ja-test.jsonl")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for e in &examples {
        if !names.contains(&e.category) {
            names.push(e.category.clone());
        }
    }
    let configs: Vec<kawaraban::config::CategoryConfig> = names
        .iter()
        .enumerate()
        .map(|(i, n)| kawaraban::config::CategoryConfig {
            name: n.clone(),
            slug: None,
            keywords: Vec::new(),
            examples: None,
            default: i == 0,
        })
        .collect();
    let categorizer = Categorizer::new(&configs, &examples).expect("train");
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function(format!("categorize_{}_docs", docs.len()), |b| {
        b.iter(|| {
            docs.iter()
                .filter_map(|d| categorizer.decide(&d.title, &d.body))
                .count()
        })
    });
    group.bench_function(format!("fold_{}_docs", docs.len()), |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| fold(&d.title).len() + fold(&d.body).len())
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(examples.len() as u64));
    group.bench_function(format!("train_{}_docs", examples.len()), |b| {
        b.iter(|| Categorizer::new(&configs, &examples).expect("train"))
    });
    group.finish();
}

fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line["VmHWM:".len()..].trim().to_owned())
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = parse, render, extract_pages, judge
}

// criterion_main!, plus the memory figure, which criterion does not measure.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    match peak_rss() {
        Some(kb) => eprintln!("peak resident memory (VmHWM, whole run): {kb}"),
        None => eprintln!("peak resident memory: /proc/self/status has no VmHWM"),
    }
}
