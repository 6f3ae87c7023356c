//! The `feeds.toml` schema: typed values, defaults, and validation whose errors name the
//! file, line and column, the key and what was expected.
//!
//! Values that need parsing (durations, sizes, URLs, time zones) have their own types with
//! a `Deserialize` impl, so a bad value fails inside the TOML deserializer, which knows the
//! span and reports it. Checks that span several entries (a source URL given twice) use
//! `Spanned` to point at the offending line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;
use url::Url;

/// A configuration that failed to load: the message already names the file and position.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub blog: BlogConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Without it every article is on topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicConfig>,
    #[serde(default, rename = "category", skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<CategoryConfig>,
    /// The directory of the configuration file: `examples` paths are read from there.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// `[topic]`: what the blog is about.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicConfig {
    /// An article must match one of these (when any are given)…
    pub include: Vec<Term>,
    /// …and none of these.
    pub exclude: Vec<Term>,
}

/// One `[[category]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub name: String,
    /// For URLs and feed terms; default: the name, percent-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Terms that decide the category when they match (see `[topic]` for how terms match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<Term>,
    /// JSON lines `{"title", "body", "category"}` the classifier learns from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<PathBuf>,
    /// Used when nothing else fits.
    #[serde(default)]
    pub default: bool,
}

/// A topic or keyword term: text, or `re:` and a regular expression. Checked as it is
/// read, so a bad one is reported at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term(pub String);

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::judge::topic::check_term(&s).map_err(de::Error::custom)?;
        Ok(Term(s))
    }
}

impl Serialize for Term {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl AsRef<str> for Term {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlogConfig {
    pub title: String,
    pub description: String,
    /// The "posted by" name, and the author of every published entry.
    pub author: String,
    /// Where the blog is served; every published link is made absolute against it.
    pub base_url: HttpUrl,
    pub language: String,
    pub timezone: TimeZone,
    pub max_entries: usize,
    /// Posts per HTML page.
    pub page_size: usize,
    /// The line under each post linking the original, with `{date:FORMAT}` (strftime,
    /// the article's date in the blog's zone) and `{publisher}`.
    pub attribution: String,
    /// strftime format of the date headings on the HTML pages.
    pub date_heading: String,
    /// Each post's footer, with `{author}`, `{time:FORMAT}` and `{category}`.
    pub posted_by: String,
    pub also_reported_by: String,
    pub older_posts: String,
    pub newer_posts: String,
    /// A WebSub hub to notify when the feeds change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<HttpUrl>,
}

impl Default for BlogConfig {
    fn default() -> Self {
        BlogConfig {
            title: "kawaraban".into(),
            description: "News gathered and republished by kawaraban".into(),
            author: "kawaraban".into(),
            base_url: HttpUrl(Url::parse("http://127.0.0.1:8080/").expect("static URL")),
            language: "en".into(),
            timezone: TimeZone(chrono_tz::UTC),
            max_entries: 50,
            page_size: 10,
            attribution: "{date:%Y/%-m/%-d}{publisher}".into(),
            date_heading: "%Y年%m月%d日".into(),
            posted_by: "posted by {author} at {time:%H:%M}| {category}".into(),
            also_reported_by: "also reported by".into(),
            older_posts: "older posts".into(),
            newer_posts: "newer posts".into(),
            hub: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Clients besides loopback that may read `/status` and `/metrics`.
    #[serde(deserialize_with = "crate::fetch::guard::deserialize_ranges")]
    pub admin_allow: Vec<crate::fetch::guard::Cidr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_allow: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub cache_size: ByteSize,
    /// Articles older than this (by their post time) are pruned; unset keeps them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<std::num::NonZeroU32>,
    /// At most this many articles are kept, the oldest pruned first; unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_max: Option<std::num::NonZeroUsize>,
    /// How far back duplicate candidates reach from an article's first sighting; the
    /// dedup index keeps only the articles first seen within it.
    pub dedup_window: HumanDuration,
}

impl StoreConfig {
    pub fn retention(&self) -> crate::store::retention::Policy {
        crate::store::retention::Policy {
            keep_days: self.keep_days.map(|d| d.get()),
            keep_max: self.keep_max.map(|m| m.get()),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data/kawaraban.db"),
            cache_size: ByteSize(32 << 20),
            keep_days: None,
            keep_max: None,
            dedup_window: HumanDuration(crate::store::DEFAULT_DEDUP_WINDOW),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
    pub connect_timeout: HumanDuration,
    pub max_bytes: ByteSize,
    /// Fetches in flight at once, over all sources.
    pub concurrency: usize,
    /// Fetches in flight at once against one host and port.
    pub per_host: usize,
    pub user_agent: String,
    /// Longest wait between polls of a failing source.
    pub max_backoff: HumanDuration,
    /// Items older than this when first seen are not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<HumanDuration>,
    /// Address ranges fetched from although they are private or local (loopback for a
    /// feed served on the same machine); `fetch::guard` lists what is refused.
    #[serde(deserialize_with = "crate::fetch::guard::deserialize_ranges")]
    pub allow_private: Vec<crate::fetch::guard::Cidr>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            interval: HumanDuration(Duration::from_secs(30 * 60)),
            timeout: HumanDuration(Duration::from_secs(20)),
            connect_timeout: HumanDuration(Duration::from_secs(10)),
            max_bytes: ByteSize(8 << 20),
            concurrency: 8,
            per_host: 2,
            user_agent: crate::USER_AGENT.into(),
            max_backoff: HumanDuration(Duration::from_secs(6 * 3600)),
            max_age: None,
            allow_private: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The publisher shown in attributions; several feeds of one publisher share it.
    pub name: String,
    /// The feed. Identifies the source: unique within the file.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_spanned_opt"
    )]
    pub url: Option<Spanned<HttpUrl>>,
    /// Instead of `url`: an index page whose `links` are the articles.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_spanned_opt"
    )]
    pub page: Option<Spanned<HttpUrl>>,
    /// With `page`: CSS selector for the article links on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<ByteSize>,
    /// For dates that carry no zone; default the blog's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZone>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When to fetch the article page for the full text.
    #[serde(default)]
    pub full_text: FullText,
    /// CSS selector(s) for the article body; default: found automatically.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub selector: Vec<String>,
    /// CSS selectors removed from the body.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub remove: Vec<String>,
    /// Fetch article pages even where robots.txt disallows it.
    #[serde(default)]
    pub ignore_robots: bool,
    /// For portals carrying other outlets' stories: name the publisher from the page.
    #[serde(default)]
    pub publisher_from_page: bool,
    /// How much of this outlet's articles the blog may republish.
    #[serde(default)]
    pub republish: Republish,
    /// Skip items whose feed title and summary already hit a `[topic]` exclude term,
    /// without fetching their page.
    #[serde(default)]
    pub prefilter: bool,
    /// Labels for people, such as the folder an OPML import found the feed in
    /// (`"News/Security"`: a folder path); exported back as OPML folders.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub tags: Vec<String>,
}

/// How much of a source's article a post carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Republish {
    #[default]
    Full,
    /// The first lines and the link.
    Excerpt,
    /// Only the title and the link.
    Title,
}

/// When a source's article pages are fetched for the full text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FullText {
    Always,
    /// When the feed's content is missing or looks truncated.
    #[default]
    Auto,
    Never,
}

/// A string or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::One(s) => vec![s],
        Raw::Many(v) => v,
    })
}

fn yes() -> bool {
    true
}

fn serialize_spanned_opt<T: Serialize, S: Serializer>(
    v: &Option<Spanned<T>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => v.get_ref().serialize(s),
        None => s.serialize_none(),
    }
}

impl SourceConfig {
    /// The URL that identifies the source: its feed, or its index page.
    pub fn id_url(&self) -> Option<&Spanned<HttpUrl>> {
        self.url.as_ref().or(self.page.as_ref())
    }
}

/// The settings one source is fetched with, after defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSource {
    pub name: String,
    /// The feed, or the index page: the source's identity.
    pub url: Url,
    /// `Some(selector)` for an index page whose links are the articles.
    pub links: Option<String>,
    pub interval: Duration,
    pub max_bytes: u64,
    pub timezone: chrono_tz::Tz,
    pub enabled: bool,
    pub full_text: FullText,
    pub selector: Vec<String>,
    pub remove: Vec<String>,
    pub ignore_robots: bool,
    pub publisher_from_page: bool,
    pub prefilter: bool,
}

impl ResolvedSource {
    /// A fingerprint of what decides how the source is fetched: a source marked gone
    /// (410) is polled again once its entry changes.
    pub fn fingerprint(&self) -> String {
        format!("{self:?}")
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "{}: cannot read the configuration: {e} (pass --config PATH, or create feeds.toml)",
                path.display()
            ))
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.dir = path.parent().map(Path::to_owned).unwrap_or_default();
        Ok(config)
    }

    /// Parses configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim();
            // toml's Display repeats the position and quotes the line; build our own
            // "file:line:col: key `k`: what was expected".
            match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    let key = key_on_line(text, span.start)
                        .filter(|k| !msg.contains(k.as_str()))
                        .map(|k| format!("key `{k}`: "))
                        .unwrap_or_default();
                    ConfigError(format!("{origin}:{line}:{col}: {key}{msg}"))
                }
                None => ConfigError(format!("{origin}: {msg}")),
            }
        })?;
        config.validate(text, origin)?;
        Ok(config)
    }

    fn validate(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let at = |span: std::ops::Range<usize>| {
            let (line, col) = line_col(text, span.start);
            format!("{origin}:{line}:{col}")
        };
        let mut seen: Vec<(&Url, std::ops::Range<usize>)> = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let Some(id) = s.id_url() else {
                return Err(ConfigError(format!(
                    "{origin}: source #{} ({:?}): give `url` (a feed) or `page` (an index page) with `links`",
                    i + 1,
                    s.name
                )));
            };
            let here = at(id.span());
            if s.url.is_some() && s.page.is_some() {
                return Err(ConfigError(format!(
                    "{here}: source {:?} has both `url` and `page`: a source is a feed or an index page, not both",
                    s.name
                )));
            }
            if s.page.is_some() != s.links.is_some() {
                return Err(ConfigError(format!(
                    "{here}: source {:?}: `page` and `links` go together (`links` is the CSS selector of the article links on the page)",
                    s.name
                )));
            }
            if s.name.trim().is_empty() {
                return Err(ConfigError(format!(
                    "{here}: source `name` is empty: give the publisher name shown in attributions"
                )));
            }
            for (key, sel) in s
                .selector
                .iter()
                .map(|x| ("selector", x))
                .chain(s.remove.iter().map(|x| ("remove", x)))
                .chain(s.links.iter().map(|x| ("links", x)))
            {
                if crate::extract::check_selector(sel).is_err() {
                    return Err(ConfigError(format!(
                        "{here}: source {:?}: key `{key}`: `{sel}` is not a valid CSS selector",
                        s.name
                    )));
                }
            }
            if let Some(bad) = s.tags.iter().find_map(|t| check_tag(t).err()) {
                return Err(ConfigError(format!(
                    "{here}: source {:?}: key `tags`: {bad}",
                    s.name
                )));
            }
            let url = &id.get_ref().0;
            if let Some((_, first)) = seen.iter().find(|(u, _)| *u == url) {
                let (line, _) = line_col(text, first.start);
                return Err(ConfigError(format!(
                    "{here}: key `url`: {url} is already the url of the source at line {line}; each source needs its own url"
                )));
            }
            seen.push((url, id.span()));
        }
        self.validate_categories(origin)?;
        let b = &self.blog;
        for (key, fmt) in [
            ("blog.date_heading", b.date_heading.as_str()),
            ("blog.attribution", b.attribution.as_str()),
            ("blog.posted_by", b.posted_by.as_str()),
        ] {
            // Formats sit inside `{date:…}`/`{time:…}` in the lines; strftime errors
            // only show when a date is written, so every format is tried here.
            let formats: Vec<&str> = if key == "blog.date_heading" {
                vec![fmt]
            } else {
                fmt.split('{')
                    .filter_map(|p| p.split_once('}').map(|(inner, _)| inner))
                    .filter_map(|inner| inner.split_once(':').map(|(_, f)| f))
                    .collect()
            };
            if let Some(bad) = formats.iter().find(|f| !crate::publish::check_strftime(f)) {
                return Err(ConfigError(format!(
                    "{origin}: key `{key}`: {bad:?} is not a valid strftime date format (e.g. \"%Y/%-m/%-d\")"
                )));
            }
        }
        let checks: [(&str, bool, &str); 6] = [
            (
                "fetch.concurrency",
                self.fetch.concurrency >= 1,
                "at least 1",
            ),
            ("fetch.per_host", self.fetch.per_host >= 1, "at least 1"),
            ("blog.max_entries", self.blog.max_entries >= 1, "at least 1"),
            ("blog.page_size", self.blog.page_size >= 1, "at least 1"),
            (
                "fetch.interval",
                self.fetch.interval.0 >= Duration::from_secs(1),
                "at least 1s",
            ),
            (
                "store.dedup_window",
                self.store.dedup_window.0 >= Duration::from_secs(3600),
                "at least 1h",
            ),
        ];
        for (key, ok, expected) in checks {
            if !ok {
                return Err(ConfigError(format!(
                    "{origin}: key `{key}`: expected {expected}"
                )));
            }
        }
        Ok(())
    }

    fn validate_categories(&self, origin: &str) -> Result<(), ConfigError> {
        let cats = &self.categories;
        if cats.is_empty() {
            return Ok(());
        }
        let defaults: Vec<&str> = cats
            .iter()
            .filter(|c| c.default)
            .map(|c| c.name.as_str())
            .collect();
        if defaults.len() != 1 {
            return Err(ConfigError(format!(
                "{origin}: [[category]]: exactly one category needs `default = true` (used when nothing else fits); found {}",
                if defaults.is_empty() {
                    "none".to_owned()
                } else {
                    defaults.join(", ")
                }
            )));
        }
        for (i, c) in cats.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(ConfigError(format!(
                    "{origin}: category #{}: `name` is empty",
                    i + 1
                )));
            }
            let slug = c.slug();
            if slug.is_empty() || slug.contains('/') || slug.starts_with('.') {
                return Err(ConfigError(format!(
                    "{origin}: category {:?}: key `slug`: {slug:?} cannot be a URL path segment (no `/`, not empty, not starting with `.`)",
                    c.name
                )));
            }
            if let Some(j) = cats[..i]
                .iter()
                .position(|o| o.name == c.name || o.slug() == slug)
            {
                return Err(ConfigError(format!(
                    "{origin}: category {:?} has the same name or slug as category #{}: each needs its own",
                    c.name,
                    j + 1
                )));
            }
        }
        Ok(())
    }

    /// Every configured source with defaults filled in, in file order.
    pub fn resolved_sources(&self) -> Vec<ResolvedSource> {
        self.sources
            .iter()
            .filter_map(|s| {
                Some(ResolvedSource {
                    name: s.name.clone(),
                    url: s.id_url()?.get_ref().0.clone(),
                    links: s.links.clone(),
                    interval: s.interval.map_or(self.fetch.interval.0, |d| d.0),
                    max_bytes: s.max_bytes.map_or(self.fetch.max_bytes.0, |b| b.0),
                    timezone: s.timezone.map_or(self.blog.timezone.0, |t| t.0),
                    enabled: s.enabled,
                    full_text: s.full_text,
                    selector: s.selector.clone(),
                    remove: s.remove.clone(),
                    ignore_robots: s.ignore_robots,
                    publisher_from_page: s.publisher_from_page,
                    prefilter: s.prefilter,
                })
            })
            .collect()
    }

    /// The configuration with every default written out, as TOML.
    pub fn to_resolved_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

impl CategoryConfig {
    /// The category's URL segment and feed term.
    pub fn slug(&self) -> String {
        match &self.slug {
            Some(s) => s.clone(),
            None => percent_encoding::utf8_percent_encode(
                self.name.trim(),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string()
            .replace("%2D", "-")
            .replace("%5F", "_"),
        }
    }
}

/// A source tag: non-empty, its `/`-separated folder names non-empty and without
/// surrounding spaces, no commas (OPML writes several tags comma-separated).
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.contains(',') || tag.chars().any(char::is_control) {
        return Err(format!(
            "{tag:?} cannot be a tag (no commas or control characters)"
        ));
    }
    if tag
        .split('/')
        .any(|part| part.is_empty() || part.trim() != part)
    {
        return Err(format!(
            "{tag:?} cannot be a tag: write a name, or a folder path like \"News/Security\" (no empty parts, no spaces around `/`)"
        ));
    }
    Ok(())
}

/// The key assigned on the line holding `offset`, for errors about its value.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |p| p + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A duration written as a human string: "30m", "1h 30m", "20s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| {
                de::Error::custom(format!(
                    "expected a duration like \"30m\" or \"20s\", got {s:?} ({e})"
                ))
            })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A size written as a human string: "8MiB", "512KiB", "1000000".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Option<u64> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(mult)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => ByteSize::parse(&s).map(ByteSize).ok_or_else(|| {
                de::Error::custom(format!(
                    "expected a size like \"8MiB\" or \"512KiB\", got {s:?}"
                ))
            }),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// An absolute http or https URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub Url);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let url = Url::parse(s.trim()).map_err(|e| {
            de::Error::custom(format!("expected an absolute http(s) URL, got {s:?} ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(de::Error::custom(format!(
                "expected an absolute http(s) URL, got {s:?}"
            )));
        }
        Ok(HttpUrl(url))
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// An IANA time zone name such as "Asia/Tokyo".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| {
                de::Error::custom(format!(
                    "expected an IANA time zone like \"Asia/Tokyo\" or \"UTC\", got {s:?}"
                ))
            })
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in() {
        let c = Config::parse(
            "[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n",
            "t.toml",
        )
        .unwrap();
        let s = &c.resolved_sources()[0];
        assert_eq!(s.interval, Duration::from_secs(1800));
        assert_eq!(s.max_bytes, 8 << 20);
        assert!(s.enabled);
        let out = c.to_resolved_toml();
        assert!(out.contains("interval = \"30m\""), "{out}");
        assert!(out.contains("max_bytes = \"8MiB\""), "{out}");
        // What check-config prints must load again.
        Config::parse(&out, "resolved").unwrap();
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = Config::parse("[fetch]\ninterval = \"5m\"\nintervall = \"5m\"\n", "f.toml")
            .unwrap_err();
        assert!(e.0.starts_with("f.toml:3:1:"), "{e}");
        assert!(e.0.contains("intervall"), "{e}");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let e = Config::parse("[fetch]\ninterval = \"soon\"\n", "f.toml").unwrap_err();
        assert!(e.0.starts_with("f.toml:2:"), "{e}");
        assert!(e.0.contains("expected a duration"), "{e}");
        let e = Config::parse("[store]\ncache_size = \"lots\"\n", "f.toml").unwrap_err();
        assert!(e.0.contains("expected a size"), "{e}");
        let e =
            Config::parse("[[source]]\nname=\"a\"\nurl = \"ftp://x/\"\n", "f.toml").unwrap_err();
        assert!(e.0.starts_with("f.toml:3:"), "{e}");
        assert!(e.0.contains("http(s) URL"), "{e}");
        let e = Config::parse("[blog]\nmax_entries = \"ten\"\n", "f.toml").unwrap_err();
        assert!(e.0.starts_with("f.toml:2:15: key `max_entries`:"), "{e}");
        let e = Config::parse("[blog]\ntimezone = \"Mars/Olympus\"\n", "f.toml").unwrap_err();
        assert!(e.0.contains("time zone"), "{e}");
    }

    #[test]
    fn duplicate_source_url_is_refused_with_both_lines() {
        let text = "[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n\n[[source]]\nname = \"B\"\nurl = \"https://a.example/feed\"\n";
        let e = Config::parse(text, "f.toml").unwrap_err();
        assert!(e.0.starts_with("f.toml:7:"), "{e}");
        assert!(e.0.contains("line 3"), "{e}");
    }

    #[test]
    fn topic_and_categories_are_checked_where_they_are_written() {
        let ok = "[topic]\ninclude = [\"サイバー\", \"re:ランサム(ウェア|ウエア)\"]\nexclude = [\"映画\"]\n[[category]]\nname = \"サイバー攻撃\"\nkeywords = [\"DDoS\"]\n[[category]]\nname = \"ニュース\"\nslug = \"news\"\ndefault = true\n";
        let c = Config::parse(ok, "f.toml").unwrap();
        assert_eq!(c.topic.as_ref().unwrap().include.len(), 2);
        assert_eq!(
            c.categories[0].slug(),
            "%E3%82%B5%E3%82%A4%E3%83%90%E3%83%BC%E6%94%BB%E6%92%83"
        );
        assert_eq!(c.categories[1].slug(), "news");
        // What check-config prints loads again.
        Config::parse(&c.to_resolved_toml(), "printed").unwrap();

        let e = Config::parse("[topic]\ninclude = [\n  \"a\",\n  \"re:(\",\n]\n", "f.toml")
            .unwrap_err();
        assert!(
            e.0.starts_with("f.toml:2:")
                && e.0.contains("`re:(` is not a valid regular expression"),
            "{e}"
        );
        let e = Config::parse("[topic]\ninclude = [\"\"]\n", "f.toml").unwrap_err();
        assert!(e.0.contains("empty term"), "{e}");
        let e = Config::parse(
            "[[category]]\nname = \"A\"\n[[category]]\nname = \"B\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(
            e.0.contains("exactly one category needs `default = true`"),
            "{e}"
        );
        let e = Config::parse(
            "[[category]]\nname = \"A\"\ndefault = true\n[[category]]\nname = \"A\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("same name or slug"), "{e}");
        let e = Config::parse(
            "[[category]]\nname = \"A\"\nslug = \"a/b\"\ndefault = true\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("key `slug`"), "{e}");
    }

    #[test]
    fn page_sources_and_selectors_are_checked() {
        let ok = "[[source]]\nname = \"北海民報\"\npage = \"https://example.jp/news/\"\nlinks = \"ul.news-list a\"\nselector = \"div.body\"\nremove = [\".ad\", \".related\"]\nfull_text = \"always\"\n";
        let c = Config::parse(ok, "f.toml").unwrap();
        let s = &c.resolved_sources()[0];
        assert_eq!(s.links.as_deref(), Some("ul.news-list a"));
        assert_eq!(s.selector, ["div.body"]);
        assert_eq!(s.full_text, FullText::Always);
        let e = Config::parse(
            "[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\nselector = \"div[\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("f.toml:3:") && e.0.contains("`div[` is not a valid CSS selector"),
            "{e}"
        );
        let e = Config::parse(
            "[[source]]\nname = \"A\"\npage = \"https://a.example/\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("`page` and `links` go together"), "{e}");
        let e = Config::parse("[[source]]\nname = \"A\"\n", "f.toml").unwrap_err();
        assert!(e.0.contains("give `url`"), "{e}");
        let e = Config::parse(
            "[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\nfull_text = \"sometimes\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("full_text") && e.0.contains("always"), "{e}");
    }

    #[test]
    fn source_tags_are_checked() {
        let c = Config::parse(
            "[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\ntags = [\"News/Security\", \"毎日\"]\n[[source]]\nname = \"B\"\nurl = \"https://b.example/\"\ntags = \"One\"\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.sources[0].tags, ["News/Security", "毎日"]);
        assert_eq!(c.sources[1].tags, ["One"]);
        Config::parse(&c.to_resolved_toml(), "printed").unwrap();
        for bad in ["", "a,b", "a//b", "/a", "a/", " a", "a / b"] {
            let e = Config::parse(
                &format!(
                    "[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\ntags = [{bad:?}]\n"
                ),
                "f.toml",
            )
            .unwrap_err();
            assert!(
                e.0.starts_with("f.toml:3:") && e.0.contains("key `tags`"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(ByteSize::parse("8MiB"), Some(8 << 20));
        assert_eq!(ByteSize::parse("512 KiB"), Some(512 << 10));
        assert_eq!(ByteSize::parse("1000"), Some(1000));
        assert_eq!(ByteSize::parse("3 parsecs"), None);
        assert_eq!(ByteSize(3 << 20).to_string(), "3MiB");
    }
}
