//! Everything published is derived from the store: the merged feeds are rendered once
//! per store change and cached, with their validators and gzip forms ready to serve.

mod atom;
mod rss;

use std::path::Path;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use url::Url;

use crate::article::Article;
use crate::config::BlogConfig;
use crate::sanitize::clean_html;
use crate::store::{Store, StoreError};

/// One published post, as every output format needs it.
pub struct Post<'a> {
    pub article: &'a Article,
    /// `tag:` URI, stable for the post's lifetime.
    pub id: String,
    /// Sanitized body followed by the attribution line.
    pub content_html: String,
    /// Where the post links: the original article, else the blog.
    pub link: String,
}

impl<'a> Post<'a> {
    pub fn new(blog: &BlogConfig, article: &'a Article) -> Post<'a> {
        let base = &blog.base_url.0;
        let link = article.link.clone().unwrap_or_else(|| base.to_string());
        let link_url = Url::parse(&link).unwrap_or_else(|_| base.clone());
        // Stored bodies were sanitized at ingest; sanitizing again here (50 posts per
        // store change) means a tightened allowlist also covers what is already stored.
        let body = clean_html(&article.content_html, &link_url);
        let content_html = format!("{body}\n{}", attribution_html(blog, article));
        Post {
            article,
            id: post_id(base, article),
            content_html,
            link,
        }
    }
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

/// The attribution line as the blog sample writes it, `2019/7/12産経新聞`, in the blog's
/// time zone, linking the original article.
pub fn attribution_text(blog: &BlogConfig, a: &Article) -> String {
    let local = a.post_time().with_timezone(&blog.timezone.0);
    format!("{}{}", local.format("%Y/%-m/%-d"), a.publisher)
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

/// Dates in feeds: whole seconds (atom_syndication would write nanoseconds), UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The rendered outputs of one store generation.
#[derive(Debug)]
pub struct Rendered {
    pub generation: u64,
    pub atom: Bytes,
    pub atom_gz: Bytes,
    pub rss: Bytes,
    pub rss_gz: Bytes,
    /// Strong validator shared by both feeds (they change together).
    pub etag: String,
    /// The newest change among the published posts.
    pub last_modified: DateTime<Utc>,
    pub entries: usize,
}

/// Renders the newest `max_entries` posts as Atom and RSS.
pub fn render(blog: &BlogConfig, store: &Store) -> Result<Rendered, StoreError> {
    let generation = store.durable_generation();
    let articles = store.newest(blog.max_entries)?;
    let posts: Vec<Post> = articles.iter().map(|a| Post::new(blog, a)).collect();
    let last_modified = articles
        .iter()
        .map(|a| a.updated.max(a.first_seen))
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let atom = Bytes::from(atom::render(blog, &posts, last_modified));
    let rss = Bytes::from(rss::render(blog, &posts, last_modified));
    let etag = format!("\"{}\"", &crate::article::hex_digest(&atom)[..24]);
    Ok(Rendered {
        generation,
        atom_gz: gzip(&atom),
        rss_gz: gzip(&rss),
        atom,
        rss,
        etag,
        last_modified,
        entries: posts.len(),
    })
}

/// Writes the feeds as static files into `dir` (created if needed). Each file is
/// written beside its target and renamed over it, so a web server never serves half.
pub fn write_dir(r: &Rendered, dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in [("feed.atom", &r.atom), ("feed.rss", &r.rss)] {
        let target = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("replacing {}", target.display()))?;
    }
    Ok(())
}

fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// The last rendering, redone only when the store has changed since.
pub struct FeedCache {
    blog: BlogConfig,
    store: Store,
    current: RwLock<Option<Arc<Rendered>>>,
}

impl FeedCache {
    pub fn new(blog: BlogConfig, store: Store) -> FeedCache {
        FeedCache {
            blog,
            store,
            current: RwLock::new(None),
        }
    }

    pub fn get(&self) -> Result<Arc<Rendered>, StoreError> {
        // Keyed by what is on disk, so a crash never takes back what was served.
        let generation = self.store.durable_generation();
        if let Some(r) = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && r.generation == generation
        {
            return Ok(r.clone());
        }
        let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
        // Another request may have rendered while this one waited for the lock.
        if let Some(r) = slot.as_ref()
            && r.generation == self.store.durable_generation()
        {
            return Ok(r.clone());
        }
        let fresh = Arc::new(render(&self.blog, &self.store)?);
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    pub fn blog(&self) -> &BlogConfig {
        &self.blog
    }
}
