//! The one gate between source HTML and anything we publish: an allowlist sanitizer
//! (ammonia), plus the plain-text view that matching code reads.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use ego_tree::iter::Edge;
use scraper::{Html, Node};
use url::Url;

/// Sanitizes source HTML: only the allowlisted elements and attributes survive, links
/// and images are made absolute against `base`, and every link gets
/// `rel="noopener noreferrer nofollow"`. No script, style, event handler, or
/// javascript:/vbscript:/data: URL can pass. `srcset` is not kept: ammonia neither
/// checks nor absolutizes the URLs inside it, and `src` alone shows the image.
pub fn clean_html(html: &str, base: &Url) -> String {
    if nesting_depth(html) > MAX_NESTING {
        // The HTML parser's scope checks cost time in proportion to nesting depth for
        // every tag; such markup is hostile or broken, so only its text is kept.
        let text = html_to_text(&crate::parse::strip_tags(html));
        return format!("<p>{}</p>", html_escape::encode_text(&text));
    }
    let tags: HashSet<&str> = [
        "p",
        "br",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "blockquote",
        "figure",
        "figcaption",
        "img",
        "a",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "caption",
        "pre",
        "code",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "s",
        "sub",
        "sup",
        "small",
        "hr",
        "dl",
        "dt",
        "dd",
        "q",
        "cite",
        "abbr",
        "time",
        "span",
        "div",
    ]
    .into_iter()
    .collect();
    let generic: HashSet<&str> = ["title", "lang", "dir"].into_iter().collect();
    let mut b = Builder::default();
    b.tags(tags)
        .generic_attributes(generic)
        .tag_attributes(
            [
                ("a", ["href"].into_iter().collect::<HashSet<_>>()),
                (
                    "img",
                    ["src", "alt", "width", "height"].into_iter().collect(),
                ),
                ("td", ["colspan", "rowspan"].into_iter().collect()),
                ("th", ["colspan", "rowspan", "scope"].into_iter().collect()),
                // No `cite`: ammonia checks the scheme of href and src only, and a
                // reader never shows the citation URL anyway.
                ("time", ["datetime"].into_iter().collect()),
            ]
            .into_iter()
            .collect(),
        )
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(UrlRelative::RewriteWithBase(base.clone()))
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true);
    b.clean(html).to_string()
}

/// Text that stays text wherever it is shown (titles, publisher names), even in the
/// many feed readers that read RSS titles as HTML: whatever would open a tag, a comment
/// or a declaration there is dropped, and so are the control characters XML cannot
/// carry. A `<` that opens nothing ("a < b") is kept.
pub fn plain_line(text: &str) -> String {
    let opens = |c: Option<&char>| {
        c.is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '!' | '/' | '?'))
    };
    let mut stripped = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' && opens(chars.peek()) {
            // An unclosed tag is cut to the end: a reader's own markup would close it.
            for t in chars.by_ref() {
                if t == '>' {
                    break;
                }
            }
            stripped.push(' ');
            continue;
        }
        if c.is_control() {
            if c.is_whitespace() {
                stripped.push(' ');
            }
            continue;
        }
        if !matches!(c, '\u{fffe}' | '\u{ffff}') {
            stripped.push(c);
        }
    }
    // A dropped control character may have joined a `<` to a letter; from the end,
    // each `<` is dropped when what follows it would open something.
    let mut kept: Vec<char> = Vec::with_capacity(stripped.len());
    for c in stripped.chars().rev() {
        if c == '<' && opens(kept.last()) {
            continue;
        }
        kept.push(c);
    }
    let line: String = kept.into_iter().rev().collect();
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Nesting beyond this is refused before parsing: real pages stay under a few hundred
/// levels, and browsers cap their trees at about 512.
pub const MAX_NESTING: usize = 3000;

/// The deepest nesting the markup asks for, counting the elements that do not close
/// themselves implicitly (an unclosed `<p>` or `<li>` ends at the next one). A linear
/// scan, so it can run before the parser.
pub fn nesting_depth(html: &str) -> usize {
    const IMPLICIT: &[&str] = &[
        "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot",
        "colgroup", "caption", "rb", "rt", "rp", "rtc", "br", "img", "hr", "input", "meta", "link",
        "area", "base", "col", "embed", "source", "track", "wbr", "param", "keygen", "html",
        "head", "body",
    ];
    let bytes = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    // The next `>` is remembered across tags: searching afresh from every `<` made
    // markup with no `>` (`<a<a<a…`) quadratic.
    let mut next_gt = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        i += off + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if len == 0 {
            continue;
        }
        let name = html[start..start + len].to_ascii_lowercase();
        if IMPLICIT.contains(&name.as_str()) {
            continue;
        }
        let after_name = start + len;
        if next_gt < after_name {
            next_gt = bytes[after_name..]
                .iter()
                .position(|&b| b == b'>')
                .map_or(bytes.len(), |end| after_name + end);
        }
        let self_closing =
            next_gt < bytes.len() && next_gt > after_name && bytes[next_gt - 1] == b'/';
        if closing {
            depth = depth.saturating_sub(1);
        } else if !self_closing {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// The text of an HTML fragment, with blank lines between blocks, for matching and
/// for excerpts.
pub fn html_to_text(html: &str) -> String {
    let frag = Html::parse_fragment(html);
    let mut out = String::new();
    let mut skipping = 0usize;
    for edge in frag.root_element().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(t) if skipping == 0 => out.push_str(t),
                Node::Element(e) if matches!(e.name(), "script" | "style" | "template") => {
                    skipping += 1
                }
                Node::Element(e) if is_block(e.name()) => out.push_str("\n\n"),
                Node::Element(e) if e.name() == "br" => out.push('\n'),
                _ => {}
            },
            Edge::Close(node) => match node.value() {
                Node::Element(e) if matches!(e.name(), "script" | "style" | "template") => {
                    skipping -= 1
                }
                Node::Element(e) if is_block(e.name()) => out.push_str("\n\n"),
                _ => {}
            },
        }
    }
    let mut paragraphs = Vec::new();
    for block in out.split("\n\n") {
        let lines: Vec<String> = block
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect();
        if !lines.is_empty() {
            paragraphs.push(lines.join("\n"));
        }
    }
    paragraphs.join("\n\n")
}

/// Elements that start a new block of text (for text views and for the extractor's
/// measurements alike).
pub const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "tr",
    "tbody",
    "thead",
    "tfoot",
    "blockquote",
    "pre",
    "dl",
    "dd",
    "dt",
    "form",
    "header",
    "footer",
    "aside",
    "nav",
    "figure",
    "figcaption",
    "body",
    "html",
    "center",
    "address",
    "fieldset",
    "details",
    "summary",
    "caption",
    "hgroup",
    "menu",
    "hr",
];

fn is_block(name: &str) -> bool {
    BLOCKS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.jp/a/1.html").unwrap()
    }

    #[test]
    fn scripts_handlers_and_bad_urls_go() {
        let dirty = r#"<p onclick="x()">本文<script>alert(1)</script><a href="JaVaScRiPt:alert(1)">a</a>
<a href=" javascript:alert(1)">b</a><img src="/i.png" onerror="alert(1)"><a href="data:text/html,x">c</a>
<iframe src="https://evil/"></iframe><style>p{}</style><a href="../b.html">rel</a></p>"#;
        let clean = clean_html(dirty, &base());
        for bad in [
            "script",
            "onclick",
            "onerror",
            "javascript",
            "iframe",
            "data:",
            "style",
            "alert",
        ] {
            assert!(
                !clean.to_ascii_lowercase().contains(bad),
                "{bad} survived: {clean}"
            );
        }
        assert!(
            clean.contains("src=\"https://news.example.jp/i.png\""),
            "{clean}"
        );
        assert!(
            clean.contains("href=\"https://news.example.jp/b.html\""),
            "{clean}"
        );
        assert!(
            clean.contains("rel=\"noopener noreferrer nofollow\""),
            "{clean}"
        );
        assert!(clean.contains("本文"));
        let img = clean_html(
            "<img src=a.png srcset=\"javascript:x 1x, b.png 2x\">",
            &base(),
        );
        assert!(!img.contains("srcset"), "{img}");
        let q = clean_html(
            "<q cite=\"javascript:alert(1)\">q</q><blockquote cite=\"vbscript:x\">b</blockquote>",
            &base(),
        );
        assert!(!q.contains("cite"), "{q}");
    }

    #[test]
    fn lines_stay_text() {
        for (dirty, clean) in [
            ("<script>alert(1)</script>速報", "alert(1) 速報"),
            ("<<b>script>x", "< script>x"),
            ("<\u{1}script>x", "script>x"),
            ("a < b > c, <3", "a < b > c, <3"),
            ("見出し<img src=x onerror=alert(1)", "見出し"),
            ("<!-- x -->y<?php z ?>", "y"),
            ("ja\u{0}va\tscript\u{1}", "java script"),
        ] {
            assert_eq!(plain_line(dirty), clean, "{dirty:?}");
        }
    }

    #[test]
    fn text_keeps_paragraphs() {
        let t = html_to_text(
            "<p>一段落目。</p><p>二段落目、<b>太字</b>。</p>三<br>四<script>x()</script>",
        );
        assert_eq!(t, "一段落目。\n\n二段落目、太字。\n\n三\n四");
    }
}
