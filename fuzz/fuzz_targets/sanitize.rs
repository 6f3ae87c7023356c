//! The sanitizer and the plain-text views, on arbitrary (lossily decoded) markup.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use url::Url;

static BASE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://example.com/news/2024/story.html").unwrap());

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let clean = kawaraban::sanitize::clean_html(&html, &BASE);
    // The one property everything downstream relies on: no script element survives.
    assert!(
        !clean.to_ascii_lowercase().contains("<script"),
        "script survived sanitizing: {clean:?}"
    );
    let _ = kawaraban::sanitize::html_to_text(&html);
    let _ = kawaraban::sanitize::html_to_text(&clean);
    let _ = kawaraban::parse::strip_tags(&html);
    let _ = kawaraban::parse::plain_text(&html);
});
