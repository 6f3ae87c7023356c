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
use crate::judge::category::CategoryChoice;
use crate::sanitize::clean_html;
use crate::store::{Store, StoreError};

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
    /// The last change a reader would see: text, or what was folded into it.
    pub updated: DateTime<Utc>,
}

impl Post {
    /// The post for `root` and the articles folded into it.
    pub fn new(blog: &BlogConfig, root: Article, folded: Vec<Article>) -> Post {
        let shown = crate::judge::fullest(std::iter::once(&root).chain(&folded))
            .cloned()
            .unwrap_or_else(|| root.clone());
        let mut also: Vec<Article> = std::iter::once(&root)
            .chain(&folded)
            .filter(|a| a.id != shown.id)
            .cloned()
            .collect();
        also.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.id.cmp(&b.id)));
        let base = &blog.base_url.0;
        let link = shown.link.clone().unwrap_or_else(|| base.to_string());
        let link_url = Url::parse(&link).unwrap_or_else(|_| base.clone());
        // Stored bodies were sanitized at ingest; sanitizing again here (50 posts per
        // store change) means a tightened allowlist also covers what is already stored.
        let body = clean_html(&shown.content_html, &link_url);
        let mut content_html = format!("{body}\n{}", attribution_html(blog, &shown));
        if !also.is_empty() {
            content_html.push('\n');
            content_html.push_str(&also_html(&also));
        }
        let judgement = root.judgement.as_ref();
        let updated = std::iter::once(&root)
            .chain(&folded)
            .map(|a| a.updated)
            .chain(judgement.map(|j| j.changed))
            .max()
            .unwrap_or(root.updated)
            .max(root.post_time());
        Post {
            id: post_id(base, &root),
            category: judgement.and_then(|j| j.category.clone()),
            article: shown,
            root,
            also,
            content_html,
            link,
            updated,
        }
    }
}

/// "Also reported by" the other outlets, each linking its article.
fn also_html(also: &[Article]) -> String {
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
        "<p class=\"also-reported\">also reported by {}</p>",
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
    let posts = posts(blog, store, blog.max_entries)?;
    let last_modified = posts
        .iter()
        .map(|p| p.updated.max(p.root.first_seen))
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

/// The newest `n` posts, each with the articles folded into it.
pub fn posts(blog: &BlogConfig, store: &Store, n: usize) -> Result<Vec<Post>, StoreError> {
    let mut out = Vec::new();
    for root in store.newest_posts(n)? {
        let folded_ids = root
            .judgement
            .as_ref()
            .map(|j| j.folded.clone())
            .unwrap_or_default();
        let mut folded = Vec::with_capacity(folded_ids.len());
        for id in folded_ids {
            if let Some(a) = store.get(&id)? {
                folded.push(a);
            }
        }
        out.push(Post::new(blog, root, folded));
    }
    Ok(out)
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
