//! Decode + parse: the first byte picks the Content-Type, the feed URL (its TLD hints
//! the charset detector) and the time zone; the rest is the response body.
#![no_main]

use std::sync::LazyLock;

use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use url::Url;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/rss+xml"),
    Some("application/atom+xml; charset=utf-8"),
    Some("text/xml; charset=utf-16be"),
    Some("text/xml; charset=UTF-16"),
    Some("application/feed+json"),
    Some("text/xml; charset=shift_jis"),
    Some("application/xml; charset=no-such-charset"),
];
const TIME_ZONES: [Tz; 4] = [
    chrono_tz::UTC,
    chrono_tz::Asia::Tokyo,
    chrono_tz::America::New_York,
    chrono_tz::Pacific::Chatham,
];
static URLS: LazyLock<Vec<Url>> = LazyLock::new(|| {
    [
        "https://example.com/feed.xml",
        "https://news.example.jp/rss/index.rdf",
        "http://example.ru/",
        "https://example.cn/a/b/atom?x=1#f",
    ]
    .iter()
    .map(|u| Url::parse(u).unwrap())
    .collect()
});

fuzz_target!(
    init: {
        // libfuzzer-sys installs a hook that aborts on any panic, before unwinding could
        // reach parse_feed's catch_unwind. Restoring the default hook lets a contained
        // third-party panic end as the daemon sees it (ParseError::ParserPanic), while a
        // panic that escapes parse_feed still unwinds into libfuzzer-sys, which aborts:
        // only escaped panics are crashes, as in production.
        drop(std::panic::take_hook());
    },
    |data: &[u8]| {
        let Some((&pick, body)) = data.split_first() else {
            return;
        };
        let content_type = CONTENT_TYPES[usize::from(pick & 7)];
        let url = &URLS[usize::from((pick >> 3) & 3)];
        let tz = TIME_ZONES[usize::from(pick >> 5) & 3];
        if let Ok(feed) = kawaraban::parse::parse_feed(body, content_type, url, tz) {
            for e in &feed.entries {
                if let Some(link) = &e.link {
                    assert!(link.has_host() || link.scheme() != "http");
                }
            }
        }
    }
);
