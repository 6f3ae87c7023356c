//! Inputs found while fuzzing (`fuzz/`), kept so they stay harmless: a parser panic must
//! end as an error for that one feed, and megabytes of the inputs that were quadratic
//! (their speed is a benchmark's business, not a test's) must still come out right.
//! Small inputs are files under `tests/fixtures/fuzz/`; the large ones are generated here.

use std::path::Path;

use kawaraban::extract::{ExtractError, Options, extract};
use kawaraban::parse::parse_feed;
use kawaraban::sanitize::{MAX_NESTING, clean_html, nesting_depth};
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_second_xml_declaration_is_an_error_for_that_feed_only() {
    // quick-xml (inside feed-rs) panics on an encoding declaration past the start of the
    // document; parse_feed has to turn that into an error, whatever it says.
    let url = Url::parse("https://news.example.jp/rss/index.rdf").unwrap();
    for bytes in [
        fixture("second-xml-declaration.xml"),
        b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
          <?xml version=\"1.0\" encoding=\"Shift_JIS\"?><item><title>a</title></item>\
          </channel></rss>"
            .to_vec(),
    ] {
        let outcome = std::panic::catch_unwind(|| {
            parse_feed(&bytes, None, &url, chrono_tz::UTC).map(|f| f.entries.len())
        });
        assert!(outcome.is_ok(), "a parser panic escaped parse_feed");
    }
}

#[test]
fn utf16_feeds_are_read_whatever_their_label() {
    // feed-rs panics on UTF-16BE bytes; they must be decoded before it sees them.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\
        <rss version=\"2.0\"><channel><title>t</title>\
        <item><title>見出し</title><link>https://example.com/a</link></item></channel></rss>";
    let be: Vec<u8> = xml.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let le: Vec<u8> = xml.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let url = Url::parse("https://example.com/feed.xml").unwrap();
    let cases: [(Vec<u8>, Option<&str>); 4] = [
        ([&[0xFE, 0xFF][..], &be].concat(), None),
        (be.clone(), None),
        (be, Some("text/xml; charset=utf-16be")),
        (
            [&[0xFF, 0xFE][..], &le].concat(),
            Some("application/rss+xml"),
        ),
    ];
    for (bytes, content_type) in cases {
        let feed = parse_feed(&bytes, content_type, &url, chrono_tz::UTC)
            .unwrap_or_else(|e| panic!("{content_type:?}: {e}"));
        assert_eq!(feed.entries.len(), 1, "{content_type:?}");
        assert_eq!(feed.entries[0].title, "見出し");
    }
}

#[test]
fn megabytes_of_unclosed_tags_are_handled() {
    // `<a<a<a…`: the nesting check looked for the next `>` from every tag.
    let html = "<a".repeat(1 << 20);
    assert_eq!(nesting_depth(&html), 1 << 20);
    let clean = clean_html(&html, &Url::parse("https://example.com/").unwrap());
    assert!(!clean.contains("<a"), "{}", &clean[..100.min(clean.len())]);
    let url = Url::parse("https://example.com/a.html").unwrap();
    match extract(&html, &url, &Options::default()) {
        Err(ExtractError::TooDeep(depth)) => assert!(depth > MAX_NESTING),
        other => panic!("expected TooDeep, got {other:?}"),
    }
}

#[test]
fn megabytes_of_bare_ampersands_are_repaired() {
    // The entity repair looked for a `;` from every `&` to the end of the feed.
    let mut feed = String::from("<rss version=\"2.0\"><channel><title>");
    feed.push_str(&"&".repeat(1 << 20));
    feed.push_str("</title></channel></rss>");
    let url = Url::parse("https://example.com/feed.xml").unwrap();
    let parsed = parse_feed(feed.as_bytes(), None, &url, chrono_tz::UTC);
    let title = parsed
        .expect("bare `&` are repaired")
        .title
        .unwrap_or_default();
    assert_eq!(title.len(), 1 << 20);
}
