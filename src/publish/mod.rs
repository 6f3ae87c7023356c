//! Everything published is derived from the store: the merged feeds are rendered once
//! per store change and cached, with their validators and gzip forms ready to serve.

mod atom;
mod json;
mod rss;
pub mod site;
pub mod websub;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use url::Url;

use crate::article::Article;
use crate::config::{BlogConfig, Republish};
use crate::judge::category::CategoryChoice;
use crate::sanitize::{clean_html, plain_line};

/// One published post, as every output format needs it. A story several outlets ran
/// is one post: it keeps the id of the article stored first (`root`) and shows the
/// fullest text among them (`article`), with that outlet's attribution.
pub struct Post {
    /// The article shown: its title, body, publisher and link.
    pub article: Article,
    /// The article whose id the post keeps, and whose time orders the feeds.
    pub root: Article,
    /// The other outlets' articles on the same story.
    pub also: Vec<Article>,
    /// `tag:` URI, stable for the post's lifetime.
    pub id: String,
    /// Sanitized body followed by the attribution line (and "also reported by").
    pub content_html: String,
    /// Where the post links: the original article, else the blog.
    pub link: String,
    pub category: Option<CategoryChoice>,
    /// The post's time: the story's earliest publication (see `Article::story_time`).
    pub time: DateTime<Utc>,
    /// The last change a reader would see: text, or what was folded into it.
    pub updated: DateTime<Utc>,
}

impl Post {
    /// The post for `root` and the articles folded into it, republished in full.
    pub fn new(blog: &BlogConfig, root: Article, folded: Vec<Article>) -> Post {
        Post::with_mode(blog, root, folded, |_| Republish::Full)
    }

    /// As [`Post::new`], with the shown outlet's republishing mode.
    pub fn with_mode(
        blog: &BlogConfig,
        root: Article,
        folded: Vec<Article>,
        mode: impl Fn(&Article) -> Republish,
    ) -> Post {
        let mut shown = crate::judge::fullest(std::iter::once(&root).chain(&folded))
            .cloned()
            .unwrap_or_else(|| root.clone());
        let mut also: Vec<Article> = std::iter::once(&root)
            .chain(&folded)
            .filter(|a| a.id != shown.id)
            .cloned()
            .collect();
        // Titles and publishers come from sources (a page may name its own publisher)
        // and reach fields that readers may take for HTML; stored ones are covered too.
        shown.title = plain_line(&shown.title);
        for a in std::iter::once(&mut shown).chain(&mut also) {
            a.publisher = plain_line(&a.publisher);
        }
        also.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.id.cmp(&b.id)));
        let base = &blog.base_url.0;
        let link = shown.link.clone().unwrap_or_else(|| base.to_string());
        let link_url = Url::parse(&link).unwrap_or_else(|_| base.clone());
        // Stored bodies were sanitized at ingest; sanitizing again here (50 posts per
        // store change) means a tightened allowlist also covers what is already stored.
        let body = match mode(&shown) {
            Republish::Full => clean_html(&shown.content_html, &link_url),
            Republish::Excerpt => format!(
                "<p>{}</p>",
                html_escape::encode_text(&excerpt(&shown.content_text, EXCERPT_CHARS))
            ),
            Republish::Title => String::new(),
        };
        let mut content_html = format!("{body}\n{}", attribution_html(blog, &shown));
        if !also.is_empty() {
            content_html.push('\n');
            content_html.push_str(&also_html(blog, &also));
        }
        let judgement = root.judgement.as_ref();
        let updated = std::iter::once(&root)
            .chain(&folded)
            .map(|a| a.updated)
            .chain(judgement.map(|j| j.changed))
            .max()
            .unwrap_or(root.updated)
            .max(root.story_time());
        Post {
            id: post_id(base, &root),
            category: judgement.and_then(|j| j.category.clone()),
            time: root.story_time(),
            article: shown,
            root,
            also,
            content_html,
            link,
            updated,
        }
    }
}

/// Characters of text an excerpt keeps.
const EXCERPT_CHARS: usize = 200;

/// The first `max` characters of `text`, cut at a sentence end when one is near, with
/// an ellipsis when anything was cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let end = cut
        .rfind(['。', '．', '.', '!', '?', '！', '？'])
        .filter(|&i| i > cut.len() / 2)
        .map(|i| i + cut[i..].chars().next().map_or(1, char::len_utf8));
    match end {
        Some(e) => format!("{}…", &cut[..e]),
        None => format!("{cut}…"),
    }
}

/// "Also reported by" the other outlets, each linking its article.
fn also_html(blog: &BlogConfig, also: &[Article]) -> String {
    let items: Vec<String> = also
        .iter()
        .map(|a| {
            let name = html_escape::encode_text(&a.publisher).into_owned();
            match &a.link {
                Some(link) => format!(
                    "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{name}</a>",
                    html_escape::encode_double_quoted_attribute(link)
                ),
                None => name,
            }
        })
        .collect();
    format!(
        "<p class=\"also-reported\">{} {}</p>",
        html_escape::encode_text(&blog.also_reported_by),
        items.join(", ")
    )
}

/// A post id that never changes: the blog's host, the day the article was first seen
/// (fixed at that moment) and the article id.
pub fn post_id(base: &Url, a: &Article) -> String {
    format!(
        "tag:{},{}:post/{}",
        base.host_str().unwrap_or("localhost"),
        a.first_seen.format("%Y-%m-%d"),
        a.id
    )
}

/// The attribution line from `[blog] attribution`; the default writes it as the blog
/// sample does, `2019/7/12産経新聞`, with the date in the blog's time zone.
pub fn attribution_text(blog: &BlogConfig, a: &Article) -> String {
    let local = a.post_time().with_timezone(&blog.timezone.0);
    fill(&blog.attribution, |name, fmt| match name {
        "date" => Some(strftime(&local, fmt.unwrap_or("%Y/%-m/%-d"))),
        "publisher" => Some(a.publisher.clone()),
        _ => None,
    })
}

/// Replaces `{name}` and `{name:format}` in a configured line; unknown names stay as
/// written, so a typo shows on the page instead of vanishing.
pub fn fill(template: &str, value: impl Fn(&str, Option<&str>) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            rest = &rest[open..];
            break;
        };
        let inner = &rest[open + 1..open + close];
        let (name, fmt) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        match value(name, fmt) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// strftime that cannot panic: the configuration checks formats at load, and a format
/// that still fails renders as written.
pub fn strftime<Tz: chrono::TimeZone>(t: &DateTime<Tz>, fmt: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use std::fmt::Write;
    let mut out = String::new();
    match write!(out, "{}", t.format(fmt)) {
        Ok(()) => out,
        Err(_) => fmt.to_owned(),
    }
}

/// Whether a strftime format is one chrono can write.
pub fn check_strftime(fmt: &str) -> bool {
    chrono::format::StrftimeItems::new(fmt).all(|i| !matches!(i, chrono::format::Item::Error))
}

/// A path under the blog as an absolute URL.
pub fn absolute(blog: &BlogConfig, path: &str) -> String {
    blog.base_url
        .0
        .join(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| blog.base_url.0.to_string())
}

fn attribution_html(blog: &BlogConfig, a: &Article) -> String {
    let text = html_escape::encode_text(&attribution_text(blog, a)).into_owned();
    match &a.link {
        Some(link) => format!(
            "<p class=\"attribution\"><a href=\"{}\" rel=\"noopener noreferrer nofollow\">{text}</a></p>",
            html_escape::encode_double_quoted_attribute(link)
        ),
        None => format!("<p class=\"attribution\">{text}</p>"),
    }
}

/// Where the blog's category pages live: the scheme of every feed category.
pub fn category_scheme(blog: &BlogConfig) -> String {
    blog.base_url
        .0
        .join("category/")
        .map(|u| u.to_string())
        .unwrap_or_default()
}

/// Dates in feeds: whole seconds (atom_syndication would write nanoseconds), UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The gzip form of a response body, for clients that accept it.
pub fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}
