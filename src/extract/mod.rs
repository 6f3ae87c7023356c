//! Full text: a news page → its article body (clean HTML and plain text) and its
//! attribution (publisher, author, dates, canonical URL). A plain function over a
//! decoded page; fetching lives in the ingest pipeline and the `extract` command.

mod body;
mod dom;
pub mod meta;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use scraper::{Html, Selector};
use serde::Serialize;
use url::Url;

use crate::parse::charset;
use crate::parse::dates::find_date_in_text;
use crate::sanitize::{clean_html, html_to_text};

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "no article text found on the page (is it an article page? a `selector` for this source can point at the body)"
    )]
    NoContent,
    #[error("`{0}` is not a valid CSS selector")]
    BadSelector(String),
    #[error("the page nests elements {0} levels deep (the limit is {max}); refused as broken or hostile", max = crate::sanitize::MAX_NESTING)]
    TooDeep(usize),
}

/// How to extract one source's pages.
#[derive(Debug, Clone)]
pub struct Options {
    /// CSS selectors for the body; empty: find it.
    pub selector: Vec<String>,
    /// CSS selectors removed from the body.
    pub remove: Vec<String>,
    /// For dates without a zone.
    pub timezone: Tz,
    /// Name the publisher from the page (for portals that carry other outlets).
    pub publisher_from_page: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            selector: Vec::new(),
            remove: Vec::new(),
            timezone: chrono_tz::UTC,
            publisher_from_page: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Extracted {
    pub title: Option<String>,
    /// Sanitized, with absolute URLs.
    pub body_html: String,
    /// Paragraphs separated by a blank line.
    pub body_text: String,
    /// Only with `publisher_from_page`: the outlet the page credits.
    pub publisher: Option<String>,
    pub author: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub canonical_url: Option<String>,
}

/// Decodes a fetched page: BOM, HTTP charset, `<meta charset>` or
/// `<meta http-equiv>`, then detection hinted by the host's TLD.
pub fn decode_page(bytes: &[u8], content_type: Option<&str>, url: &Url) -> String {
    let tld = url.host_str().and_then(|h| h.rsplit('.').next());
    charset::decode(bytes, content_type, tld).text
}

/// Checks selectors once, so a bad one is reported at start-up, not per page.
pub fn check_selector(s: &str) -> Result<Selector, ExtractError> {
    Selector::parse(s).map_err(|_| ExtractError::BadSelector(s.to_owned()))
}

/// Extracts the article from a decoded page fetched from `url`.
pub fn extract(html: &str, url: &Url, opts: &Options) -> Result<Extracted, ExtractError> {
    let depth = crate::sanitize::nesting_depth(html);
    if depth > crate::sanitize::MAX_NESTING {
        return Err(ExtractError::TooDeep(depth));
    }
    let doc = Html::parse_document(html);
    let meta = meta::read_meta(&doc, url, opts.timezone);
    let remove: Vec<Selector> = opts
        .remove
        .iter()
        .map(|r| check_selector(r))
        .collect::<Result<_, _>>()?;
    let selectors: Vec<Selector> = opts
        .selector
        .iter()
        .map(|s| check_selector(s))
        .collect::<Result<_, _>>()?;

    // Strict first; relax when that finds too little (the page may wrap its article
    // in something that looks like furniture), keeping the fullest reading.
    let mut best: Option<(String, u32, dom::Measured)> = None;
    for strictness in [
        dom::Strictness::Strict,
        dom::Strictness::Tags,
        dom::Strictness::Loose,
    ] {
        let mut measured = dom::measure(&doc, strictness);
        for s in &remove {
            measured.skip.extend(doc.select(s).map(|e| e.id()));
        }
        let mut chosen: Vec<ego_tree::NodeId> = selectors
            .iter()
            .flat_map(|s| doc.select(s).map(|e| e.id()))
            .collect();
        if chosen.is_empty() {
            chosen = body::find_content(&doc, &measured).unwrap_or_default();
        }
        let raw = body::render(&doc, &chosen, &measured);
        let found = dom::weight(&html_to_text(&raw));
        let enough = found >= 250;
        if best.as_ref().is_none_or(|(_, w, _)| found > *w) {
            best = Some((raw, found, measured));
        }
        if enough {
            break;
        }
    }
    let Some((mut raw, found, measured)) = best else {
        return Err(ExtractError::NoContent);
    };
    // JSON-LD articleBody is the site's own statement of the text: when it holds much
    // more than the page blocks we found, the page hid or split its body.
    if let Some(ld) = &meta.ld_body {
        let ld_weight = dom::weight(ld);
        if ld_weight > 150 && ld_weight as f32 > found as f32 * 1.5 {
            raw = ld
                .split("\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| format!("<p>{}</p>\n", html_escape::encode_text(p)))
                .collect();
        }
    }
    let body_html = clean_html(&raw, url);
    let body_text = html_to_text(&body_html);
    if dom::weight(&body_text) < 20 {
        return Err(ExtractError::NoContent);
    }

    let published = meta
        .published
        .or_else(|| text_date(&doc, &measured, meta.title.as_deref(), opts.timezone));
    let publisher = if opts.publisher_from_page {
        meta::credit_line(&body_text)
            .or(meta.ld_publisher.clone())
            .or(meta.site_name.clone())
    } else {
        None
    };
    // Portals append the outlet to the headline: "見出し（東都通信）".
    let title = match (&meta.title, &publisher) {
        (Some(t), Some(p)) => Some(
            [format!("（{p}）"), format!("({p})"), format!(" - {p}")]
                .iter()
                .find_map(|suffix| t.strip_suffix(suffix.as_str()))
                .unwrap_or(t)
                .trim()
                .to_owned(),
        ),
        _ => meta.title.clone(),
    };
    Ok(Extracted {
        title,
        body_html,
        body_text,
        publisher,
        author: meta.author,
        published,
        modified: meta.modified,
        canonical_url: meta
            .canonical_url
            .map(|u| crate::article::canonical_url(&u).to_string()),
    })
}

/// A date written only as text (`2019年7月3日 18時05分`): looked for after the headline
/// first, since headers often show today's date above it.
fn text_date(doc: &Html, m: &dom::Measured, title: Option<&str>, tz: Tz) -> Option<DateTime<Utc>> {
    let body = doc.select(&Selector::parse("body").ok()?).next()?;
    let text = dom::element_text(body, &m.skip);
    let after_title = title
        .and_then(|t| text.find(t.chars().take(20).collect::<String>().as_str()))
        .map(|p| &text[p..]);
    after_title
        .and_then(|t| find_date_in_text(t, tz))
        .or_else(|| find_date_in_text(&text, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://news.example.jp/articles/1.html").unwrap()
    }

    #[test]
    fn finds_the_article_among_furniture() {
        let para = "警視庁は十二日、通販サイトに不正アクセスしてカード情報を盗んだとして、男を逮捕した。調べによると、男は海外のサーバーを経由して侵入していた。";
        let html = format!(
            r##"<html><head><title>記事 | 新聞</title></head><body>
<header><nav><a href="/">トップ</a><a href="/s">社会</a><a href="/p">政治</a></nav></header>
<div class="main"><h1>通販サイトに不正アクセス、男を逮捕</h1><p class="date">2019年7月3日 18時05分</p>
<div class="article-body"><p>{para}</p><p>{para}</p><p>{para}</p><p>{para}</p></div>
<div class="share"><a href="#">ツイート</a><a href="#">シェア</a></div>
<ul class="list"><li><a href="/a/2">関連記事その一の見出しです</a></li><li><a href="/a/3">関連記事その二の見出しです</a></li></ul></div>
<aside><h2>ランキング</h2><ol><li><a href="/r">人気の記事</a></li></ol></aside><footer>Copyright 新聞社</footer></body></html>"##
        );
        let e = extract(
            &html,
            &url(),
            &Options {
                timezone: chrono_tz::Asia::Tokyo,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(
            e.body_text.matches("男を逮捕した").count(),
            4,
            "{}",
            e.body_text
        );
        for furniture in ["トップ", "ツイート", "関連記事", "ランキング", "Copyright"]
        {
            assert!(
                !e.body_text.contains(furniture),
                "{furniture} in {}",
                e.body_text
            );
        }
        assert_eq!(
            e.published.unwrap().to_rfc3339(),
            "2019-07-03T09:05:00+00:00"
        );
        assert_eq!(
            e.title.as_deref(),
            Some("通販サイトに不正アクセス、男を逮捕")
        );
    }

    #[test]
    fn br_br_becomes_paragraphs_and_selectors_apply() {
        let html = "<html><body><table><tr><td class='menu'><a href='/'>menu</a></td><td id='kiji'>一段落目の文章です。<br><br>二段落目の文章です。<br>同じ段落の続き。<br><br><span class='ad'>広告</span></td></tr></table></body></html>";
        let opts = Options {
            selector: vec!["#kiji".into()],
            remove: vec![".ad".into()],
            ..Options::default()
        };
        let e = extract(html, &url(), &opts).unwrap();
        assert_eq!(
            e.body_text,
            "一段落目の文章です。\n\n二段落目の文章です。\n同じ段落の続き。"
        );
        assert!(matches!(
            extract(
                html,
                &url(),
                &Options {
                    selector: vec!["td[".into()],
                    ..Options::default()
                }
            ),
            Err(ExtractError::BadSelector(_))
        ));
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::*;

    /// html5ever's scope checks make parse time grow with depth × tags (100,000
    /// nested elements took 35 s in a release build), so such pages are refused
    /// before parsing and deep feed content keeps only its text.
    #[test]
    fn deeply_nested_markup_is_refused_before_parsing() {
        let deep = format!(
            "<html><body>{}<p>deep text here, with punctuation.</p>{}</body></html>",
            "<div><span>".repeat(50_000),
            "</span></div>".repeat(50_000)
        );
        let url = Url::parse("https://x.example/a").unwrap();
        assert!(matches!(
            extract(&deep, &url, &Options::default()),
            Err(ExtractError::TooDeep(100_000))
        ));
        let clean = clean_html(&deep, &url);
        assert!(
            clean.contains("deep text here") && !clean.contains("<div"),
            "{}",
            &clean[..100.min(clean.len())]
        );
        // Real pages with unclosed paragraphs and list items are not "deep".
        let flat = format!("<body>{}</body>", "<p>para<li>item".repeat(10_000));
        assert!(crate::sanitize::nesting_depth(&flat) < 5);
        assert_eq!(
            crate::sanitize::nesting_depth("<div><img src=x/><br><span/></div>"),
            1
        );
    }
}
