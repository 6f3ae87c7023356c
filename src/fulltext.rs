//! Article pages: deciding when a feed entry needs its page, fetching it politely
//! (robots.txt, the same limits as feeds), extracting it, and folding the result into
//! the article. Also the links of index-page sources.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scraper::{Html, Selector};
use url::Url;

use crate::article::{Article, canonical_url};
use crate::config::{FullText, ResolvedSource};
use crate::extract::{self, Extracted, Options};
use crate::fetch::{Fetcher, Request};

/// How long a host's robots.txt is trusted before it is fetched again.
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// robots.txt files larger than this are treated as absent (as crawlers do).
const ROBOTS_MAX: u64 = 512 << 10;
/// Links followed from one index page in one poll, at most.
pub const MAX_INDEX_LINKS: usize = 50;

/// Endings that say the feed gave only the start of the article.
const TRUNCATION_MARKS: &[&str] = &[
    "…",
    "...",
    "続きを読む",
    "続きをみる",
    "続きを見る",
    "もっと見る",
    "（続く）",
    "[…]",
    "[...]",
    "Read more",
    "read more",
    "Continue reading",
    "more…",
    "»",
];

/// Whether an entry's own text is too thin to publish as the article: under 200
/// characters, or ending the way excerpts end.
pub fn looks_truncated(text: &str) -> bool {
    let t = text.trim();
    t.chars().count() < 200 || TRUNCATION_MARKS.iter().any(|m| t.ends_with(m))
}

pub fn wants_page(src: &ResolvedSource, feed_text: &str) -> bool {
    match src.full_text {
        FullText::Always => true,
        FullText::Never => false,
        FullText::Auto => looks_truncated(feed_text),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(
        "robots.txt of {0} disallows this page (set `ignore_robots = true` for the source to fetch it anyway)"
    )]
    Robots(String),
    #[error("fetching the page failed: {0}")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("the page was not modified but we have no copy")]
    Empty,
    #[error("{0}")]
    Extract(#[from] extract::ExtractError),
    #[error("the extractor task failed: {0}")]
    Task(String),
}

enum Robots {
    Rules(Box<texting_robots::Robot>),
    AllowAll,
}

/// One origin's robots.txt, fetched at most once at a time: concurrent polls of
/// sources on the same site wait for the same request.
type RobotsSlot = std::sync::Arc<tokio::sync::Mutex<Option<(Instant, std::sync::Arc<Robots>)>>>;

/// Page fetching with a per-host robots.txt cache.
#[derive(Default)]
pub struct Pages {
    robots: Mutex<HashMap<String, RobotsSlot>>,
}

impl Pages {
    async fn robots_for(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        user_agent: &str,
    ) -> std::sync::Arc<Robots> {
        let origin = url.origin().ascii_serialization();
        let slot = self
            .robots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(origin)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some((at, r)) = cached.as_ref()
            && at.elapsed() < ROBOTS_TTL
        {
            return r.clone();
        }
        let robots = match url.join("/robots.txt") {
            Ok(robots_url) => {
                let req = Request {
                    url: &robots_url,
                    etag: None,
                    last_modified: None,
                    max_bytes: ROBOTS_MAX,
                };
                match fetcher.fetch(&req).await {
                    // A missing or unreadable robots.txt allows everything, as
                    // crawlers treat it; a day of caching bounds any mistake.
                    Ok(resp) => match resp
                        .body
                        .as_deref()
                        .map(|b| texting_robots::Robot::new(agent_token(user_agent), b))
                    {
                        Some(Ok(r)) => Robots::Rules(Box::new(r)),
                        _ => Robots::AllowAll,
                    },
                    Err(_) => Robots::AllowAll,
                }
            }
            Err(_) => Robots::AllowAll,
        };
        let robots = std::sync::Arc::new(robots);
        *cached = Some((Instant::now(), robots.clone()));
        robots
    }

    /// Fetches and extracts one article page.
    pub async fn article(
        &self,
        fetcher: &Fetcher,
        user_agent: &str,
        src: &ResolvedSource,
        url: &Url,
    ) -> Result<(Extracted, Url), PageError> {
        if !src.ignore_robots
            && let Robots::Rules(r) = &*self.robots_for(fetcher, url, user_agent).await
            && !r.allowed(url.as_str())
        {
            return Err(PageError::Robots(url.host_str().unwrap_or("").to_owned()));
        }
        let req = Request {
            url,
            etag: None,
            last_modified: None,
            max_bytes: src.max_bytes,
        };
        let resp = fetcher.fetch(&req).await?;
        let body = resp.body.ok_or(PageError::Empty)?;
        let opts = Options {
            selector: src.selector.clone(),
            remove: src.remove.clone(),
            timezone: src.timezone,
            publisher_from_page: src.publisher_from_page,
        };
        let (ct, final_url) = (resp.content_type, resp.final_url);
        tokio::task::spawn_blocking(move || {
            let html = extract::decode_page(&body, ct.as_deref(), &final_url);
            extract::extract(&html, &final_url, &opts).map(|x| (x, final_url))
        })
        .await
        .map_err(|e| PageError::Task(e.to_string()))?
        .map_err(PageError::from)
    }
}

/// The product token of a User-Agent ("kawaraban/0.1 (+…)" → "kawaraban"), which is
/// what robots.txt groups name.
fn agent_token(ua: &str) -> &str {
    ua.split(['/', ' '])
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or("kawaraban")
}

/// Folds a page's extraction into an article built from its feed entry. The feed's
/// date and author win when present; the page fills what the feed left out.
pub fn merge(article: &mut Article, x: Extracted) {
    article.content_html = x.body_html;
    article.content_text = x.body_text;
    article.full_text = true;
    if article.published.is_none() {
        article.published = x.published;
    }
    if article.author.is_none() {
        article.author = x.author;
    }
    if article.title.trim().is_empty()
        && let Some(t) = x.title
    {
        article.title = t;
    }
    if let Some(p) = x.publisher {
        article.publisher = p;
    }
    if let Some(c) = x.canonical_url
        && Some(&c) != article.link.as_ref()
        && c != article.key
        && !article.aliases.contains(&c)
    {
        article.aliases.push(c);
    }
}

/// The article links of an index page, absolute and without duplicates, in page order.
pub fn index_links(
    html: &str,
    base: &Url,
    selector: &str,
) -> Result<Vec<Url>, extract::ExtractError> {
    let sel: Selector = extract::check_selector(selector)?;
    let doc = Html::parse_document(html);
    let mut out: Vec<Url> = Vec::new();
    for a in doc.select(&sel) {
        let Some(href) = a.value().attr("href") else {
            continue;
        };
        let Ok(u) = base.join(href.trim()) else {
            continue;
        };
        if !matches!(u.scheme(), "http" | "https") {
            continue;
        }
        let u = canonical_url(&u);
        if !out.contains(&u) {
            out.push(u);
        }
        if out.len() >= MAX_INDEX_LINKS {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        assert!(looks_truncated("短い要約。"));
        let long = "あ".repeat(300);
        assert!(!looks_truncated(&long));
        assert!(looks_truncated(&format!("{long}…")));
        assert!(looks_truncated(&format!("{long} 続きを読む")));
        assert!(looks_truncated(&format!(
            "{} Read more",
            "word ".repeat(60)
        )));
    }

    #[test]
    fn links_from_an_index_page() {
        let html = r#"<ul class="news-list"><li><a href="/a/1?utm_source=x">1</a></li><li><a href="a/2">2</a></li>
<li><a href="javascript:void(0)">x</a></li><li><a href="/a/1">dup</a></li></ul><a href="/other">o</a>"#;
        let base = Url::parse("https://example.jp/news/").unwrap();
        let links = index_links(html, &base, "ul.news-list a").unwrap();
        let links: Vec<&str> = links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            ["https://example.jp/a/1", "https://example.jp/news/a/2"]
        );
        assert_eq!(agent_token("kawaraban/0.1.0 (+https://x)"), "kawaraban");
    }
}
