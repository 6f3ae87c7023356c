//! OPML subscription lists: reading the files feed readers export (OPML 1.0 and 2.0,
//! folders nested in outlines, attribute spellings that vary between readers) and
//! writing the configured sources as OPML 2.0.
//!
//! The file comes from elsewhere, so reading it is bounded and never expands entities:
//! a size cap, a nesting cap, only XML's five predefined entities and character
//! references are decoded, and a parser panic ends as an error.

use std::panic::{AssertUnwindSafe, catch_unwind};

use quick_xml::events::{BytesStart, Event};
use serde::Serialize;
use url::Url;

use crate::config::Config;

/// Larger files are refused: subscription lists with thousands of feeds are a few MB.
pub const MAX_BYTES: usize = 16 << 20;
/// Deeper outlines are refused: readers nest folders two or three levels.
pub const MAX_DEPTH: usize = 64;
/// More feeds (and invalid outlines) in one file are refused: an import this large
/// is a mistake, and the cap bounds what a hostile file can make us hold.
pub const MAX_FEEDS: usize = 10_000;
/// Longer names are cut, longer tags end at the last folder that fits, and an outline
/// keeps this many tags.
const MAX_NAME: usize = 200;
const MAX_TAG: usize = 512;
const MAX_TAGS: usize = 16;
/// The namespace of the attribute that marks an index-page source (no feed).
pub const NAMESPACE: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "#opml");

/// One feed found in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feed {
    /// The outline's `text`, else its `title`, else the URL's host.
    pub name: String,
    /// `xmlUrl` (or, for an index-page source, its `url`).
    pub url: Url,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_url: Option<String>,
    /// The folder path (`"News/Security"`) and the outline's `category` values.
    pub tags: Vec<String>,
    /// An index-page source's link selector (written by our own export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
}

impl Feed {
    /// The source the configuration file gains for this feed.
    pub fn to_source(&self) -> crate::sources::edit::NewSource {
        crate::sources::edit::NewSource {
            name: self.name.clone(),
            url: self.url.to_string(),
            interval: None,
            selector: Vec::new(),
            tags: self.tags.clone(),
            links: self.links.clone(),
        }
    }
}

/// An outline that is not a usable feed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub line: usize,
    pub text: String,
    pub why: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub version: Option<String>,
    pub title: Option<String>,
    pub feeds: Vec<Feed>,
    pub invalid: Vec<Invalid>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("the OPML file is larger than {} MiB", MAX_BYTES >> 20)]
    TooLarge,
    #[error("not an OPML file: the document element is <{0}>, not <opml>")]
    NotOpml(String),
    #[error("not an OPML file: no <opml> element")]
    Empty,
    #[error("the OPML file has no <body>")]
    NoBody,
    #[error("the OPML file nests outlines deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the OPML file has more than {MAX_FEEDS} outlines with a feed: import it in parts")]
    TooMany,
    #[error("the OPML file is not well-formed XML at line {line}: {message}")]
    Xml { line: usize, message: String },
    #[error("the OPML file could not be read (the XML parser failed on it)")]
    Panicked,
}

/// Reads an OPML file: every outline with an `xmlUrl` is a feed, outlines around them
/// are folders.
pub fn parse(bytes: &[u8]) -> Result<Parsed, OpmlError> {
    if bytes.len() > MAX_BYTES {
        return Err(OpmlError::TooLarge);
    }
    // Readers write UTF-8, but a Japanese one may write Shift_JIS and say so.
    let text = crate::parse::charset::decode(bytes, None, None).text;
    catch_unwind(AssertUnwindSafe(|| parse_text(&text))).unwrap_or(Err(OpmlError::Panicked))
}

/// One open `<outline>`: the folder name it adds to its children's path, if any.
type Level = Option<String>;

fn parse_text(text: &str) -> Result<Parsed, OpmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Parsed::default();
    let mut path: Vec<&'static str> = Vec::new();
    let mut outlines: Vec<Level> = Vec::new();
    let (mut seen_root, mut seen_body) = (false, false);
    let mut title = String::new();
    // Positions only grow, so lines are counted from where the last count stopped:
    // counting from the start each time would be quadratic in a long one-line file.
    let mut counted = (0usize, 1usize);
    let mut line_at = |pos: u64| {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
        let (from, line) = counted;
        if pos > from {
            let more = text.as_bytes()[from..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted = (pos, line + more);
        }
        counted.1
    };
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| OpmlError::Xml {
            line: line_at(reader.error_position()),
            message: e.to_string(),
        })?;
        let (start, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                match path.pop() {
                    Some("outline") => {
                        outlines.pop();
                    }
                    Some("title") if out.title.is_none() => {
                        out.title = Some(clean(&title)).filter(|t| !t.is_empty());
                    }
                    _ => {}
                }
                continue;
            }
            Event::Text(t) if path.last() == Some(&"title") => {
                title.push_str(&t.xml10_content());
                continue;
            }
            Event::GeneralRef(r) if path.last() == Some(&"title") => {
                let name = r.xml10_content();
                match r.resolve_char_ref() {
                    Ok(Some(c)) => title.push(c),
                    _ => title.push_str(
                        quick_xml::escape::resolve_predefined_entity(&name).unwrap_or(""),
                    ),
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = start.local_name();
        let name: &str = name.as_ref();
        if !seen_root {
            if name != "opml" {
                return Err(OpmlError::NotOpml(name.chars().take(40).collect()));
            }
            seen_root = true;
            out.version = attr(&start, "version");
        }
        let in_body = path.contains(&"body");
        let known = match name {
            "opml" => "opml",
            "head" => "head",
            "title" => "title",
            "body" => {
                seen_body = true;
                "body"
            }
            "outline" if in_body => {
                let level = outline(&start, empty, &outlines, line_at(at), &mut out);
                if out.feeds.len() + out.invalid.len() > MAX_FEEDS {
                    return Err(OpmlError::TooMany);
                }
                if !empty {
                    if outlines.len() >= MAX_DEPTH {
                        return Err(OpmlError::TooDeep);
                    }
                    outlines.push(level);
                }
                "outline"
            }
            _ => "other",
        };
        if !empty {
            if path.len() > MAX_DEPTH + 8 {
                return Err(OpmlError::TooDeep);
            }
            path.push(known);
        }
    }
    if !seen_root {
        return Err(OpmlError::Empty);
    }
    if !seen_body {
        return Err(OpmlError::NoBody);
    }
    Ok(out)
}

/// Reads one outline: a feed (recorded in `out`), or a folder (its name returned, for
/// the outlines inside it).
fn outline(
    e: &BytesStart<'_>,
    empty: bool,
    folders: &[Level],
    line: usize,
    out: &mut Parsed,
) -> Level {
    let label = attr(e, "text")
        .map(|t| name(&t))
        .filter(|t| !t.is_empty())
        .or_else(|| attr(e, "title").map(|t| name(&t)).filter(|t| !t.is_empty()));
    let xml_url = attr(e, "xmlUrl");
    let links = attr(e, "kawaraban:links").filter(|l| !l.trim().is_empty());
    let page_url = links.as_ref().and_then(|_| attr(e, "url"));
    let Some(raw_url) = xml_url.or(page_url) else {
        // Without children, an outline that says what it is (a link, a feed missing
        // its URL) is not a feed; a bare one is an empty folder.
        if empty && (attr(e, "type").is_some() || attr(e, "url").is_some()) {
            out.invalid.push(Invalid {
                line,
                text: label.clone().unwrap_or_default(),
                why: "not a feed: it has no xmlUrl".into(),
            });
            return None;
        }
        // A folder.
        return label.map(|l| tag_path(&l)).filter(|p| !p.is_empty());
    };
    let Some(url) = super::parse_http_url(&raw_url) else {
        out.invalid.push(Invalid {
            line,
            text: label.unwrap_or_default(),
            why: format!("xmlUrl {:?} is not an absolute http(s) URL", cut(&raw_url)),
        });
        return None;
    };
    let mut tags: Vec<String> = Vec::new();
    let folder = tag_path(
        &folders
            .iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("/"),
    );
    if !folder.is_empty() {
        tags.push(folder);
    }
    for c in attr(e, "category").unwrap_or_default().split(',') {
        let t = tag_path(c);
        if !t.is_empty() && !tags.contains(&t) && tags.len() < MAX_TAGS {
            tags.push(t);
        }
    }
    out.feeds.push(Feed {
        name: label.unwrap_or_else(|| url.host_str().unwrap_or("feed").to_owned()),
        url,
        html_url: attr(e, "htmlUrl").filter(|h| !h.trim().is_empty()),
        tags,
        links,
    });
    // The outlines a feed outline holds (rare) sit in its folder, not under it.
    None
}

/// An attribute's value by name, ignoring case (`xmlUrl`, `xmlurl`, `XMLURL` all
/// occur). Only predefined entities and character references are decoded; a value
/// with anything else (a bare `&` in a URL is common) is taken as written.
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| {
            let key: &str = a.key.as_ref();
            key.eq_ignore_ascii_case(name)
        })
        .map(
            |a| match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(_) => {
                    let raw: &str = a.value.as_ref();
                    raw.to_owned()
                }
            },
        )
}

/// Whitespace collapsed, control characters gone.
fn clean(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name as shown: cleaned and cut to a sensible length.
fn name(s: &str) -> String {
    clean(s)
        .chars()
        .take(MAX_NAME)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// A folder path or category as a tag (see [`crate::config::check_tag`]): `/`
/// separates folders, commas are not allowed, empty parts are dropped, and the
/// deepest folders are left out when the path grows too long.
fn tag_path(s: &str) -> String {
    let mut out = String::new();
    for part in s
        .replace(',', " ")
        .split('/')
        .map(name)
        .filter(|p| !p.is_empty())
    {
        if out.len() + part.len() + 1 > MAX_TAG {
            break;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&part);
    }
    out
}

fn cut(s: &str) -> String {
    s.chars().take(120).collect()
}

/// The configured sources as OPML 2.0: a folder per tag path (a source with several
/// tags sits in its first one's folder and lists all of them in `category`). An
/// index-page source is an outline of type `link` with its selector in our namespace.
pub fn export(config: &Config) -> String {
    #[derive(Default)]
    struct Folder {
        name: String,
        entries: Vec<Entry>,
    }
    enum Entry {
        Folder(Folder),
        Source(usize),
    }
    fn place(folder: &mut Folder, path: &[&str], i: usize) {
        let Some((first, rest)) = path.split_first() else {
            folder.entries.push(Entry::Source(i));
            return;
        };
        let at = folder
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Folder(f) if f.name == *first));
        let at = at.unwrap_or_else(|| {
            folder.entries.push(Entry::Folder(Folder {
                name: (*first).to_owned(),
                entries: Vec::new(),
            }));
            folder.entries.len() - 1
        });
        if let Entry::Folder(f) = &mut folder.entries[at] {
            place(f, rest, i);
        }
    }
    fn write(config: &Config, folder: &Folder, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        for e in &folder.entries {
            match e {
                Entry::Folder(f) => {
                    let n = esc(&f.name);
                    out.push_str(&format!("{pad}<outline text=\"{n}\" title=\"{n}\">\n"));
                    write(config, f, depth + 1, out);
                    out.push_str(&format!("{pad}</outline>\n"));
                }
                Entry::Source(i) => {
                    let s = &config.sources[*i];
                    let n = esc(&s.name);
                    let category = if s.tags.len() > 1 {
                        let all: Vec<String> = s.tags.iter().map(|t| format!("/{t}")).collect();
                        format!(" category=\"{}\"", esc(&all.join(",")))
                    } else {
                        String::new()
                    };
                    match (&s.url, &s.page, &s.links) {
                        (Some(url), _, _) => out.push_str(&format!(
                            "{pad}<outline type=\"rss\" text=\"{n}\" title=\"{n}\" xmlUrl=\"{}\"{category}/>\n",
                            esc(url.get_ref().0.as_str())
                        )),
                        (None, Some(page), Some(links)) => out.push_str(&format!(
                            "{pad}<outline type=\"link\" text=\"{n}\" title=\"{n}\" url=\"{}\" kawaraban:links=\"{}\"{category}/>\n",
                            esc(page.get_ref().0.as_str()),
                            esc(links)
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    let mut root = Folder::default();
    for (i, s) in config.sources.iter().enumerate() {
        let path: Vec<&str> = s
            .tags
            .first()
            .map(|t| t.split('/').collect())
            .unwrap_or_default();
        place(&mut root, &path, i);
    }
    let ns = if config.sources.iter().any(|s| s.url.is_none()) {
        format!(" xmlns:kawaraban=\"{NAMESPACE}\"")
    } else {
        String::new()
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\"{ns}>\n  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        esc(&config.blog.title)
    );
    write(config, &root, 2, &mut out);
    out.push_str("  </body>\n</opml>\n");
    out
}

/// Escaped for an attribute or text, without the characters XML 1.0 cannot hold.
fn esc(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect();
    quick_xml::escape::escape(kept.as_str())
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/opml/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn urls(p: &Parsed) -> Vec<&str> {
        p.feeds.iter().map(|f| f.url.as_str()).collect()
    }

    #[test]
    fn nested_folders_become_tag_paths() {
        let p = parse(&fixture("nested-folders.opml")).unwrap();
        assert_eq!(p.version.as_deref(), Some("2.0"));
        assert_eq!(p.title.as_deref(), Some("My subscriptions"));
        let by_url = |u: &str| p.feeds.iter().find(|f| f.url.as_str() == u).unwrap();
        assert_eq!(
            by_url("https://top.example/feed").tags,
            Vec::<String>::new()
        );
        assert_eq!(by_url("https://tech.example/rss").tags, ["Tech"]);
        assert_eq!(
            by_url("https://sec.example/atom.xml").tags,
            ["Tech/Security"]
        );
        assert_eq!(
            by_url("https://deep.example/feed").tags,
            ["Tech/Security/Japan"]
        );
        // Folder names with a comma or surrounding spaces are made into valid tags.
        assert_eq!(by_url("https://misc.example/rss").tags, ["Odds ends"]);
        for f in &p.feeds {
            for t in &f.tags {
                crate::config::check_tag(t).unwrap();
            }
        }
        assert!(p.invalid.is_empty(), "{:?}", p.invalid);
    }

    #[test]
    fn opml_1_without_version_and_type_rss() {
        let p = parse(&fixture("opml1-typerss.opml")).unwrap();
        assert_eq!(p.version.as_deref(), Some("1.0"));
        assert_eq!(
            urls(&p),
            [
                "http://old.example/rss.xml",
                "https://blog.example/feed?format=rss&lang=en"
            ]
        );
        assert_eq!(p.feeds[0].name, "Old Times");
        // Only a title, and a bare `&` in the URL as some readers write it.
        assert_eq!(p.feeds[1].name, "A blog");

        let p = parse(&fixture("no-version.opml")).unwrap();
        assert_eq!(p.version, None);
        assert_eq!(urls(&p), ["https://news.example/index.rdf"]);
        assert_eq!(
            p.feeds[0].html_url.as_deref(),
            Some("https://news.example/")
        );
        assert_eq!(
            p.feeds[0].name, "news.example",
            "no text or title: the host"
        );
    }

    #[test]
    fn non_ascii_titles_and_other_encodings() {
        let p = parse(&fixture("japanese.opml")).unwrap();
        let names: Vec<&str> = p.feeds.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["山手新報 — 総合", "東西日報 & 経済", "Ünïcödé Wire"]
        );
        assert_eq!(p.feeds[0].tags, ["ニュース/国内"]);
        // The same list written in Shift_JIS, as it declares.
        let sjis = encoding_rs::SHIFT_JIS
            .encode(
                &String::from_utf8(fixture("japanese.opml"))
                    .unwrap()
                    .replace("UTF-8", "Shift_JIS")
                    .replace("Ünïcödé", "Unicode"),
            )
            .0
            .into_owned();
        let p2 = parse(&sjis).unwrap();
        assert_eq!(p2.feeds[0].name, "山手新報 — 総合");
        assert_eq!(p2.feeds[0].tags, ["ニュース/国内"]);
    }

    #[test]
    fn invalid_outlines_are_reported_not_fatal() {
        let p = parse(&fixture("invalid-outlines.opml")).unwrap();
        assert_eq!(urls(&p), ["https://ok.example/feed"]);
        let why: Vec<(usize, &str)> = p.invalid.iter().map(|i| (i.line, i.why.as_str())).collect();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].1.contains("not an absolute http(s) URL"), "{why:?}");
        assert!(why[1].1.contains("not an absolute http(s) URL"), "{why:?}");
        assert!(why[2].1.contains("no xmlUrl"), "{why:?}");
        assert_eq!(why[0].0, 5);
    }

    #[test]
    fn hostile_files_end_in_errors() {
        // Entities declared in a DOCTYPE are never expanded.
        let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/&b;"/></body></opml>"#;
        let p = parse(bomb).unwrap();
        assert_eq!(p.feeds.len(), 1);
        assert!(p.feeds[0].name.len() < 20, "{:?}", p.feeds[0].name);
        assert!(
            matches!(parse(b"<rss version=\"2.0\"/>"), Err(OpmlError::NotOpml(n)) if n == "rss")
        );
        assert!(matches!(parse(b""), Err(OpmlError::Empty)));
        assert!(matches!(
            parse(b"<opml><head/></opml>"),
            Err(OpmlError::NoBody)
        ));
        assert!(matches!(
            parse(b"<opml><body><outline text=\"a\">\n</body></opml>"),
            Err(OpmlError::Xml { line: 2, .. })
        ));
        let deep = format!(
            "<opml><body>{}</body></opml>",
            "<outline text=\"f\">".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(parse(deep.as_bytes()), Err(OpmlError::TooDeep)));
        let many = format!(
            "<opml><body>{}</body></opml>",
            "<outline xmlUrl=\"https://a.example/\"/>".repeat(MAX_FEEDS + 1)
        );
        assert!(matches!(parse(many.as_bytes()), Err(OpmlError::TooMany)));
        // Long folder names: the tag stays bounded and valid.
        let long = format!(
            "<opml><body>{}<outline xmlUrl=\"https://a.example/\"/>{}</body></opml>",
            format!("<outline text=\"{}\">", "x".repeat(5000)).repeat(10),
            "</outline>".repeat(10)
        );
        let p = parse(long.as_bytes()).unwrap();
        assert!(
            p.feeds[0].tags[0].len() <= MAX_TAG,
            "{}",
            p.feeds[0].tags[0].len()
        );
        crate::config::check_tag(&p.feeds[0].tags[0]).unwrap();
        let big = vec![b' '; MAX_BYTES + 1];
        assert!(matches!(parse(&big), Err(OpmlError::TooLarge)));
        // Whatever the bytes, no panic escapes.
        for junk in [
            &b"<?xml version=\"1.0\"?><?xml version=\"1.0\"?><opml/>"[..],
            b"<opml><body><outline xmlUrl=\"\xff\xfe\"/></body></opml>",
            b"\xef\xbb\xbf<opml version='2.0'><body><outline text='a' xmlUrl='https://a.example/'/></body></opml>",
            b"<opml><body><outline xmlUrl='https://a.example/' xmlUrl='https://b.example/'/></body></opml>",
        ] {
            let _ = parse(junk);
        }
    }

    #[test]
    fn export_then_import_gives_the_same_sources() {
        let text = r#"[blog]
title = "瓦版 <sources> & more"
[[source]]
name = "Top"
url = "https://top.example/feed?a=1&b=2"
[[source]]
name = "山手新報 \"総合\""
url = "https://yamate.example/index.rdf"
tags = ["ニュース/国内", "朝刊"]
[[source]]
name = "Sec Wire"
url = "https://sec.example/atom.xml"
tags = "ニュース/セキュリティ"
[[source]]
name = "北海民報"
page = "https://hokkai.example/news/"
links = "ul.news-list a[href*='/n/']"
tags = "ニュース"
"#;
        let config = Config::parse(text, "t").unwrap();
        let xml = export(&config);
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\""),
            "{xml}"
        );
        assert!(
            xml.contains("<title>瓦版 &lt;sources&gt; &amp; more</title>"),
            "{xml}"
        );
        let p = parse(xml.as_bytes()).unwrap();
        assert_eq!(p.version.as_deref(), Some("2.0"));
        assert_eq!(p.title.as_deref(), Some("瓦版 <sources> & more"));
        assert!(p.invalid.is_empty(), "{:?}", p.invalid);
        let back: Vec<(String, String, Vec<String>, Option<String>)> = p
            .feeds
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.url.to_string(),
                    f.tags.clone(),
                    f.links.clone(),
                )
            })
            .collect();
        let want: Vec<(String, String, Vec<String>, Option<String>)> = config
            .sources
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    crate::sources::source_url(s).unwrap().to_string(),
                    s.tags.clone(),
                    s.links.clone(),
                )
            })
            .collect();
        // Folders gather their sources, so the order is by folder.
        let mut sorted_back = back.clone();
        sorted_back.sort();
        let mut sorted_want = want.clone();
        sorted_want.sort();
        assert_eq!(sorted_back, sorted_want);
        // And what is read back exports to the same bytes.
        let again = crate::sources::edit::add_sources(
            "[blog]\ntitle = \"瓦版 <sources> & more\"\n",
            &p.feeds.iter().map(Feed::to_source).collect::<Vec<_>>(),
        )
        .unwrap();
        let config2 = Config::parse(&again, "again").unwrap();
        assert_eq!(export(&config2), xml);
    }
}
