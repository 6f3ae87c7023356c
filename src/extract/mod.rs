//! Full text: a news page → its article body (clean HTML and plain text) and its
//! attribution (publisher, author, dates, canonical URL). A plain function over a
//! decoded page; fetching lives in the ingest pipeline and the `extract` command.

mod body;
mod dom;
pub mod meta;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use scraper::{ElementRef, Html, Selector};
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

    let (mut raw, found, measured) = read_body(&doc, &selectors, &remove);
    // Some publishing platforms put the article in `<noscript>` and draw it with a
    // script; parsed as a browser with scripting does, that is one opaque text node.
    // Read such a page again as a browser without scripting would show it.
    let unscripted;
    let (doc, measured, mut found) = if found < ENOUGH_TEXT && has_noscript(html) {
        unscripted = parse_without_scripting(html);
        let again = read_body(&unscripted, &selectors, &remove);
        if again.1 > found {
            raw = again.0;
            (&unscripted, again.2, again.1)
        } else {
            (&doc, measured, found)
        }
    } else {
        (&doc, measured, found)
    };
    if selectors.is_empty()
        && let Some(lead) = standfirst(doc, &raw)
    {
        raw = format!("<p>{}</p>\n{raw}", html_escape::encode_text(&lead));
        found += dom::weight(&lead);
    }
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
    if dom::weight(&body_text) < MIN_TEXT {
        return Err(ExtractError::NoContent);
    }

    let published = meta
        .published
        .or_else(|| text_date(doc, &measured, meta.title.as_deref(), opts.timezone));
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

/// Text (weighted) below which a page has no article to speak of.
const MIN_TEXT: u32 = 20;

/// Text (weighted) that a reading must find to count as the article.
const ENOUGH_TEXT: u32 = 250;

/// The body's raw HTML, its weighted text and the measurements behind it: strict
/// first, relaxed when that finds too little (the page may wrap its article in
/// something that looks like furniture), keeping the fullest reading.
fn read_body(
    doc: &Html,
    selectors: &[Selector],
    remove: &[Selector],
) -> (String, u32, dom::Measured) {
    let reading = |strictness| {
        let mut measured = dom::measure(doc, strictness);
        for s in remove {
            measured.skip.extend(doc.select(s).map(|e| e.id()));
        }
        let mut chosen: Vec<ego_tree::NodeId> = selectors
            .iter()
            .flat_map(|s| doc.select(s).map(|e| e.id()))
            .collect();
        if chosen.is_empty() {
            chosen = body::find_content(doc, &measured).unwrap_or_default();
        }
        let raw = body::render(doc, &chosen, &measured);
        let found = dom::weight(&html_to_text(&raw));
        (raw, found, measured)
    };
    let mut best = reading(dom::Strictness::Strict);
    for strictness in [dom::Strictness::Tags, dom::Strictness::Loose] {
        if best.1 >= ENOUGH_TEXT {
            break;
        }
        let next = reading(strictness);
        if next.1 > best.1 {
            best = next;
        }
    }
    best
}

fn has_noscript(html: &str) -> bool {
    html.as_bytes()
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<noscript"))
}

/// The document as a browser with scripting off shows it: what `<noscript>` holds is
/// markup (a browser with scripting, and so the first parse, reads it as one text
/// node). Turned into `<div>`s, the extractor reads it like any other part.
fn parse_without_scripting(html: &str) -> Html {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let tag = if tail.len() >= 10 && tail.as_bytes()[1..10].eq_ignore_ascii_case(b"/noscript") {
            Some(("</div", 10))
        } else if tail.len() >= 9 && tail.as_bytes()[1..9].eq_ignore_ascii_case(b"noscript") {
            Some(("<div", 9))
        } else {
            None
        };
        match tag {
            Some((with, len)) => {
                out.push_str(with);
                rest = &tail[len..];
            }
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Html::parse_document(&out)
}

/// The page's standfirst when the article container left it out: news pages often
/// set the lead above the body's container, and say the same words in their meta
/// description.
fn standfirst(doc: &Html, raw: &str) -> Option<String> {
    let sel =
        Selector::parse(r#"meta[name="description"], meta[property="og:description"]"#).ok()?;
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let desc = doc
        .select(&sel)
        .filter_map(|e| e.value().attr("content"))
        .map(squash)
        .find(|d| dom::weight(d) >= 60)?;
    let body = squash(&html_to_text(raw));
    let head: String = desc.chars().take(40).collect();
    if body.contains(&head) {
        return None;
    }
    let psel = Selector::parse("p, div, h2").ok()?;
    // Each element's text is read only as far as a lead could reach, so a page of
    // nested wrappers costs no more than its size for each.
    let longest = desc.len() * 2;
    doc.select(&psel).find_map(|e| {
        let mut text = String::new();
        for piece in e.text() {
            text.push_str(piece);
            if text.len() > longest {
                return None;
            }
        }
        let text = squash(&text);
        // Article headers, where the lead usually stands, count as furniture when the
        // container is chosen; only what a reader cannot see is passed over here.
        let visible = || {
            !std::iter::once(e)
                .chain(e.ancestors().filter_map(ElementRef::wrap))
                .any(|a| dom::is_hidden(a.value()))
        };
        (text.starts_with(&head) && dom::weight(&text) <= dom::weight(&desc) * 3 / 2 && visible())
            .then_some(text)
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

    const PARA: &str = "The regional water utility said on Tuesday that an intruder had reached the billing system through a contractor's remote-access account, and that customers' names and addresses may have been copied.";

    /// Blogging platforms that draw the post with a script put it in `<noscript>`:
    /// read as a scripted browser would, the page has no article at all.
    #[test]
    fn an_article_inside_noscript_is_read() {
        let html = format!(
            r#"<html><body><nav><a href="/">Home</a></nav>
<div class="post-body" itemprop="articleBody"><script type="text/template"><p>{PARA}</p></script>
<noscript><p>{PARA}</p><p>Second paragraph, with its own words, follows here.</p></noscript></div>
<footer>Powered by a platform</footer></body></html>"#
        );
        let e = extract(&html, &url(), &Options::default()).unwrap();
        assert!(e.body_text.starts_with(PARA), "{}", e.body_text);
        assert!(e.body_text.contains("Second paragraph"), "{}", e.body_text);
        assert!(!e.body_text.contains("Powered by"), "{}", e.body_text);
        assert!(!e.body_html.contains("<script"), "{}", e.body_html);
    }

    /// A short bold line before prose is a subheading; the same kind of line that ends
    /// the article (an outlet's credit) is not article text.
    #[test]
    fn bold_subheadings_stay_and_a_closing_bold_credit_goes() {
        let html = format!(
            r#"<html><body><div class="article"><p>{PARA}</p><p><b>What customers should do</b></p>
<p>{PARA}</p><p>{PARA}</p><p><strong>WATERNEWS.EXAMPLE</strong></p></div></body></html>"#
        );
        let e = extract(&html, &url(), &Options::default()).unwrap();
        assert!(
            e.body_text.contains("What customers should do"),
            "{}",
            e.body_text
        );
        assert!(!e.body_text.contains("WATERNEWS"), "{}", e.body_text);
    }

    /// A publication or update stamp written as its own line is metadata, not text.
    #[test]
    fn a_line_that_is_only_a_time_stamp_is_left_out() {
        let html = format!(
            r#"<html><body><div class="article"><p>{PARA}</p>
<p><time datetime="2020-04-11T10:27">Updated on Saturday, 11.04.2020, at 10:27 in the morning, Central European Summer Time</time></p>
<p>{PARA} It was <time datetime="2020-04-03">on Friday</time> that the utility told customers.</p><p>{PARA}</p></div></body></html>"#
        );
        let e = extract(&html, &url(), &Options::default()).unwrap();
        assert!(!e.body_text.contains("11.04.2020"), "{}", e.body_text);
        assert!(e.body_text.contains("on Friday"), "{}", e.body_text);
    }

    /// News pages often set the lead above the body's container; the meta description
    /// says the same words, which tells the lead from any other line above the body.
    #[test]
    fn a_standfirst_outside_the_body_container_leads_the_article() {
        let lead = "A contractor's stolen password let an intruder into the utility's billing system for three weeks before anyone noticed.";
        let links: String = (1..=10)
            .map(|i| {
                format!(
                    "<li><a href=\"/{i}\">Headline number {i} of the other stories today</a></li>"
                )
            })
            .collect();
        let page = |description: &str| {
            format!(
                r#"<html><head><meta name="description" content="{description}"></head><body>
<header class="intro"><h1>Utility breach</h1><p class="standfirst">{lead}</p></header>
<div class="teasers"><p>Other story: a bridge reopens after repairs.</p><ul>{links}</ul></div><div class="article-body"><p>{PARA}</p><p>{PARA}</p><p>{PARA}</p></div></body></html>"#
            )
        };
        let e = extract(&page(lead), &url(), &Options::default()).unwrap();
        assert!(e.body_text.starts_with(lead), "{}", e.body_text);
        assert_eq!(e.body_text.matches(lead).count(), 1);
        assert!(!e.body_text.contains("bridge"), "{}", e.body_text);

        // A description that is not the lead's text adds nothing.
        let other = "Everything about water, power and the city, every day, from the newsroom.";
        let e = extract(&page(other), &url(), &Options::default()).unwrap();
        assert!(e.body_text.starts_with(PARA), "{}", e.body_text);

        // An operator's selector is the whole body.
        let opts = Options {
            selector: vec![".article-body".into()],
            ..Options::default()
        };
        let e = extract(&page(lead), &url(), &opts).unwrap();
        assert!(e.body_text.starts_with(PARA), "{}", e.body_text);
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
