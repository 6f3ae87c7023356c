//! Page extraction: the first byte picks the Content-Type, the page URL and the
//! extraction options; the rest is the fetched page.
#![no_main]

use std::sync::LazyLock;

use kawaraban::extract::{Options, decode_page, extract};
use libfuzzer_sys::fuzz_target;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("text/html"),
    Some("text/html; charset=euc-jp"),
    Some("text/html; charset=windows-1252"),
];
static URLS: LazyLock<Vec<Url>> = LazyLock::new(|| {
    [
        "https://example.com/2024/05/01/story.html",
        "https://www.example.co.jp/news/article?id=1",
    ]
    .iter()
    .map(|u| Url::parse(u).unwrap())
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let url = &URLS[usize::from((pick >> 2) & 1)];
    let html = decode_page(body, CONTENT_TYPES[usize::from(pick & 3)], url);
    let mut opts = Options {
        publisher_from_page: pick & 0x08 != 0,
        timezone: chrono_tz::Asia::Tokyo,
        ..Options::default()
    };
    if pick & 0x10 != 0 {
        opts.selector = vec!["article".into(), "div.content > p".into()];
    }
    if pick & 0x20 != 0 {
        opts.remove = vec!["aside".into(), ".ad, nav, [role=complementary]".into()];
    }
    let _ = extract(&html, url, &opts);
});
