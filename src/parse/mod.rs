//! Bytes → entries, whatever the format (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed) and
//! character set. A plain function: no network, no store.

pub mod charset;
pub mod dates;
mod prepass;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use feed_rs::model::{Entry, Text};
use quick_xml::events::Event;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not text in any character set we could detect ({0}): is the URL a feed?")]
    Undecodable(String),
    #[error("not a feed we can read ({0}): check that the URL serves RSS, Atom or JSON Feed")]
    Unparsable(String),
    #[error("the feed parser crashed on this feed ({0}); the feed is skipped")]
    ParserPanic(String),
}

/// Entries read from one feed, in document order (newest first, as feeds list them).
/// Real feeds carry tens or hundreds; one of tens of thousands (an archive, or a hostile
/// feed) would take hundreds of megabytes to model and minutes to store, on every poll.
pub const MAX_ENTRIES: usize = 1000;

#[derive(Debug, Clone)]
pub struct ParsedFeed {
    pub format: &'static str,
    pub title: Option<String>,
    /// The charset the bytes were read as.
    pub encoding: &'static str,
    /// RSS `<ttl>`: the publisher asks not to be polled more often.
    pub ttl: Option<Duration>,
    pub entries: Vec<ParsedEntry>,
    /// Entries past [`MAX_ENTRIES`], not read.
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEntry {
    /// Absolute link to the article.
    pub link: Option<Url>,
    /// The feed's own id (RSS guid, Atom id, JSON id), when it gave one.
    pub guid: Option<String>,
    /// Plain text, entities decoded once.
    pub title: String,
    /// HTML as the feed gave it (unsanitized): the content, else the summary.
    pub content_html: String,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub published: Option<DateTime<Utc>>,
}

/// Parses a feed. `feed_url` resolves relative links; `tz` reads dates with no zone.
pub fn parse_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    feed_url: &Url,
    tz: Tz,
) -> Result<ParsedFeed, ParseError> {
    let tld = feed_url.host_str().and_then(|h| h.rsplit('.').next());
    let decoded = charset::decode(bytes, content_type, tld);
    let text = decoded.text;
    let replaced = text.chars().filter(|c| *c == '\u{FFFD}').count();
    if replaced > 16 && replaced * 5 > text.chars().count() {
        return Err(ParseError::Undecodable(format!(
            "read as {}",
            decoded.encoding.name()
        )));
    }
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    let is_json = trimmed.starts_with('{');
    let (source, skipped) = if is_json {
        (trimmed.to_owned(), 0)
    } else {
        let repaired = prepass::repair_xml(trimmed);
        match keep_first_entries(&repaired, MAX_ENTRIES) {
            Some((cut, skipped)) => (cut, skipped),
            None => (repaired, 0),
        }
    };

    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        // An empty id marks "the feed gave none", so our own key can take over.
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(move |s| dates::parse_date(s, tz))
        .build();
    let feed = match catch_unwind(AssertUnwindSafe(|| parser.parse(source.as_bytes()))) {
        Ok(Ok(feed)) => feed,
        Ok(Err(e)) => return Err(ParseError::Unparsable(e.to_string())),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            return Err(ParseError::ParserPanic(msg));
        }
    };

    let subjects = if is_json {
        Vec::new()
    } else {
        dc_subjects(&source)
    };
    let format = match feed.feed_type {
        feed_rs::model::FeedType::Atom => "Atom",
        feed_rs::model::FeedType::JSON => "JSON Feed",
        feed_rs::model::FeedType::RSS0 => "RSS 0.9x",
        feed_rs::model::FeedType::RSS1 => "RSS 1.0",
        feed_rs::model::FeedType::RSS2 => "RSS 2.0",
    };
    let entries = feed
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut entry = convert_entry(e, feed_url);
            if let Some(extra) = subjects.get(i) {
                for s in extra {
                    if !entry.tags.contains(s) {
                        entry.tags.push(s.clone());
                    }
                }
            }
            entry
        })
        .collect();
    Ok(ParsedFeed {
        format,
        title: feed.title.as_ref().map(text_of).filter(|t| !t.is_empty()),
        encoding: decoded.encoding.name(),
        ttl: feed.ttl.map(|m| Duration::from_secs(u64::from(m) * 60)),
        entries,
        skipped,
    })
}

/// The document cut before its entry number `max + 1` and closed again, with how many
/// entries were cut; None when it has no more than `max` (or cannot be scanned, which
/// the feed parser then reports). A streaming scan: nothing is built for what is cut.
fn keep_first_entries(xml: &str, max: usize) -> Option<(String, usize)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut open: Vec<String> = Vec::new();
    let mut seen = 0usize;
    let mut cut: Option<(usize, Vec<String>)> = None;
    loop {
        let at = usize::try_from(reader.buffer_position()).ok()?;
        let (start, empty) = match reader.read_event() {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(_)) => {
                open.pop();
                continue;
            }
            Ok(Event::Eof) => break,
            Err(_) if cut.is_none() => return None,
            Err(_) => break,
            Ok(_) => continue,
        };
        // Entries sit under the root (Atom, RSS 1.0) or under rss/channel.
        if open.len() <= 2 && matches!(start.local_name().as_ref(), "item" | "entry") {
            seen += 1;
            if seen == max + 1 {
                cut = Some((at, open.clone()));
            }
        }
        if !empty {
            open.push(start.name().as_ref().to_owned());
        }
    }
    let (at, open) = cut?;
    let mut out = String::with_capacity(at + 64);
    out.push_str(&xml[..at]);
    for name in open.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    Some((out, seen - max))
}

fn convert_entry(e: Entry, feed_url: &Url) -> ParsedEntry {
    let link = e
        .links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| e.links.first())
        .and_then(|l| feed_url.join(l.href.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let content_html = e
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .filter(|b| !b.trim().is_empty())
        .or_else(|| e.summary.as_ref().map(html_of))
        .unwrap_or_default();
    ParsedEntry {
        link,
        guid: Some(e.id.trim().to_owned()).filter(|g| !g.is_empty()),
        title: e.title.as_ref().map(text_of).unwrap_or_default(),
        content_html,
        author: e
            .authors
            .iter()
            .find_map(|p| p.name.clone().or_else(|| p.email.clone()))
            .map(|n| plain_text(&n))
            .filter(|n| !n.is_empty()),
        tags: e
            .categories
            .iter()
            .map(|c| plain_text(c.label.as_deref().unwrap_or(&c.term)))
            .filter(|t| !t.is_empty())
            .collect(),
        published: e.published.or(e.updated),
    }
}

/// A text construct as plain text: markup removed when it is HTML, entities decoded
/// exactly once (titles are often escaped once more than XML needs), spaces collapsed.
fn text_of(t: &Text) -> String {
    let sub = t.content_type.subty().as_str();
    if sub == "html" || sub == "xhtml" {
        plain_text(&strip_tags(&t.content))
    } else {
        plain_text(&t.content)
    }
}

/// A text construct as HTML: plain text is escaped so it cannot turn into markup.
fn html_of(t: &Text) -> String {
    let sub = t.content_type.subty().as_str();
    if sub == "plain" && !looks_like_html(&t.content) {
        html_escape::encode_text(&t.content).into_owned()
    } else {
        t.content.clone()
    }
}

/// RSS descriptions are declared plain text but usually carry HTML.
fn looks_like_html(s: &str) -> bool {
    s.contains("</")
        || s.contains("<br")
        || s.contains("<p")
        || s.contains("<img")
        || s.contains("&lt;")
}

/// Entity-decodes once and collapses white space.
pub fn plain_text(s: &str) -> String {
    let decoded = html_escape::decode_html_entities(s);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes tags, keeping their text. Only for short strings like titles; bodies go
/// through the HTML sanitizer.
pub fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// `dc:subject` per item, in document order (feed-rs drops them; Japanese RSS 1.0
/// feeds put their section names there).
fn dc_subjects(xml: &str) -> Vec<Vec<String>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut items: Vec<Vec<String>> = Vec::new();
    let mut in_item = false;
    let mut in_subject = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.name();
                match name.local_name().as_ref() {
                    "item" | "entry" => {
                        in_item = true;
                        items.push(Vec::new());
                    }
                    "subject" if in_item && name.prefix().is_some_and(|p| p.as_ref() == "dc") => {
                        in_subject = true
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) if in_subject => {
                if let Some(item) = items.last_mut() {
                    let text = plain_text(&t.xml10_content());
                    if !text.is_empty() {
                        item.push(text);
                    }
                }
            }
            Ok(Event::GeneralRef(r)) if in_subject => {
                // &amp; and friends arrive as separate events in quick-xml 0.38+.
                if let Some(item) = items.last_mut() {
                    let s = plain_text(&format!("&{};", r.xml10_content()));
                    match item.last_mut() {
                        Some(last) => last.push_str(&s),
                        None => item.push(s),
                    }
                }
            }
            Ok(Event::End(e)) => match e.name().local_name().as_ref() {
                "item" | "entry" => in_item = false,
                "subject" => in_subject = false,
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://news.example.jp/rss/").unwrap()
    }

    #[test]
    fn rss1_with_dc_subject_and_w3cdtf_without_seconds() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example.jp/"><title>速報</title><link>https://news.example.jp/</link><description>d</description></channel>
<item rdf:about="https://news.example.jp/a/1"><title>不正アクセスで情報流出</title><link>https://news.example.jp/a/1</link>
<dc:date>2019-07-12T11:12+09:00</dc:date><dc:subject>社会</dc:subject><dc:subject>IT</dc:subject></item>
<item rdf:about="https://news.example.jp/a/2"><title>AT&T &nbsp;と提携</title><link>/a/2</link><dc:date>2019年7月12日 11時12分</dc:date></item>
</rdf:RDF>"#;
        let f = parse_feed(xml.as_bytes(), None, &url(), chrono_tz::Asia::Tokyo).unwrap();
        assert_eq!(f.format, "RSS 1.0");
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.entries[0].tags, vec!["社会", "IT"]);
        let want = DateTime::parse_from_rfc3339("2019-07-12T02:12:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(f.entries[0].published, Some(want));
        assert_eq!(f.entries[1].published, Some(want));
        assert_eq!(f.entries[1].title, "AT&T と提携");
        assert_eq!(
            f.entries[1].link.as_ref().unwrap().as_str(),
            "https://news.example.jp/a/2"
        );
    }

    #[test]
    fn odd_rss_versions_and_double_escaped_titles() {
        for v in ["", " version=\"2.01\"", " version=\"0.94\""] {
            let xml = format!(
                "<rss{v}><channel><title>t</title><ttl>60</ttl><item><title>A &amp;amp; B &amp;quot;x&amp;quot;</title><link>https://e.jp/1</link><pubDate>Fri, 12 Jul 2019 11:12:00 JST</pubDate></item></channel></rss>"
            );
            let f = parse_feed(xml.as_bytes(), None, &url(), chrono_tz::UTC).unwrap();
            assert_eq!(f.entries.len(), 1, "{v}");
            assert_eq!(f.entries[0].title, "A & B \"x\"");
            assert!(f.entries[0].published.is_some());
            assert_eq!(f.ttl, Some(Duration::from_secs(3600)));
        }
    }

    #[test]
    fn no_guid_means_none_not_random() {
        let xml = "<rss version=\"2.0\"><channel><title>t</title><item><title>x</title><description>d</description></item></channel></rss>";
        let a = parse_feed(xml.as_bytes(), None, &url(), chrono_tz::UTC).unwrap();
        assert_eq!(a.entries[0].guid, None);
        assert_eq!(a.entries[0].content_html, "d");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_feed(
                b"<html><body>hi</body></html>",
                None,
                &url(),
                chrono_tz::UTC
            ),
            Err(ParseError::Unparsable(_))
        ));
        let utf16be: Vec<u8> = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel><title>t</title><item><title>x</title></item></channel></rss>"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        let f = parse_feed(&utf16be, None, &url(), chrono_tz::UTC).unwrap();
        assert_eq!(f.entries[0].title, "x");
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn long_feeds_are_cut_after_the_limit_and_closed_again() {
        let items: String = (0..5)
            .map(|i| format!("<item><title>t{i}</title><item>nested</item></item>"))
            .collect();
        let rss = format!("<rss version=\"2.0\"><channel><title>c</title>{items}</channel></rss>");
        let (cut, skipped) = keep_first_entries(&rss, 2).unwrap();
        assert_eq!(skipped, 3);
        assert!(
            cut.ends_with("t1</title><item>nested</item></item></channel></rss>"),
            "{cut}"
        );
        assert!(keep_first_entries(&rss, 5).is_none());
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry/><entry/></feed>";
        assert_eq!(
            keep_first_entries(atom, 1).unwrap().0,
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry/></feed>"
        );
    }

    fn parse(s: &str) -> ParsedFeed {
        parse_feed(
            s.as_bytes(),
            None,
            &Url::parse("https://e.jp/feed").unwrap(),
            chrono_tz::Asia::Tokyo,
        )
        .unwrap()
    }

    #[test]
    fn rss_09x() {
        for v in ["0.91", "0.92"] {
            let f = parse(&format!(
                "<rss version=\"{v}\"><channel><title>t</title><link>https://e.jp/</link><description>d</description>\
<item><title>Old format</title><link>https://e.jp/1</link><description>body</description></item></channel></rss>"
            ));
            assert_eq!(f.entries[0].title, "Old format", "{v}");
            assert_eq!(
                f.entries[0].link.as_ref().unwrap().as_str(),
                "https://e.jp/1"
            );
        }
        let f = parse(
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"><channel><title>t</title><link>https://e.jp/</link></channel><item><title>RSS 0.90</title><link>https://e.jp/9</link></item></rdf:RDF>",
        );
        assert_eq!(f.entries[0].title, "RSS 0.90");
    }

    #[test]
    fn atom_03() {
        let f = parse(
            "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><title>t</title>\
<entry><title>Atom zero three</title><link rel=\"alternate\" type=\"text/html\" href=\"https://e.jp/a3\"/>\
<id>tag:e.jp,2005:1</id><issued>2005-07-31T12:29:29+09:00</issued><modified>2005-07-31T12:29:29+09:00</modified>\
<content type=\"text/html\" mode=\"escaped\">&lt;p&gt;hello&lt;/p&gt;</content></entry></feed>",
        );
        assert_eq!(f.entries.len(), 1);
        assert_eq!(f.entries[0].title, "Atom zero three");
        assert_eq!(
            f.entries[0].link.as_ref().unwrap().as_str(),
            "https://e.jp/a3"
        );
    }

    #[test]
    fn json_feed_10() {
        let f = parse(
            r#"{"version":"https://jsonfeed.org/version/1","title":"t","items":[{"id":"1","url":"https://e.jp/j","title":"JSON one","content_text":"x","date_published":"2019-07-12T11:12:00+09:00","author":{"name":"記者"}}]}"#,
        );
        assert_eq!(f.format, "JSON Feed");
        assert_eq!(f.entries[0].author.as_deref(), Some("記者"));
        assert!(f.entries[0].published.is_some());
    }
}
