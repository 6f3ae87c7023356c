//! Extraction quality on the shared scoring sets beside the repository (`../shared`),
//! scored as `../shared/tools/extract_score.py` scores the CLI, so a change to the
//! extractor cannot lose quality without this test failing. The floors sit about 0.01
//! under the figures the script measured; raise them when the extractor improves.
//!
//! `cargo test --test extract_shared -- --nocapture` prints the figures.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ego_tree::iter::Edge;
use kawaraban::extract::{Options, decode_page, extract};
use regex::Regex;
use scraper::{Html, Node};
use serde::Deserialize;
use url::Url;

// F1 only: precision and recall are traded against each other on purpose while the
// extractor is tuned, and F1 is the figure the sets are compared by.
/// `extract_score.py --evalset` measured P 0.927, R 0.938, F1 0.933 when this was set.
const EVALSET_MIN_F1: f64 = 0.925;
/// `extract_score.py` measured P 0.957, R 0.898, F1 0.926 when this was set.
const TESTPAGES_MIN_F1: f64 = 0.916;
/// yahoo-4, the set's Japanese news article, scores 1.000 with `--cjk`.
const YAHOO_4_MIN_F1: f64 = 0.95;

const TESTPAGES_URL: &str = "http://fakehost/test/page.html";
const CJK: &str = r"\x{3040}-\x{30ff}\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}\x{ff66}-\x{ff9f}\x{ac00}-\x{d7af}";
const BLOCK: &str = "address article aside blockquote br dd details div dl dt figcaption figure \
                     footer h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary \
                     table tbody td tfoot th thead tr ul";
const SKIPPED: &[&str] = &["script", "style", "template", "noscript"];

struct Scores {
    precision: f64,
    recall: f64,
    f1: f64,
}

impl Scores {
    fn new(precision: f64, recall: f64) -> Scores {
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Scores {
            precision,
            recall,
            f1,
        }
    }
}

/// Fails rather than skips: a missing set would otherwise turn this test into a no-op
/// that passes, which is the one outcome a regression guard must not have.
fn shared(sub: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let dir = root.join(sub);
    assert!(
        dir.is_dir(),
        "the shared scoring set {sub} is missing: looked for {} (the shared folder is \
         expected beside the repository at {}; CI has a read-only copy there)",
        dir.display(),
        root.display()
    );
    dir
}

/// Body text as the CLI prints it; a failed extraction prints nothing, as for the script.
/// A panic still fails the test, named after the page, since the daemon would hit it too.
fn extract_text(name: &str, bytes: &[u8], url: &Url) -> String {
    let opts = Options {
        timezone: chrono_tz::Asia::Tokyo,
        ..Options::default()
    };
    catch_unwind(AssertUnwindSafe(|| {
        let html = decode_page(bytes, None, url);
        extract(&html, url, &opts)
            .map(|x| x.body_text)
            .unwrap_or_default()
    }))
    .unwrap_or_else(|_| panic!("the extractor panicked on {name}"))
}

/// Python's `str.isspace`, which the script splits on: Rust's whitespace plus the
/// information separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn ws_norm(s: &str) -> String {
    s.split(is_py_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- extraction-evalset: human-chosen snippets ------------------------------------

#[derive(Deserialize)]
struct EvalIndex {
    pages: Vec<EvalPage>,
}

#[derive(Deserialize)]
struct EvalPage {
    file: String,
    url: String,
    with: Vec<String>,
    without: Vec<String>,
}

#[derive(Default)]
struct Snippets {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

/// 36 pages are keyed `hard::<file>` or `recall::<file>` upstream, with no URL recorded.
fn evalset_url(raw: &str) -> Url {
    let fallback = || Url::parse("http://example.com/").expect("valid URL");
    if raw.starts_with("hard::") || raw.starts_with("recall::") {
        return fallback();
    }
    Url::parse(raw).unwrap_or_else(|_| fallback())
}

fn score_evalset_page(dir: &Path, page: &EvalPage) -> Snippets {
    let path = dir.join(&page.file);
    let packed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut raw = Vec::new();
    lzma_rs::xz_decompress(&mut packed.as_slice(), &mut raw)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let out = ws_norm(&extract_text(&page.file, &raw, &evalset_url(&page.url)));
    let found = |s: &String| out.contains(&ws_norm(s));
    let tp = page.with.iter().filter(|s| found(s)).count();
    let fp = page.without.iter().filter(|s| found(s)).count();
    Snippets {
        tp,
        fp,
        fn_: page.with.len() - tp,
        tn: page.without.len() - fp,
    }
}

#[test]
fn evalset_snippets() {
    let started = Instant::now();
    let dir = shared("extraction-evalset");
    let index: EvalIndex = serde_json::from_slice(
        &std::fs::read(dir.join("index.json")).expect("extraction-evalset/index.json"),
    )
    .expect("extraction-evalset/index.json parses");
    assert!(!index.pages.is_empty(), "extraction-evalset lists no pages");
    let per_page = index
        .pages
        .iter()
        .map(|page| score_evalset_page(&dir, page))
        .collect::<Vec<_>>();

    let mut t = Snippets::default();
    for s in &per_page {
        t.tp += s.tp;
        t.fp += s.fp;
        t.fn_ += s.fn_;
        t.tn += s.tn;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let scores = Scores::new(ratio(t.tp, t.tp + t.fp), ratio(t.tp, t.tp + t.fn_));

    let mut worst: Vec<(usize, &EvalPage, &Snippets)> = index
        .pages
        .iter()
        .zip(&per_page)
        .map(|(p, s)| (s.fp + s.fn_, p, s))
        .filter(|(misses, _, _)| *misses > 0)
        .collect();
    worst.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.file.cmp(&b.1.file)));
    for (misses, page, s) in worst.iter().take(10) {
        println!(
            "  misses={misses} (FN={} FP={})  {}",
            s.fn_, s.fp, page.file
        );
    }
    println!(
        "extraction-evalset: pages={} precision={:.3} recall={:.3} F1={:.3} \
         (TP={} FP={} FN={} TN={}) in {:.1?}",
        index.pages.len(),
        scores.precision,
        scores.recall,
        scores.f1,
        t.tp,
        t.fp,
        t.fn_,
        t.tn,
        started.elapsed()
    );
    assert!(
        scores.f1 >= EVALSET_MIN_F1,
        "extraction-evalset: F1 {:.3} < {EVALSET_MIN_F1}: extraction quality dropped \
         (the pages listed above miss most)",
        scores.f1
    );
}

// ---- extraction-testpages: Readability.js output, shingle overlap -------------------

/// Python's `\w` is letters, numbers and `_`; the regex crate's `\w` also takes
/// combining marks, which would join tokens the script splits (Devanagari, Thai, …).
fn word_re() -> Regex {
    Regex::new(r"[\p{L}\p{N}_]+").expect("valid regex")
}

/// The script's `--cjk`: each Han, kana or Hangul character is a token of its own.
fn cjk_re() -> Regex {
    Regex::new(&format!(r"[{CJK}]|[[\p{{L}}\p{{N}}_]--[{CJK}]]+")).expect("valid regex")
}

/// The script's `html_text`, as far as tokens can tell: block tags separate words, and
/// script, style, template and noscript contribute nothing.
fn html_text(markup: &str) -> String {
    let doc = Html::parse_fragment(markup);
    let mut out = String::new();
    let mut skip = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) if SKIPPED.contains(&e.name()) => skip += 1,
                Node::Element(e) if is_block(e.name()) => out.push('\n'),
                Node::Text(t) if skip == 0 => out.push_str(t),
                _ => {}
            },
            Edge::Close(node) => match node.value() {
                Node::Element(e) if SKIPPED.contains(&e.name()) => skip -= 1,
                Node::Element(e) if is_block(e.name()) => out.push('\n'),
                _ => {}
            },
        }
    }
    out
}

fn is_block(name: &str) -> bool {
    BLOCK.split_whitespace().any(|b| b == name)
}

/// Every run of 4 tokens, counted; a text of 1 to 3 tokens is one short shingle.
fn shingles<'a>(tokens: &'a [&'a str]) -> HashMap<&'a [&'a str], usize> {
    let mut m = HashMap::new();
    if tokens.is_empty() {
        return m;
    }
    if tokens.len() < 4 {
        m.insert(tokens, 1);
        return m;
    }
    for w in tokens.windows(4) {
        *m.entry(w).or_insert(0) += 1;
    }
    m
}

/// Multiset overlap of predicted against expected shingles, as shares of their sum.
#[derive(Clone, Copy)]
struct PageCounts {
    tp: f64,
    fp: f64,
    fn_: f64,
}

impl PageCounts {
    fn new(truth: &str, pred: &str, token_re: &Regex) -> PageCounts {
        let t_tokens: Vec<&str> = token_re.find_iter(truth).map(|m| m.as_str()).collect();
        let p_tokens: Vec<&str> = token_re.find_iter(pred).map(|m| m.as_str()).collect();
        let (t, p) = (shingles(&t_tokens), shingles(&p_tokens));
        let tp: usize = p
            .iter()
            .map(|(k, &n)| n.min(t.get(k).copied().unwrap_or(0)))
            .sum();
        let fp = p.values().sum::<usize>() - tp;
        let fn_ = t.values().sum::<usize>() - tp;
        let s = (tp + fp + fn_) as f64;
        if s == 0.0 {
            return PageCounts {
                tp: 0.0,
                fp: 0.0,
                fn_: 0.0,
            };
        }
        PageCounts {
            tp: tp as f64 / s,
            fp: fp as f64 / s,
            fn_: fn_ as f64 / s,
        }
    }

    fn precision(&self) -> f64 {
        if self.fp == 0.0 && self.fn_ == 0.0 {
            1.0
        } else if self.tp + self.fp == 0.0 {
            0.0
        } else {
            self.tp / (self.tp + self.fp)
        }
    }

    fn recall(&self) -> f64 {
        if self.fp == 0.0 && self.fn_ == 0.0 {
            1.0
        } else if self.tp + self.fn_ == 0.0 {
            0.0
        } else {
            self.tp / (self.tp + self.fn_)
        }
    }

    fn f1(&self) -> f64 {
        Scores::new(self.precision(), self.recall()).f1
    }
}

/// Precision over pages with predicted shingles, recall over pages with expected ones,
/// F1 of the two means: the script's aggregate, not a mean of per-page F1.
fn aggregate(counts: &[PageCounts]) -> Scores {
    let mean = |xs: Vec<f64>| {
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    Scores::new(
        mean(
            counts
                .iter()
                .filter(|c| c.tp + c.fp > 0.0)
                .map(PageCounts::precision)
                .collect(),
        ),
        mean(
            counts
                .iter()
                .filter(|c| c.tp + c.fn_ > 0.0)
                .map(PageCounts::recall)
                .collect(),
        ),
    )
}

fn testpage_names(pages: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pages)
        .unwrap_or_else(|e| panic!("{}: {e}", pages.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.join("expected.html").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn score_testpages(names: &[String], token_re: &Regex) -> Vec<PageCounts> {
    let pages = shared("extraction-testpages").join("pages");
    let url = Url::parse(TESTPAGES_URL).expect("valid URL");
    names
        .iter()
        .map(|name| {
            let dir = pages.join(name);
            let read =
                |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}"));
            let mut source = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(read("source.html.gz").as_slice()),
                &mut source,
            )
            .unwrap_or_else(|e| panic!("{name}/source.html.gz: {e}"));
            let expected = String::from_utf8_lossy(&read("expected.html")).into_owned();
            let pred = extract_text(name, &source, &url);
            PageCounts::new(&html_text(&expected), &pred, token_re)
        })
        .collect()
}

fn print_page(name: &str, c: &PageCounts) {
    println!(
        "  {:.3}  P={:.3} R={:.3}  {name}",
        c.f1(),
        c.precision(),
        c.recall()
    );
}

#[test]
fn testpages_shingles() {
    let started = Instant::now();
    let names = testpage_names(&shared("extraction-testpages").join("pages"));
    assert!(!names.is_empty(), "extraction-testpages has no pages");
    let counts = score_testpages(&names, &word_re());
    let scores = aggregate(&counts);

    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| counts[a].f1().total_cmp(&counts[b].f1()));
    for &i in order.iter().take(10) {
        print_page(&names[i], &counts[i]);
    }
    println!(
        "extraction-testpages: pages={} precision={:.3} recall={:.3} F1={:.3} in {:.1?}",
        names.len(),
        scores.precision,
        scores.recall,
        scores.f1,
        started.elapsed()
    );
    assert!(
        scores.f1 >= TESTPAGES_MIN_F1,
        "extraction-testpages: F1 {:.3} < {TESTPAGES_MIN_F1}: extraction quality dropped \
         (the pages listed above score lowest)",
        scores.f1
    );
}

/// `\w+` makes each run of Japanese between punctuation marks one token, too coarse to
/// tell a good Japanese extraction from a bad one; `--cjk` tokens are characters.
#[test]
fn testpages_japanese_cjk() {
    let names = ["hukumusume".to_owned(), "yahoo-4".to_owned()];
    let counts = score_testpages(&names, &cjk_re());
    for (name, c) in names.iter().zip(&counts) {
        print_page(name, c);
    }
    let scores = aggregate(&counts);
    println!(
        "extraction-testpages --cjk (hukumusume, yahoo-4): precision={:.3} recall={:.3} F1={:.3}",
        scores.precision, scores.recall, scores.f1
    );
    let yahoo = counts[1].f1();
    assert!(
        yahoo >= YAHOO_4_MIN_F1,
        "extraction-testpages yahoo-4 (--cjk): F1 {yahoo:.3} < {YAHOO_4_MIN_F1}"
    );
}
