//! The article record that flows from parsing to publishing, and the stable key that
//! identifies one article across feeds, polls and restarts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

/// One article as stored and published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Stable id (hex), derived once from the dedup key and never changed.
    pub id: String,
    /// The key the id was derived from: canonical URL, else `guid:…`, else `hash:…`.
    pub key: String,
    /// URL of the source (feed) this article came from first.
    pub source_url: String,
    /// Publisher shown in the attribution.
    pub publisher: String,
    /// Link to the original article (canonical form), if the feed gave one.
    pub link: Option<String>,
    /// Plain text.
    pub title: String,
    /// Sanitized HTML body as the feed (or later the page) gave it.
    pub content_html: String,
    /// Plain text of `content_html`, for matching.
    pub content_text: String,
    pub author: Option<String>,
    /// Tags from the feed (`category`, `dc:subject`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The source's publication time, if it gave one.
    pub published: Option<DateTime<Utc>>,
    /// When kawaraban first stored it; fixed at that moment.
    pub first_seen: DateTime<Utc>,
    /// When its content last changed at the source (first_seen until then).
    pub updated: DateTime<Utc>,
    /// Whether the body came from the article page rather than the feed.
    #[serde(default)]
    pub full_text: bool,
    /// Other dedup keys of the same article (the page's canonical URL).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Topic, duplicate and category decisions; `None` until it has been judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgement: Option<crate::judge::Judgement>,
}

#[cfg(test)]
impl Article {
    /// A feed item as the unit tests need one: `text` as its one paragraph, first seen
    /// (and updated) at `at`, linked at `key`, not judged. Tests set what else matters.
    pub(crate) fn sample(
        key: &str,
        publisher: &str,
        title: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Article {
        Article {
            id: String::new(),
            key: key.into(),
            source_url: format!("https://{publisher}.example/feed"),
            publisher: publisher.into(),
            link: Some(key.into()),
            title: title.into(),
            content_html: format!("<p>{text}</p>"),
            content_text: text.into(),
            author: None,
            tags: Vec::new(),
            published: None,
            first_seen: at,
            updated: at,
            full_text: false,
            aliases: Vec::new(),
            judgement: None,
        }
    }
}

impl Article {
    /// The post's time: the source's publication time, or the first-seen time when the
    /// source gives none. It orders the feeds and is the entry's published date.
    pub fn post_time(&self) -> DateTime<Utc> {
        self.published.unwrap_or(self.first_seen)
    }

    /// The time of the story this article is the post of: the earliest publication
    /// among the outlets folded into it, else its own post time. Orders the blog.
    pub fn story_time(&self) -> DateTime<Utc> {
        self.judgement
            .as_ref()
            .and_then(|j| j.story_time)
            .unwrap_or_else(|| self.post_time())
    }

    /// Whether what a reader sees differs between two versions of the same article.
    pub fn same_content(&self, other: &Article) -> bool {
        self.title == other.title
            && self.content_html == other.content_html
            && self.link == other.link
    }
}

/// Query parameters that only track the reader and never select content.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "msclkid"
                | "yclid"
                | "mc_cid"
                | "mc_eid"
                | "igshid"
                | "_ga"
                | "ref_src"
        )
}

/// The canonical form of an article URL: lower-case host (the url crate does that),
/// no fragment, no tracking parameters, no default port.
pub fn canonical_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u
}

/// The dedup key of an entry: its canonical URL, else its GUID, else a hash of the
/// source, title and date (feed-rs gives link-less entries a random id on every parse,
/// so its id cannot be used).
pub fn article_key(
    link: Option<&Url>,
    guid: Option<&str>,
    source_url: &str,
    title: &str,
    date: Option<DateTime<Utc>>,
) -> String {
    if let Some(l) = link {
        return canonical_url(l).to_string();
    }
    if let Some(g) = guid.map(str::trim).filter(|g| !g.is_empty()) {
        return format!("guid:{source_url}#{g}");
    }
    let date = date.map(|d| d.timestamp().to_string()).unwrap_or_default();
    format!(
        "hash:{}",
        hex_digest(format!("{source_url}\u{1f}{title}\u{1f}{date}"))[..32].to_owned()
    )
}

/// The id derived from a key: short, URL-safe and stable across releases (SHA-256,
/// never std's hasher, whose output may change between Rust versions).
pub fn article_id(key: &str) -> String {
    hex_digest(key)[..20].to_owned()
}

pub fn hex_digest(data: impl AsRef<[u8]>) -> String {
    let d = Sha256::digest(data.as_ref());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strips_tracking_and_fragment() {
        let u = Url::parse("https://News.Example.JP/a/1?utm_source=x&id=5&fbclid=z#top").unwrap();
        assert_eq!(
            canonical_url(&u).as_str(),
            "https://news.example.jp/a/1?id=5"
        );
        let u = Url::parse("https://news.example.jp:443/a/1?utm_medium=rss").unwrap();
        assert_eq!(canonical_url(&u).as_str(), "https://news.example.jp/a/1");
    }

    #[test]
    fn key_prefers_link_then_guid_then_hash() {
        let link = Url::parse("https://e.jp/x?gclid=1").unwrap();
        assert_eq!(
            article_key(Some(&link), Some("g"), "s", "t", None),
            "https://e.jp/x"
        );
        assert_eq!(article_key(None, Some("g1"), "s", "t", None), "guid:s#g1");
        let a = article_key(None, None, "s", "t", None);
        assert_eq!(a, article_key(None, None, "s", "t", None));
        assert_ne!(a, article_key(None, None, "s", "u", None));
        assert_eq!(article_id("x").len(), 20);
    }
}
