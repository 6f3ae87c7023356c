//! The whole published tree: feeds (all posts, and per category) in Atom, RSS and JSON
//! Feed, and the HTML blog (pages, category pages, monthly archives, a permalink per
//! post, the stylesheet). Each path is rendered from the store on first request after
//! a store change and kept until the next; `render --out` writes every path as a file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use minijinja::{Environment, context};
use serde::Serialize;

use super::{Post, atom, fill, gzip, json, rss, strftime};
use crate::article::Article;
use crate::config::{BlogConfig, Config, Republish};
use crate::store::{PostRef, Store, StoreError};

/// One rendered resource with what serving it needs.
#[derive(Debug)]
pub struct Resource {
    pub body: Bytes,
    pub gz: Bytes,
    pub content_type: &'static str,
    /// Strong validator of the uncompressed body.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
}

impl Resource {
    fn new(body: Vec<u8>, content_type: &'static str, last_modified: DateTime<Utc>) -> Resource {
        let etag = format!("\"{}\"", &crate::article::hex_digest(&body)[..24]);
        Resource {
            gz: gzip(&body),
            body: Bytes::from(body),
            content_type,
            etag,
            last_modified,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct CategoryRef {
    name: String,
    slug: String,
}

/// What the blog publishes, from the configuration.
pub struct Site {
    pub blog: BlogConfig,
    categories: Vec<CategoryRef>,
    republish: HashMap<String, Republish>,
    env: Environment<'static>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Atom,
    Rss,
    Json,
}

/// A path of the site, parsed.
#[derive(Debug, PartialEq)]
enum Target {
    Feed(Option<String>, Format),
    Page(Option<String>, usize),
    Archive(i32, u32, usize),
    Post(String),
    Style,
}

const ATOM: &str = "application/atom+xml; charset=utf-8";
const RSS: &str = "application/rss+xml; charset=utf-8";
const JSON: &str = "application/feed+json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn parse_path(path: &str) -> Option<Target> {
    let path = path.trim_start_matches('/');
    let feed = |name: &str| -> Option<(String, Format)> {
        let (stem, ext) = name.rsplit_once('.')?;
        let f = match ext {
            "atom" => Format::Atom,
            "rss" => Format::Rss,
            "json" => Format::Json,
            _ => return None,
        };
        Some((stem.to_owned(), f))
    };
    let page_no = |s: &str| s.parse::<usize>().ok().filter(|n| *n >= 1);
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [""] | ["index.html"] => Some(Target::Page(None, 1)),
        ["style.css"] => Some(Target::Style),
        [name] if name.starts_with("feed.") => feed(name)
            .filter(|(s, _)| s == "feed")
            .map(|(_, f)| Target::Feed(None, f)),
        ["page", n, ""] | ["page", n, "index.html"] => Some(Target::Page(None, page_no(n)?)),
        ["category", file] => feed(file).map(|(s, f)| Target::Feed(Some(decode(&s)), f)),
        ["category", slug, ""] | ["category", slug, "index.html"] => {
            Some(Target::Page(Some(decode(slug)), 1))
        }
        ["category", slug, "page", n, ""] | ["category", slug, "page", n, "index.html"] => {
            Some(Target::Page(Some(decode(slug)), page_no(n)?))
        }
        ["archive", y, m, ""] | ["archive", y, m, "index.html"] => {
            let (y, m) = (y.parse().ok()?, m.parse().ok()?);
            (1..=12).contains(&m).then_some(Target::Archive(y, m, 1))
        }
        ["archive", y, m, "page", n, ""] | ["archive", y, m, "page", n, "index.html"] => {
            let (y, m) = (y.parse().ok()?, m.parse().ok()?);
            (1..=12)
                .contains(&m)
                .then_some(Target::Archive(y, m, page_no(n)?))
        }
        ["post", id, ""] | ["post", id, "index.html"] => Some(Target::Post((*id).to_owned())),
        _ => None,
    }
}

/// The kind of a published path, for labels that must stay few whatever is requested:
/// `feed`, `category_feed`, `page`, `category_page`, `archive`, `post`, `style`, or
/// `other` for a path the site does not have.
pub fn path_kind(path: &str) -> &'static str {
    match parse_path(path) {
        Some(Target::Feed(None, _)) => "feed",
        Some(Target::Feed(Some(_), _)) => "category_feed",
        Some(Target::Page(None, _)) => "page",
        Some(Target::Page(Some(_), _)) => "category_page",
        Some(Target::Archive(..)) => "archive",
        Some(Target::Post(_)) => "post",
        Some(Target::Style) => "style",
        None => "other",
    }
}

/// Slugs are percent-encoded in links (and by default in configuration); a client may
/// send them either way, so they are compared decoded.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[derive(Serialize)]
struct PostView {
    anchor: String,
    permalink: String,
    title: String,
    content_html: String,
    posted_before: String,
    posted_after: String,
    category: Option<CategoryRef>,
    pinned: bool,
}

#[derive(Serialize)]
struct DayView {
    heading: String,
    posts: Vec<PostView>,
}

#[derive(Serialize)]
struct FeedLink {
    r#type: &'static str,
    title: String,
    href: String,
}

impl Site {
    pub fn new(config: &Config) -> Site {
        let categories = config
            .categories
            .iter()
            .map(|c| CategoryRef {
                name: c.name.clone(),
                slug: c.slug(),
            })
            .collect();
        let republish = config
            .resolved_sources()
            .into_iter()
            .zip(&config.sources)
            .map(|(r, s)| (r.url.to_string(), s.republish))
            .collect();
        Site::build(config.blog.clone(), categories, republish)
    }

    /// A site of the blog settings alone: no categories, everything republished in full.
    pub fn from_blog(blog: BlogConfig) -> Site {
        Site::build(blog, Vec::new(), HashMap::new())
    }

    fn build(
        blog: BlogConfig,
        categories: Vec<CategoryRef>,
        republish: HashMap<String, Republish>,
    ) -> Site {
        let mut env = Environment::new();
        // minijinja's HTML escaping also turns `/` into `&#x2f;`, which makes every path
        // in the pages unreadable; quotes, `&`, `<` and `>` are what must be escaped.
        env.set_formatter(|out, _state, value| {
            let written = if value.is_safe() {
                write!(out, "{value}")
            } else if value.is_none() || value.is_undefined() {
                Ok(())
            } else {
                let text = value.to_string();
                write!(out, "{}", html_escape::encode_quoted_attribute(&text))
            };
            written.map_err(|_| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "writing a page")
            })
        });
        // The templates are part of the binary and checked by the tests.
        env.add_template("base.html", include_str!("../../templates/base.html"))
            .expect("the page template parses");
        Site {
            blog,
            categories,
            republish,
            env,
        }
    }

    fn post(&self, root: Article, store: &Store) -> Result<Post, StoreError> {
        let ids = root
            .judgement
            .as_ref()
            .map(|j| j.folded.clone())
            .unwrap_or_default();
        let mut folded = Vec::with_capacity(ids.len());
        for id in ids {
            folded.extend(store.get(&id)?);
        }
        Ok(Post::with_mode(&self.blog, root, folded, |a| {
            self.republish
                .get(&a.source_url)
                .copied()
                .unwrap_or_default()
        }))
    }

    /// Posts newest first whose index entry passes `keep`, after skipping `skip` of
    /// them; at most `n`, and whether more follow. Chosen on the post index alone: only
    /// the posts shown are read, so a deep page or a rare category costs no more memory
    /// than the first page.
    fn select(
        &self,
        store: &Store,
        keep: impl Fn(&PostRef) -> bool,
        skip: usize,
        n: usize,
    ) -> Result<(Vec<Post>, bool), StoreError> {
        let mut out = Vec::with_capacity(n.min(256));
        let mut seen = 0;
        for p in store.post_refs() {
            let p = p?;
            if !keep(&p) {
                continue;
            }
            seen += 1;
            if seen <= skip {
                continue;
            }
            if out.len() == n {
                return Ok((out, true));
            }
            if let Some(a) = store.get(&p.id)? {
                out.push(self.post(a, store)?);
            }
        }
        Ok((out, false))
    }

    /// The front page's posts: the pinned ones first, in pin order, then the others
    /// newest first; `skip` and `n` count in that sequence.
    fn front(&self, store: &Store, skip: usize, n: usize) -> Result<(Vec<Post>, bool), StoreError> {
        let pinned = store.pinned_posts()?;
        if pinned.is_empty() {
            return self.select(store, |_| true, skip, n);
        }
        let ids: Vec<String> = pinned.iter().map(|a| a.id.clone()).collect();
        let mut out = Vec::with_capacity(n.min(256));
        for a in pinned.into_iter().skip(skip).take(n) {
            out.push(self.post(a, store)?);
        }
        let rest_skip = skip.saturating_sub(ids.len());
        let (rest, more) =
            self.select(store, |p| !ids.contains(&p.id), rest_skip, n - out.len())?;
        out.extend(rest);
        let more = more || skip + n < ids.len();
        Ok((out, more))
    }

    /// The categories' slugs, as the category feeds' paths spell them.
    pub fn category_slugs(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(|c| c.slug.as_str())
    }

    fn category(&self, slug: &str) -> Option<&CategoryRef> {
        self.categories
            .iter()
            .find(|c| decode(&c.slug) == decode(slug))
    }

    /// Renders one path; `None` when the site has no such path.
    pub fn render(&self, store: &Store, path: &str) -> Result<Option<Resource>, StoreError> {
        let Some(target) = parse_path(path) else {
            return Ok(None);
        };
        // A change by hand (a post hidden, a pin moved) modifies pages whose posts'
        // own times do not say so.
        let edited = match &target {
            Target::Style => DateTime::<Utc>::UNIX_EPOCH,
            _ => store.edited_at()?.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        };
        let in_category = |slug: &str| {
            let slug = decode(slug);
            move |p: &PostRef| p.category.as_deref().is_some_and(|c| decode(c) == slug)
        };
        let mut r = match target {
            Target::Style => Resource::new(
                include_str!("../../templates/style.css")
                    .as_bytes()
                    .to_vec(),
                CSS,
                DateTime::<Utc>::UNIX_EPOCH,
            ),
            Target::Feed(slug, format) => {
                let (posts, title, path) = match &slug {
                    None => {
                        let (posts, _) = self.select(store, |_| true, 0, self.blog.max_entries)?;
                        let ext = ext(format);
                        (posts, self.blog.title.clone(), format!("feed.{ext}"))
                    }
                    Some(slug) => {
                        let Some(cat) = self.category(slug) else {
                            return Ok(None);
                        };
                        let (posts, _) =
                            self.select(store, in_category(slug), 0, self.blog.max_entries)?;
                        (
                            posts,
                            format!("{} - {}", self.blog.title, cat.name),
                            format!("category/{}.{}", cat.slug, ext(format)),
                        )
                    }
                };
                let updated = last_modified(&posts).max(edited);
                let (body, ct) = match format {
                    Format::Atom => (
                        atom::render(&self.blog, &posts, updated, &path, &title),
                        ATOM,
                    ),
                    Format::Rss => (rss::render(&self.blog, &posts, updated, &path, &title), RSS),
                    Format::Json => (
                        json::render(&self.blog, &posts, updated, &path, &title),
                        JSON,
                    ),
                };
                Resource::new(body, ct, updated)
            }
            Target::Page(slug, page) => {
                let size = self.blog.page_size;
                let skip = (page - 1).saturating_mul(size);
                let (posts, more, heading, base) = match &slug {
                    None => {
                        let (p, more) = self.front(store, skip, size)?;
                        (p, more, None, String::new())
                    }
                    Some(slug) => {
                        let Some(cat) = self.category(slug) else {
                            return Ok(None);
                        };
                        let (p, more) = self.select(store, in_category(slug), skip, size)?;
                        (
                            p,
                            more,
                            Some(cat.name.clone()),
                            format!("category/{}/", cat.slug),
                        )
                    }
                };
                if posts.is_empty() && page > 1 {
                    return Ok(None);
                }
                let newer = match page {
                    1 => None,
                    2 => Some(base.clone()),
                    n => Some(format!("{base}page/{}/", n - 1)),
                };
                let older = more.then(|| format!("{base}page/{}/", page + 1));
                let feeds = slug.as_deref().and_then(|s| self.category(s)).map(|c| {
                    (
                        format!("category/{}", c.slug),
                        format!("{} - {}", self.blog.title, c.name),
                    )
                });
                self.page(path, &posts, heading, newer, older, feeds)?
            }
            Target::Archive(year, month, page) => {
                let size = self.blog.page_size;
                let (posts, more) = self.select(
                    store,
                    |p| {
                        let t = p.time.with_timezone(&self.blog.timezone.0);
                        t.year() == year && t.month() == month
                    },
                    (page - 1).saturating_mul(size),
                    size,
                )?;
                if posts.is_empty() {
                    return Ok(None);
                }
                let base = format!("archive/{year}/{month:02}/");
                let newer = match page {
                    1 => None,
                    2 => Some(base.clone()),
                    n => Some(format!("{base}page/{}/", n - 1)),
                };
                let older = more.then(|| format!("{base}page/{}/", page + 1));
                self.page(
                    path,
                    &posts,
                    Some(format!("{year}/{month:02}")),
                    newer,
                    older,
                    None,
                )?
            }
            Target::Post(id) => {
                let Some(a) = store.get(&id)? else {
                    return Ok(None);
                };
                if !a.judgement.as_ref().is_some_and(|j| j.is_post()) {
                    return Ok(None);
                }
                let post = self.post(a, store)?;
                let heading = Some(post.article.title.clone());
                self.page(path, &[post], heading, None, None, None)?
            }
        };
        r.last_modified = r.last_modified.max(edited);
        Ok(Some(r))
    }

    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        path: &str,
        posts: &[Post],
        heading: Option<String>,
        newer: Option<String>,
        older: Option<String>,
        category_feeds: Option<(String, String)>,
    ) -> Result<Resource, StoreError> {
        let root = "../".repeat(path.trim_start_matches('/').matches('/').count());
        let mut days: Vec<DayView> = Vec::new();
        for p in posts {
            let local = p.time.with_timezone(&self.blog.timezone.0);
            let day = strftime(&local, &self.blog.date_heading);
            let view = self.post_view(p);
            match days.last_mut() {
                Some(d) if d.heading == day => d.posts.push(view),
                _ => days.push(DayView {
                    heading: day,
                    posts: vec![view],
                }),
            }
        }
        let mut feeds = Vec::new();
        let mut add = |stem: &str, title: &str| {
            for (ext, t, label) in [
                ("atom", "application/atom+xml", "Atom"),
                ("rss", "application/rss+xml", "RSS"),
                ("json", "application/feed+json", "JSON Feed"),
            ] {
                feeds.push(FeedLink {
                    r#type: t,
                    title: format!("{title} ({label})"),
                    href: format!("{root}{stem}.{ext}"),
                });
            }
        };
        add("feed", &self.blog.title);
        if let Some((stem, title)) = &category_feeds {
            add(stem, title);
        }
        let html = self
            .env
            .get_template("base.html")
            .and_then(|t| {
                t.render(context! {
                    blog => &self.blog,
                    root => root,
                    heading => heading,
                    days => days,
                    newer => newer,
                    older => older,
                    feeds => feeds,
                    categories => &self.categories,
                })
            })
            .map_err(|e| StoreError::Corrupt(format!("rendering {path}: {e}")))?;
        Ok(Resource::new(html.into_bytes(), HTML, last_modified(posts)))
    }

    fn post_view(&self, p: &Post) -> PostView {
        let local = p.time.with_timezone(&self.blog.timezone.0);
        let line = |part: &str| {
            fill(part, |name, fmt| match name {
                "author" => Some(self.blog.author.clone()),
                "time" => Some(strftime(&local, fmt.unwrap_or("%H:%M"))),
                "date" => Some(strftime(&local, fmt.unwrap_or("%Y/%-m/%-d"))),
                _ => None,
            })
        };
        let (before, after) = match self.blog.posted_by.split_once("{category}") {
            Some((b, a)) => (line(b), line(a)),
            None => (line(&self.blog.posted_by), String::new()),
        };
        PostView {
            anchor: format!("p-{}", p.root.id),
            permalink: format!("post/{}/", p.root.id),
            title: p.article.title.clone(),
            content_html: p.content_html.clone(),
            posted_before: before,
            posted_after: after,
            category: p.category.as_ref().map(|c| CategoryRef {
                name: c.name.clone(),
                slug: c.slug.clone(),
            }),
            pinned: p
                .root
                .judgement
                .as_ref()
                .is_some_and(|j| j.editor.pinned.is_some()),
        }
    }

    /// Every path of the site: what `render --out` writes.
    pub fn paths(&self, store: &Store) -> Result<Vec<String>, StoreError> {
        let mut paths: Vec<String> = ["", "style.css", "feed.atom", "feed.rss", "feed.json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Newest first, so each month's posts come together.
        let mut months: Vec<((i32, u32), usize)> = Vec::new();
        let mut per_category: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        for p in store.post_refs() {
            let p = p?;
            total += 1;
            let t = p.time.with_timezone(&self.blog.timezone.0);
            match months.last_mut() {
                Some((m, n)) if *m == (t.year(), t.month()) => *n += 1,
                _ => months.push(((t.year(), t.month()), 1)),
            }
            if let Some(c) = p.category {
                *per_category.entry(c).or_default() += 1;
            }
            paths.push(format!("post/{}/", p.id));
        }
        let pages = |n: usize| n.div_ceil(self.blog.page_size).max(1);
        paths.extend((2..=pages(total)).map(|p| format!("page/{p}/")));
        for c in &self.categories {
            for ext in ["atom", "rss", "json"] {
                paths.push(format!("category/{}.{ext}", c.slug));
            }
            paths.push(format!("category/{}/", c.slug));
            let n = per_category.get(&c.slug).copied().unwrap_or(0);
            paths.extend((2..=pages(n)).map(|p| format!("category/{}/page/{p}/", c.slug)));
        }
        for ((y, m), n) in months {
            paths.push(format!("archive/{y}/{m:02}/"));
            paths.extend((2..=pages(n)).map(|p| format!("archive/{y}/{m:02}/page/{p}/")));
        }
        Ok(paths)
    }

    /// Writes the whole site into `dir` as static files (`index.html` for directory
    /// paths); each file is written beside its target and renamed over it, so a web
    /// server never serves half a file. Returns how many files were written.
    pub fn write_dir(&self, store: &Store, dir: &Path) -> anyhow::Result<usize> {
        use anyhow::Context;
        let mut written = 0;
        for path in self.paths(store)? {
            let Some(r) = self.render(store, &path)? else {
                continue;
            };
            let file = if path.is_empty() || path.ends_with('/') {
                dir.join(&path).join("index.html")
            } else {
                dir.join(&path)
            };
            let parent = file.parent().unwrap_or(dir);
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            let tmp = parent.join(format!(
                ".{}.tmp",
                file.file_name().and_then(|n| n.to_str()).unwrap_or("file")
            ));
            std::fs::write(&tmp, &r.body).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &file)
                .with_context(|| format!("replacing {}", file.display()))?;
            written += 1;
        }
        Ok(written)
    }
}

fn ext(f: Format) -> &'static str {
    match f {
        Format::Atom => "atom",
        Format::Rss => "rss",
        Format::Json => "json",
    }
}

fn last_modified(posts: &[Post]) -> DateTime<Utc> {
    posts
        .iter()
        .map(|p| p.updated.max(p.root.first_seen))
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The rendered site for the store's current durable generation, path by path.
pub struct SiteCache {
    /// Replaced when a reloaded configuration changes what the blog publishes.
    site: RwLock<Arc<Site>>,
    store: Store,
    /// Renders by path kind, for `/metrics`.
    renders: Mutex<HashMap<&'static str, u64>>,
    current: RwLock<(u64, HashMap<String, Arc<Resource>>)>,
    /// Held while rendering, so the requests that all miss right after a store change
    /// wait for one render instead of each rendering the same path.
    rendering: Mutex<()>,
}

impl SiteCache {
    pub fn new(site: Site, store: Store) -> SiteCache {
        SiteCache {
            site: RwLock::new(Arc::new(site)),
            store,
            renders: Mutex::new(HashMap::new()),
            current: RwLock::new((u64::MAX, HashMap::new())),
            rendering: Mutex::new(()),
        }
    }

    /// The resource at `path`, rendered at most once per store generation.
    pub fn get(&self, path: &str) -> Result<Option<Arc<Resource>>, StoreError> {
        if let Some(r) = self.cached(path) {
            return Ok(Some(r));
        }
        let _one = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.cached(path) {
            return Ok(Some(r));
        }
        // A render reads the store as it is now, which can be ahead of the disk by a
        // poll's last writes: flush first, so nothing served can be lost in a crash.
        self.store.flush()?;
        let generation = self.store.durable_generation();
        let Some(fresh) = self.site().render(&self.store, path)? else {
            return Ok(None);
        };
        *self
            .renders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(path_kind(path))
            .or_default() += 1;
        let fresh = Arc::new(fresh);
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if cur.0 != generation {
            *cur = (generation, HashMap::new());
        }
        // Bounded: pages deep in the past are rendered on demand, not kept forever.
        if cur.1.len() < 4096 {
            cur.1.insert(path.to_owned(), fresh.clone());
        }
        Ok(Some(fresh))
    }

    /// The resource at `path` when it is rendered for the current store generation;
    /// cheap enough to call on the async threads.
    pub fn cached(&self, path: &str) -> Option<Arc<Resource>> {
        // Keyed by what is on disk, so a crash never takes back what was served.
        let generation = self.store.durable_generation();
        let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
        if cur.0 == generation {
            cur.1.get(path).cloned()
        } else {
            None
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the blog publishes now.
    pub fn site(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes with `site` from now on; everything rendered before is dropped.
    pub fn set_site(&self, site: Site) {
        let _one = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        *self.site.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(site);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (u64::MAX, HashMap::new());
    }

    /// Renders so far, by path kind.
    pub fn renders(&self) -> Vec<(&'static str, u64)> {
        let r = self.renders.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Judge, judge_pending};

    fn english(dir: &Path) -> (Config, Store) {
        let text = format!(
            r#"[blog]
title = "Digest"
author = "editor"
language = "en"
base_url = "http://blog.example/"
page_size = 2
date_heading = "%B %-d, %Y"
attribution = "{{date:%B %-d, %Y}} {{publisher}}"
posted_by = "posted by {{author}} at {{time:%H:%M}} | {{category}}"
older_posts = "Older posts"
[store]
path = "{}"
[[category]]
name = "News & Views"
slug = "news"
default = true
[[source]]
name = "Full Wire"
url = "http://full.example/feed"
[[source]]
name = "Excerpt Times"
url = "http://excerpt.example/feed"
republish = "excerpt"
[[source]]
name = "Title Post"
url = "http://title.example/feed"
republish = "title"
"#,
            dir.join("db").display()
        );
        let config = Config::parse(&text, "en.toml").unwrap();
        let store = Store::open(&config.store.path, 1 << 20).unwrap();
        // Three different stories, or they would be folded into one.
        let bodies = [
            "Alpha bravo charlie delta echo. ",
            "Kilo lima mike november oscar. ",
            "Sierra tango uniform victor whiskey. ",
        ];
        for (i, host) in ["full", "excerpt", "title"].iter().enumerate() {
            let body = bodies[i].repeat(20);
            let t = DateTime::parse_from_rfc3339(&format!("2018-12-1{}T09:0{i}:00Z", 7 + i))
                .unwrap()
                .with_timezone(&Utc);
            let a = Article {
                id: String::new(),
                key: format!("http://{host}.example/a"),
                source_url: format!("http://{host}.example/feed"),
                publisher: config.sources[i].name.clone(),
                link: Some(format!("http://{host}.example/a")),
                title: format!("{host} < story"),
                content_html: format!("<p>{body}</p><script>alert(1)</script>"),
                content_text: format!("{host} {body}"),
                author: None,
                tags: Vec::new(),
                published: Some(t),
                first_seen: t,
                updated: t,
                full_text: false,
                aliases: Vec::new(),
                judgement: None,
            };
            store.upsert(a, t).unwrap();
        }
        let judge = Judge::from_config(&config, &[]).unwrap();
        judge_pending(&store, &judge).unwrap();
        (config, store)
    }

    fn page(site: &Site, store: &Store, path: &str) -> String {
        let r = site.render(store, path).unwrap().unwrap();
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    #[test]
    fn an_english_blog_with_republish_modes_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = english(dir.path());
        let site = Site::new(&config);
        let first = page(&site, &store, "");
        // Newest first, two a page, English dates and labels, titles escaped.
        assert!(
            first.find("title &lt; story").unwrap() < first.find("excerpt &lt; story").unwrap()
        );
        assert!(!first.contains("full &lt; story"));
        assert!(
            first.contains("<h2 class=\"date\">December 19, 2018</h2>"),
            "{first}"
        );
        assert!(
            first.contains(
                "posted by editor at 09:02 | <a href=\"category/news/\">News &amp; Views</a>"
            ),
            "{first}"
        );
        assert!(
            first.contains("<a rel=\"next\" href=\"page/2/\">Older posts</a>"),
            "{first}"
        );
        assert!(first.contains("December 18, 2018 Excerpt Times"), "{first}");
        assert!(!first.contains("<script"), "{first}");
        let second = page(&site, &store, "page/2/");
        assert!(
            second.contains("full &lt; story") && second.contains("href=\"../../\""),
            "{second}"
        );
        assert!(site.render(&store, "page/3/").unwrap().is_none());

        // What each outlet may have republished.
        let feed = page(&site, &store, "feed.atom");
        let parsed = atom_syndication::Feed::read_from(feed.as_bytes()).unwrap();
        let content = |title: &str| {
            let e = parsed
                .entries
                .iter()
                .find(|e| e.title.value == title)
                .unwrap();
            e.content.as_ref().unwrap().value.clone().unwrap()
        };
        assert_eq!(content("full < story").matches("Alpha bravo").count(), 20);
        let excerpt = content("excerpt < story");
        assert!(
            excerpt.contains("Kilo lima") && excerpt.contains('…'),
            "{excerpt}"
        );
        assert!(excerpt.chars().count() < 600, "{excerpt}");
        let title = content("title < story");
        assert!(
            !title.contains("Sierra") && title.contains("Title Post"),
            "{title}"
        );

        // The static tree has every path the server answers.
        let out = dir.path().join("out");
        let files = site.write_dir(&store, &out).unwrap();
        assert!(files >= 12, "{files}");
        for f in [
            "index.html",
            "page/2/index.html",
            "feed.json",
            "category/news.rss",
            "category/news/index.html",
            "archive/2018/12/index.html",
            "style.css",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }
    }

    #[test]
    fn the_cache_answers_hits_without_rendering_until_the_store_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = english(dir.path());
        let cache = SiteCache::new(Site::new(&config), store.clone());
        assert!(cache.cached("feed.atom").is_none());
        let rendered = cache.get("feed.atom").unwrap().unwrap();
        let hit = cache.cached("feed.atom").unwrap();
        assert!(Arc::ptr_eq(&rendered, &hit));
        assert!(Arc::ptr_eq(&cache.get("feed.atom").unwrap().unwrap(), &hit));
        assert!(
            cache.cached("").is_none(),
            "only what was rendered is cached"
        );

        let t = rendered.last_modified + chrono::Duration::hours(1);
        let mut a = store.posts_newest_first().next().unwrap().unwrap();
        a.title = "revised".into();
        a.content_html = "<p>revised</p>".into();
        a.content_text = "revised".into();
        store.upsert(a, t).unwrap();
        store.flush().unwrap();
        assert!(cache.cached("feed.atom").is_none());
        let fresh = cache.get("feed.atom").unwrap().unwrap();
        assert_ne!(fresh.etag, rendered.etag);
    }

    #[test]
    fn a_months_archive_is_paged_like_the_front_page() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = english(dir.path());
        let site = Site::new(&config);
        // Three posts in December 2018, two per page: the newest two, then the oldest.
        let first = page(&site, &store, "archive/2018/12/");
        assert!(
            first.contains("title &lt; story") && first.contains("excerpt &lt; story"),
            "{first}"
        );
        assert!(!first.contains("full &lt; story"), "{first}");
        assert!(first.contains("archive/2018/12/page/2/"), "{first}");
        let second = page(&site, &store, "archive/2018/12/page/2/");
        assert!(second.contains("full &lt; story"), "{second}");
        assert!(
            second.contains("href=\"../../../../../archive/2018/12/\">newer posts"),
            "{second}"
        );
        assert!(
            site.render(&store, "archive/2018/12/page/3/")
                .unwrap()
                .is_none()
        );
        let paths = site.paths(&store).unwrap();
        assert!(
            paths.contains(&"archive/2018/12/page/2/".to_owned()),
            "{paths:?}"
        );
        assert!(!paths.contains(&"archive/2018/12/page/3/".to_owned()));
    }

    #[test]
    fn paths_parse() {
        assert_eq!(parse_path("/"), Some(Target::Page(None, 1)));
        assert_eq!(
            parse_path("feed.json"),
            Some(Target::Feed(None, Format::Json))
        );
        assert_eq!(parse_path("feed.xml"), None);
        assert_eq!(
            parse_path("category/news.rss"),
            Some(Target::Feed(Some("news".into()), Format::Rss))
        );
        assert_eq!(
            parse_path("category/ニュース/"),
            Some(Target::Page(Some("ニュース".into()), 1))
        );
        assert_eq!(parse_path("page/3/"), Some(Target::Page(None, 3)));
        assert_eq!(parse_path("page/0/"), None);
        assert_eq!(
            parse_path("archive/2019/07/"),
            Some(Target::Archive(2019, 7, 1))
        );
        assert_eq!(parse_path("archive/2019/13/"), None);
        assert_eq!(parse_path("post/abc/"), Some(Target::Post("abc".into())));
        assert_eq!(parse_path("../etc/passwd"), None);
    }
}
