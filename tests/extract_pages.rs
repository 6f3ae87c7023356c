//! The extractor on our own news pages (tests/fixtures/pages, original and fictional):
//! Shift_JIS and EUC-JP pages that declare their charset only in a meta tag, heavy
//! boilerplate with hostile markup in the body, lazy images, JSON-LD, a date given
//! only as Japanese text, a `<br><br>` table layout, a portal credit line, and
//! several Japanese newspaper, broadcaster, municipal and blog layouts. Every
//! expectation was checked by hand against the page.

use std::path::Path;

use chrono::DateTime;
use kawaraban::extract::{Options, decode_page, extract};
use serde_json::Value;
use url::Url;

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks one page against its expectation file; returns what did not hold.
fn check(name: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages");
    let expect: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.expect.json"))).unwrap())
            .unwrap();
    let bytes = std::fs::read(dir.join(format!("{name}.html"))).unwrap();
    let url = Url::parse(expect["url"].as_str().unwrap()).unwrap();
    let html = decode_page(&bytes, None, &url);
    let opts = Options {
        timezone: chrono_tz::Asia::Tokyo,
        publisher_from_page: true,
        ..Options::default()
    };
    let x = match extract(&html, &url, &opts) {
        Ok(x) => x,
        Err(e) => return vec![format!("{name}: extraction failed: {e}")],
    };
    let text = collapse(&x.body_text);
    let mut bad = Vec::new();
    let strs = |k: &str| -> Vec<String> {
        expect[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for s in strs("body_contains") {
        if !text.contains(&collapse(&s)) {
            bad.push(format!("{name}: body lacks {s:?}"));
        }
    }
    for s in strs("body_excludes") {
        if text.contains(&collapse(&s)) {
            bad.push(format!("{name}: body has boilerplate {s:?}"));
        }
    }
    let html_lower = x.body_html.to_ascii_lowercase();
    for s in strs("must_not_contain_html") {
        if html_lower.contains(&s.to_ascii_lowercase()) {
            bad.push(format!("{name}: body HTML has {s:?}"));
        }
    }
    for s in strs("images") {
        if !x.body_html.contains(&s) {
            bad.push(format!("{name}: image {s} missing from {}", x.body_html));
        }
    }
    for s in strs("no_images") {
        if x.body_html.contains(&s) {
            bad.push(format!("{name}: image {s} should be gone"));
        }
    }
    if let Some(n) = expect["paragraphs_min"].as_u64() {
        let got = x
            .body_text
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .count() as u64;
        if got < n {
            bad.push(format!(
                "{name}: {got} paragraphs, want at least {n}: {:?}",
                x.body_text
            ));
        }
    }
    if let Some(t) = expect["title"].as_str()
        && x.title.as_deref() != Some(t)
    {
        bad.push(format!("{name}: title {:?}, want {t:?}", x.title));
    }
    if let Some(p) = expect["published"].as_str() {
        let want = DateTime::parse_from_rfc3339(p).unwrap();
        if x.published != Some(want.to_utc()) {
            bad.push(format!("{name}: published {:?}, want {p}", x.published));
        }
    }
    for (key, got) in [
        ("author", &x.author),
        ("canonical_url", &x.canonical_url),
        ("publisher_from_page", &x.publisher),
    ] {
        if let Some(want) = expect[key].as_str()
            && got.as_deref() != Some(want)
        {
            bad.push(format!("{name}: {key} {got:?}, want {want:?}"));
        }
    }
    bad
}

#[test]
fn every_fixture_page_extracts_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".expect.json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 13, "fixtures missing: {names:?}");
    let bad: Vec<String> = names.iter().flat_map(|n| check(n)).collect();
    assert!(
        bad.is_empty(),
        "{} problems:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
