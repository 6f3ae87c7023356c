//! What a page says about itself: title, author, dates, canonical URL, site and
//! publisher names, from JSON-LD, OpenGraph/article meta tags, `<time>` and the like.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use scraper::{Html, Selector};
use serde_json::Value;
use url::Url;

use crate::parse::dates::parse_date;
use crate::parse::plain_text;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub title: Option<String>,
    pub author: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub canonical_url: Option<Url>,
    /// og:site_name: the site's own name (a portal's, for a portal).
    pub site_name: Option<String>,
    /// The publisher named in JSON-LD.
    pub ld_publisher: Option<String>,
    /// JSON-LD `articleBody`: the whole text, when the site provides it.
    pub ld_body: Option<String>,
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

pub fn read_meta(doc: &Html, url: &Url, tz: Tz) -> Meta {
    let mut m = Meta::default();
    for article in json_ld_articles(doc) {
        let text = |k: &str| {
            article
                .get(k)
                .and_then(Value::as_str)
                .map(plain_text)
                .filter(|s| !s.is_empty())
        };
        m.title = m
            .title
            .or_else(|| text("headline"))
            .or_else(|| text("name"));
        m.published = m
            .published
            .or_else(|| text("datePublished").and_then(|d| parse_date(&d, tz)));
        m.modified = m
            .modified
            .or_else(|| text("dateModified").and_then(|d| parse_date(&d, tz)));
        m.author = m
            .author
            .or_else(|| article.get("author").and_then(person_name));
        m.ld_publisher = m
            .ld_publisher
            .or_else(|| article.get("publisher").and_then(person_name));
        if m.ld_body.is_none() {
            m.ld_body = article
                .get("articleBody")
                .and_then(Value::as_str)
                .map(|b| html_escape::decode_html_entities(b).into_owned())
                .filter(|b| !b.trim().is_empty());
        }
        if m.canonical_url.is_none() {
            let u = text("url").or_else(|| match article.get("mainEntityOfPage") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => o.get("@id").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            });
            m.canonical_url = u
                .and_then(|u| url.join(&u).ok())
                .filter(|u| same_site(u, url));
        }
    }

    let meta = |names: &[&str]| -> Option<String> {
        for name in names {
            let s = sel(&format!(
                "meta[property=\"{name}\"], meta[name=\"{name}\"], meta[itemprop=\"{name}\"]"
            ));
            if let Some(v) = doc.select(&s).find_map(|e| {
                e.value()
                    .attr("content")
                    .map(plain_text)
                    .filter(|v| !v.is_empty())
            }) {
                return Some(v);
            }
        }
        None
    };
    m.title = m.title.or_else(|| meta(&["og:title", "twitter:title"]));
    m.site_name = meta(&["og:site_name", "application-name"]);
    m.author = m.author.or_else(|| {
        meta(&[
            "author",
            "article:author",
            "byl",
            "dc.creator",
            "parsely-author",
        ])
        .filter(|a| !a.starts_with("http"))
    });
    let date_meta = |names: &[&str]| meta(names).and_then(|d| parse_date(&d, tz));
    m.published = m.published.or_else(|| {
        date_meta(&[
            "article:published_time",
            "datePublished",
            "pubdate",
            "publishdate",
            "date",
            "dc.date",
            "dc.date.issued",
            "sailthru.date",
            "parsely-pub-date",
            "og:published_time",
        ])
    });
    m.modified = m.modified.or_else(|| {
        date_meta(&[
            "article:modified_time",
            "dateModified",
            "og:updated_time",
            "last-modified",
        ])
    });
    if m.published.is_none() {
        m.published = doc
            .select(&sel("time[datetime], [itemprop=datePublished][datetime]"))
            .find_map(|t| t.value().attr("datetime").and_then(|d| parse_date(d, tz)));
    }
    if m.canonical_url.is_none() {
        let canonical = doc
            .select(&sel("link[rel~=canonical]"))
            .find_map(|l| l.value().attr("href"))
            .map(str::to_owned)
            .or_else(|| meta(&["og:url"]));
        m.canonical_url = canonical
            .and_then(|c| url.join(c.trim()).ok())
            .filter(|u| same_site(u, url));
    }
    if m.title.is_none() {
        m.title = doc
            .select(&sel("h1"))
            .map(|h| plain_text(&h.text().collect::<String>()))
            .find(|t| !t.is_empty());
    }
    if m.title.is_none() {
        let raw_title = doc
            .select(&sel("title"))
            .next()
            .map(|t| plain_text(&t.text().collect::<String>()))
            .unwrap_or_default();
        let page_title = Some(headline_part(&raw_title)).filter(|t| !t.is_empty());
        // Old layouts set the headline in a bold cell or a class-named heading and
        // keep only the site's name in <title>.
        let headings: Vec<String> = doc
            .select(&sel("h2, h3, [class*=title], [class*=headline], [class*=midashi], td > b, td > strong, font > b, p > b:only-child"))
            .filter(|h| h.select(&sel("a")).next().is_none())
            .map(|h| plain_text(&h.text().collect::<String>()))
            .filter(|t| (8..=120).contains(&t.chars().count()))
            .collect();
        let in_title = headings
            .iter()
            .find(|h| raw_title.contains(h.as_str()))
            .cloned();
        m.title = match (in_title, page_title) {
            (Some(h), _) => Some(h),
            // A <title> this short is the site's name, not a headline.
            (None, Some(p)) if p.chars().count() <= 12 && !headings.is_empty() => {
                headings.first().cloned()
            }
            (None, p) => p.or_else(|| headings.first().cloned()),
        };
    }
    if let (Some(t), Some(site)) = (&m.title, &m.site_name) {
        m.title = Some(strip_site_name(t, site));
    } else if let Some(t) = &m.title {
        m.title = Some(headline_part(t));
    }
    if m.author.is_none() {
        m.author = doc
            .select(&sel(
                "[rel=author], [itemprop=author] [itemprop=name], .byline, .author-name",
            ))
            .map(|a| plain_text(&a.text().collect::<String>()))
            .find(|a| !a.is_empty() && a.chars().count() <= 60);
    }
    m
}

const TITLE_SEPARATORS: &[&str] = &[
    " | ", "｜", " - ", " – ", " — ", "：", " :: ", " « ", " » ", "／",
];

/// "Site：Headline" or "Headline | Site" → "Headline": the longest part, when the
/// parts cut off are short enough to be a site or section name.
fn headline_part(title: &str) -> String {
    for sep in TITLE_SEPARATORS {
        let parts: Vec<&str> = title.split(sep).map(str::trim).collect();
        if parts.len() < 2 {
            continue;
        }
        let (longest, _) = parts
            .iter()
            .enumerate()
            .max_by_key(|(_, p)| p.chars().count())
            .unwrap_or((0, &""));
        let rest_short = parts
            .iter()
            .enumerate()
            .all(|(i, p)| i == longest || p.chars().count() <= 20);
        if rest_short && parts[longest].chars().count() >= 8 {
            return parts[longest].to_owned();
        }
    }
    title.to_owned()
}

fn strip_site_name(title: &str, site: &str) -> String {
    for sep in TITLE_SEPARATORS {
        if let Some(rest) = title
            .strip_suffix(&format!("{sep}{site}"))
            .or_else(|| title.strip_prefix(&format!("{site}{sep}")))
        {
            return rest.trim().to_owned();
        }
    }
    title.to_owned()
}

/// A canonical URL is only believed on the page's own site: a page that names another
/// site's URL as canonical (syndicated copies do) must not take that article's key.
fn same_site(a: &Url, b: &Url) -> bool {
    let reg = |u: &Url| {
        u.host_str()
            .unwrap_or("")
            .trim_start_matches("www.")
            .to_owned()
    };
    matches!(a.scheme(), "http" | "https") && reg(a) == reg(b)
}

fn person_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(plain_text(s)).filter(|s| !s.is_empty()),
        Value::Object(o) => o.get("name").and_then(person_name),
        Value::Array(a) => {
            let names: Vec<String> = a.iter().filter_map(person_name).collect();
            (!names.is_empty()).then(|| names.join(", "))
        }
        _ => None,
    }
}

/// The article-like objects among the page's JSON-LD blocks (top level, in arrays and
/// in `@graph`).
fn json_ld_articles(doc: &Html) -> Vec<serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    for script in doc.select(&sel("script[type=\"application/ld+json\"]")) {
        let raw: String = script.text().collect();
        let Ok(v) = serde_json::from_str::<Value>(raw.trim()) else {
            continue;
        };
        let mut queue = vec![v];
        while let Some(v) = queue.pop() {
            match v {
                Value::Array(a) => queue.extend(a),
                Value::Object(mut o) => {
                    if let Some(g) = o.remove("@graph") {
                        queue.push(g);
                    }
                    let types: Vec<String> = match o.get("@type") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect(),
                        _ => vec![],
                    };
                    if types.iter().any(|t| {
                        t.ends_with("Article")
                            || t == "BlogPosting"
                            || t == "ReportageNews"
                            || t == "LiveBlogPosting"
                    }) {
                        out.push(o);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The outlet credited at the end of a republished story: `（共同）`, `（時事通信）`,
/// `【ロイター】`, `提供：東都通信`, `(AP)`.
pub fn credit_line(body_text: &str) -> Option<String> {
    let tail: String = {
        let chars: Vec<char> = body_text.trim_end().chars().collect();
        chars[chars.len().saturating_sub(200)..].iter().collect()
    };
    for line in tail
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
    {
        for key in [
            "提供：",
            "提供:",
            "配信：",
            "配信:",
            "出典：",
            "出典:",
            "Source:",
            "Credit:",
        ] {
            if let Some(rest) = line.split(key).nth(1) {
                let name = rest.trim().trim_end_matches(['。', '.', '）', ')']).trim();
                if (1..=30).contains(&name.chars().count()) {
                    return Some(name.to_owned());
                }
            }
        }
        let trimmed = line.trim_end_matches(['。', '.']);
        for (open, close) in [('（', '）'), ('(', ')'), ('【', '】'), ('［', '］')] {
            if trimmed.ends_with(close)
                && let Some(start) = trimmed.rfind(open)
            {
                let inner =
                    trimmed[start + open.len_utf8()..trimmed.len() - close.len_utf8()].trim();
                let n = inner.chars().count();
                if (1..=15).contains(&n)
                    && !inner
                        .chars()
                        .any(|c| c.is_ascii_digit() || c == '、' || c == '。')
                {
                    return Some(inner.to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_lines() {
        assert_eq!(
            credit_line("本文です。\n\n最後の段落。（共同）").as_deref(),
            Some("共同")
        );
        assert_eq!(
            credit_line("text\n提供：東都通信").as_deref(),
            Some("東都通信")
        );
        assert_eq!(credit_line("Body text. (AP)").as_deref(), Some("AP"));
        assert_eq!(credit_line("容疑者(22)が逮捕された。"), None);
        assert_eq!(credit_line("何もない。"), None);
    }

    #[test]
    fn json_ld_graph_and_meta() {
        let html = r#"<html><head>
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebSite","name":"x"},
{"@type":["NewsArticle"],"headline":"見出し","datePublished":"2019-07-03T18:05:00+09:00","author":[{"@type":"Person","name":"山田太郎"}],
"publisher":{"@type":"Organization","name":"東都通信"},"articleBody":"本文&amp;全文"}]}</script>
<meta property="og:site_name" content="ポータル"><link rel="canonical" href="/a/1"></head><body></body></html>"#;
        let doc = Html::parse_document(html);
        let m = read_meta(
            &doc,
            &Url::parse("https://www.example.jp/a/1?utm_source=x").unwrap(),
            chrono_tz::Asia::Tokyo,
        );
        assert_eq!(m.title.as_deref(), Some("見出し"));
        assert_eq!(m.author.as_deref(), Some("山田太郎"));
        assert_eq!(m.ld_publisher.as_deref(), Some("東都通信"));
        assert_eq!(m.site_name.as_deref(), Some("ポータル"));
        assert_eq!(m.ld_body.as_deref(), Some("本文&全文"));
        assert_eq!(
            m.published.unwrap().to_rfc3339(),
            "2019-07-03T09:05:00+00:00"
        );
        assert_eq!(
            m.canonical_url.unwrap().as_str(),
            "https://www.example.jp/a/1"
        );
    }
}
