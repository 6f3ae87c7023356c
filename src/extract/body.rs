//! The generic article-body extractor: scores the page's blocks, picks the container
//! the article lives in (with the siblings that belong to it), and writes it back out
//! as plain, well-formed HTML: paragraphs, headings, lists, quotes, tables, figures,
//! images and links, nothing else.
//!
//! Scoring, in short: every paragraph-like block with enough text adds points to its
//! parent and, less, to its grandparents; points grow with text and punctuation
//! (commas and 、。 alike). A container's points are discounted by its link density
//! and nudged by article-like or boilerplate-like class names. Explicit markup
//! (`itemprop="articleBody"`) wins outright when it holds a real article.

use ego_tree::{NodeId, NodeRef};
use scraper::{ElementRef, Html, Node};

use super::dom::{Measured, Stats, class_signal};

fn stats(m: &Measured, id: NodeId) -> Stats {
    m.stats.get(&id).copied().unwrap_or_default()
}

/// The nodes (in document order) whose content is the article, or None when nothing
/// on the page looks like one.
pub fn find_content(doc: &Html, m: &Measured) -> Option<Vec<NodeId>> {
    // Explicit article-body markup, when it holds a real article.
    // Explicit article-body markup, when it holds a real article. Sites that split
    // the body into sections mark each one.
    let marked: Vec<NodeId> = doc
        .tree
        .nodes()
        .filter(|n| {
            n.value()
                .as_element()
                .is_some_and(|e| e.attr("itemprop") == Some("articleBody"))
                && m.stats.contains_key(&n.id())
        })
        .map(|n| n.id())
        .collect();
    let outermost: Vec<NodeId> = marked
        .iter()
        .copied()
        .filter(|id| {
            doc.tree
                .get(*id)
                .is_some_and(|n| !n.ancestors().any(|a| marked.contains(&a.id())))
        })
        .collect();
    if outermost.iter().map(|id| stats(m, *id).text).sum::<u32>() >= 250 {
        return Some(outermost);
    }

    // The article is the element holding the most paragraph text for the least other
    // text: every paragraph counts for itself, everything else (links, captions of
    // teasers, navigation, short lines) against. Ties go to the innermost element.
    let alpha = JUNK_WEIGHT;
    let mut best: Option<(NodeId, f32)> = None;
    for node in doc.tree.nodes() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        let Some(s) = m.stats.get(&node.id()) else {
            continue;
        };
        if s.good == 0 {
            continue;
        }
        let junk = s.text.saturating_sub(s.good) as f32;
        let mut score = s.good as f32 - alpha * junk;
        if el.name() == "article" || class_signal(el) > 0 {
            score *= 1.1;
        }
        if best.is_none_or(|(_, b)| score >= b) {
            best = Some((node.id(), score));
        }
    }
    if let Some((id, sc)) = best
        && let Some(e) = doc.tree.get(id).and_then(ElementRef::wrap)
    {
        let s = stats(m, id);
        tracing::debug!(
            score = sc,
            tag = e.value().name(),
            class = ?e.value().attr("class"),
            id = ?e.value().id(),
            text = s.text,
            good = s.good,
            "article container chosen"
        );
    }
    best.map(|(id, _)| vec![id])
}

/// How much a unit of non-paragraph text costs a candidate, against a unit of
/// paragraph text gained. Tuned on the shared evaluation set: 0.2–0.4 score within
/// 0.002 F1 of each other; lower keeps more of long, interrupted articles.
const JUNK_WEIGHT: f32 = 0.3;

/// Inline elements kept as they are.
const INLINE_KEEP: &[&str] = &[
    "a", "em", "strong", "b", "i", "u", "s", "sub", "sup", "small", "code", "q", "cite", "abbr",
    "time", "mark",
];
/// Block elements kept as they are.
const BLOCK_KEEP: &[&str] = &[
    "p",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "figure",
    "figcaption",
    "hr",
];
/// Elements that only group blocks: their inline content becomes paragraphs.
const TRANSPARENT_BLOCKS: &[&str] = &[
    "div", "section", "article", "main", "header", "center", "form", "body", "html", "address",
    "details", "summary", "hgroup", "fieldset",
];

/// Writes the chosen nodes out as simple HTML (to be sanitized by the caller).
pub fn render(doc: &Html, roots: &[NodeId], m: &Measured) -> String {
    let mut w = Writer::new(m);
    w.main = main_parent(doc, roots, m);
    for id in roots {
        if let Some(n) = doc.tree.get(*id) {
            w.node(n, false);
        }
    }
    w.flush();
    assemble(&w.out, &w.in_main_marks)
}

/// The element most of the article's paragraphs sit directly in: text after the last
/// of its paragraphs is usually an appendix of the page (pitches, bios, notices).
fn main_parent(doc: &Html, roots: &[NodeId], m: &Measured) -> Option<NodeId> {
    let mut weight: std::collections::HashMap<NodeId, u32> = std::collections::HashMap::new();
    for root in roots {
        let Some(r) = doc.tree.get(*root) else {
            continue;
        };
        for n in r.descendants() {
            let Some(el) = n.value().as_element() else {
                continue;
            };
            let Some(s) = m.stats.get(&n.id()) else {
                continue;
            };
            if super::dom::BLOCKS.contains(&el.name())
                && s.is_paragraph()
                && let Some(parent) = n.parent()
            {
                *weight.entry(parent.id()).or_default() += s.inline;
            }
        }
    }
    weight
        .into_iter()
        .max_by_key(|(id, w)| (*w, std::cmp::Reverse(*id)))
        .map(|(id, _)| id)
}

/// Joins the written blocks, keeping the article's own stretch of them.
fn assemble(blocks: &[String], in_main: &[bool]) -> String {
    // Each block's text is read once; every test below works on it.
    let read: Vec<BlockText> = blocks.iter().map(|b| BlockText::of(b)).collect();
    let prose: Vec<Option<usize>> = read
        .iter()
        .map(|r| r.stats.is_paragraph().then_some(r.stats.inline as usize))
        .collect();
    // Before the first paragraph of prose and after the last one, a container holds
    // bylines, dates, photo credits, "related" headings and link lists, not article.
    let (Some(first), Some(last)) = (
        prose.iter().position(Option::is_some),
        prose.iter().rposition(Option::is_some),
    ) else {
        return blocks
            .iter()
            .filter(|b| !b.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
    };
    let total: usize = prose.iter().flatten().sum();
    let mut end = last + 1;

    // Prose after the main parent's last paragraph, when it is a small part of the
    // whole, is an appendix.
    if let Some(last_main) = (first..=last)
        .rev()
        .find(|&i| in_main[i] && prose[i].is_some())
    {
        let after: usize = prose[last_main + 1..=last].iter().flatten().sum();
        if after * 100 <= total * 15 {
            end = last_main + 1;
        }
    }
    let mut before = 0usize;
    let mut i = first;
    while i < end {
        // An "end of article" marker (related stories, comments, sharing) once most
        // of the text is in.
        if before * 10 >= total * 6 && is_end_marker(&read[i].text) {
            end = i;
            break;
        }
        match prose[i] {
            Some(w) => {
                before += w;
                i += 1;
            }
            None => {
                // A gap of furniture (dropped link lists, headings, short lines) after
                // most of the article, followed by little prose: the article ended
                // at the gap, and what follows is teasers, bios or comments.
                let gap_end = (i..end).find(|&j| prose[j].is_some()).unwrap_or(end);
                let furniture = gap_end - i;
                // Lists, tables, code and quotes are article content even without
                // prose around them.
                let content = blocks[i..gap_end].iter().any(|b| {
                    [
                        "<ul",
                        "<ol",
                        "<table",
                        "<pre",
                        "<blockquote",
                        "<dl",
                        "<figure",
                    ]
                    .iter()
                    .any(|t| b.starts_with(t))
                });
                if !content
                    && furniture >= 3
                    && before * 10 >= total * 5
                    && (total - before) * 100 <= total * 20
                {
                    end = i;
                    break;
                }
                i = gap_end;
            }
        }
    }
    // Between paragraphs, a bare short line (a label, a credit, a date, a button
    // text) is page furniture; headings, lists and quotes are kept.
    let kept: Vec<usize> = (first..end)
        .filter(|&i| {
            let (b, t) = (&blocks[i], &read[i].text);
            // A bold line followed by prose is the site's way of setting a subheading.
            let subheading = || {
                is_bold_line(b)
                    && read[i + 1..end]
                        .iter()
                        .take(2)
                        .any(|r| r.stats.is_paragraph())
            };
            !(b.is_empty()
                || is_time_stamp(b)
                || is_end_marker(t)
                || (b.starts_with("<p>")
                    && ((is_bare_line(t) && !subheading()) || is_notice(t) || is_credit(t))))
        })
        .collect();
    // The article's container often ends with the page's own lines: a source or
    // update stamp, a leftover widget prompt ("Was this article useful?"). Calls to
    // follow, subscribe or share are not cut this way: annotators keep many of them
    // as part of the article, and cutting them lost more than it gained.
    let budget = total / 4;
    let mut spent = 0usize;
    let mut hi = kept.len();
    while hi > 0 {
        let i = kept[hi - 1];
        let w = read[i].stats.inline as usize;
        if spent + w > budget || !is_appendix(&blocks[i], &read[i]) {
            break;
        }
        spent += w;
        hi -= 1;
    }
    kept[..hi]
        .iter()
        .map(|&i| blocks[i].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Labels that open a line of page furniture after the article.
const APPENDIX_LABELS: &[&str] = &[
    "source:",
    "sources:",
    "quelle:",
    "quellen:",
    "quellenangaben",
    "fuente:",
    "photo:",
    "photo source",
    "foto:",
    "fotos:",
    "bild:",
    "titelbild",
    "beitragsbild",
    "image:",
    "credit:",
    "credits:",
    "updated",
    "last updated",
    "last modified",
    "aktualisiert",
    "zuletzt aktualisiert",
    "published",
    "veröffentlicht",
    "tags:",
    "themen:",
    "schlagwörter",
    "filed under",
    "posted in",
    "kategorie:",
    "category:",
];

/// A line of the site's own furniture: a source or update line, a short question or
/// label left over from a widget.
fn is_appendix(block: &str, read: &BlockText) -> bool {
    if !(block.starts_with("<p>") || block.starts_with("<h")) || block.starts_with("<hr") {
        return false;
    }
    let text = read.text.trim().to_lowercase();
    let w = read.stats.inline;
    if w < 150 && APPENDIX_LABELS.iter().any(|l| text.starts_with(l)) {
        return true;
    }
    w < 60 && text.ends_with(['?', ':', '？', '：'])
}

/// Phrases that open the page's furniture after an article (related stories,
/// comments, sharing, newsletters), in the languages kawaraban meets most.
const END_MARKERS: &[&str] = &[
    "related",
    "read more",
    "read also",
    "more on this",
    "more from",
    "you may also like",
    "you might also like",
    "recommended",
    "share this",
    "share on",
    "follow us",
    "sign up",
    "subscribe",
    "newsletter",
    "comments",
    "leave a comment",
    "advertisement",
    "sponsored",
    "mehr zum thema",
    "das könnte sie auch",
    "auch interessant",
    "lesen sie auch",
    "weitere artikel",
    "mit freunden teilen",
    "kommentare",
    "anzeige",
    "lea también",
    "le puede interesar",
    "puedes ver",
    "ähnliche beiträge",
    "ähnliche artikel",
    "neueste artikel",
    "das könnte dich",
    "könnte dich auch interessieren",
    "könnten auch an folgenden",
    "dowiedz się więcej",
    "you may be interested",
    "read further",
    "te puede interesar",
    "czytaj też",
    "zobacz też",
    "voir aussi",
    "à lire aussi",
    "lire aussi",
    "vos réactions",
    "関連記事",
    "関連ニュース",
    "関連リンク",
    "あわせて読みたい",
    "合わせて読みたい",
    "この記事をシェア",
    "シェアする",
    "おすすめ記事",
    "人気記事",
    "ランキング",
    "コメント",
    "こちらもおすすめ",
    "続きを読む",
    "広告",
];

/// Site notices that sit among paragraphs: cookie and privacy banners, newsletter and
/// subscription pitches, ad labels, "enable JavaScript" messages.
const NOTICE_WORDS: &[&str] = &[
    "cookie",
    "privacy policy",
    "datenschutz",
    "newsletter",
    "subscribe",
    "subscription",
    "abonnieren",
    "abonnez",
    "werbung",
    "advertisement",
    "enable javascript",
    "your browser",
    "all rights reserved",
    "support our journalism",
    "クッキー",
    "会員登録",
    "ログインして",
    "購読",
    "広告",
];

fn is_notice(text: &str) -> bool {
    let text = text.to_lowercase();
    super::dom::weight(&text) < 200 && NOTICE_WORDS.iter().any(|w| text.contains(w))
}

fn is_end_marker(text: &str) -> bool {
    let text = text.trim().to_lowercase();
    let n = text.chars().count();
    n > 0
        && n <= 40
        && END_MARKERS
            .iter()
            .any(|m| text.starts_with(m) || (n <= 20 && text.contains(m)))
}

/// A picture's credit or caption line written as a paragraph: short, and carrying a
/// copyright sign or a credit label.
fn is_credit(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    super::dom::weight(&t) < 120
        && (t.contains('©')
            || [
                "(credit", "(photo", "(foto", "credit:", "photo:", "foto:", "bild:",
            ]
            .iter()
            .any(|m| t.contains(m)))
}

fn is_bare_line(text: &str) -> bool {
    let w = super::dom::weight(text);
    w < 25
        && !text.trim_end().ends_with(|c: char| {
            super::dom::is_punct(c) || matches!(c, ':' | '：' | '」' | '"' | '”')
        })
}

/// A written block's text and its measurements, read once for the tests in `assemble`.
struct BlockText {
    text: String,
    stats: Stats,
}

impl BlockText {
    fn of(block: &str) -> BlockText {
        let frag = Html::parse_fragment(block);
        let mut text = String::new();
        let mut stats = Stats::default();
        for t in frag.root_element().descendants() {
            if let Node::Text(tx) = t.value() {
                let w = super::dom::weight(tx);
                stats.inline += w;
                stats.inline_punct +=
                    tx.chars().filter(|c| super::dom::is_punct(*c)).count() as u32;
                if t.ancestors()
                    .any(|a| a.value().as_element().is_some_and(|e| e.name() == "a"))
                {
                    stats.inline_link += w;
                }
                text.push_str(tx);
            }
        }
        BlockText { text, stats }
    }
}

struct Writer<'a> {
    m: &'a Measured,
    /// Finished blocks, in order.
    out: Vec<String>,
    /// Inline content waiting to become a paragraph.
    run: String,
    run_has_text: bool,
    /// Consecutive `<br>`s in the current run: two end a paragraph.
    brs: u32,
    /// See `main_parent`; `in_main_marks[i]` says whether `out[i]` was written inside it.
    main: Option<NodeId>,
    in_main: u32,
    in_main_marks: Vec<bool>,
}

impl<'a> Writer<'a> {
    fn new(m: &'a Measured) -> Self {
        Writer {
            m,
            out: Vec::new(),
            run: String::new(),
            run_has_text: false,
            brs: 0,
            main: None,
            in_main: 0,
            in_main_marks: Vec::new(),
        }
    }

    fn push(&mut self, block: String) {
        self.out.push(block);
        self.in_main_marks.push(self.in_main > 0);
    }

    fn flush(&mut self) {
        let run = std::mem::take(&mut self.run);
        if self.run_has_text {
            let trimmed = run.trim().trim_end_matches("<br>").trim();
            self.push(format!("<p>{trimmed}</p>"));
        }
        self.run_has_text = false;
        self.brs = 0;
    }

    /// A block that is mostly links (a list of related stories, a tag cloud, a pager)
    /// is furniture even inside the article.
    fn is_link_list(&self, name: &str, s: &Stats) -> bool {
        match name {
            "ul" | "ol" | "dl" | "table" | "div" | "section" | "nav" | "article" | "aside" => {
                s.text > 0 && (s.link_density() > 0.5 || (s.good == 0 && s.link_density() > 0.3))
            }
            "p" | "li" | "h2" | "h3" | "h4" => s.text > 0 && s.text < 120 && s.link_density() > 0.8,
            _ => false,
        }
    }

    fn node(&mut self, n: NodeRef<Node>, in_pre: bool) {
        let is_main = Some(n.id()) == self.main;
        if is_main {
            self.flush();
            self.in_main += 1;
        }
        self.write(n, in_pre);
        if is_main {
            self.flush();
            self.in_main -= 1;
        }
    }

    fn write(&mut self, n: NodeRef<Node>, in_pre: bool) {
        if self.m.skip.contains(&n.id()) {
            return;
        }
        match n.value() {
            Node::Text(t) => {
                if in_pre {
                    self.run.push_str(&html_escape::encode_text(&**t));
                    self.run_has_text |= !t.trim().is_empty();
                    return;
                }
                if t.trim().is_empty() {
                    if !self.run.is_empty() && !self.run.ends_with(' ') {
                        self.run.push(' ');
                    }
                    return;
                }
                self.brs = 0;
                self.run
                    .push_str(&html_escape::encode_text(&normalize_text(t)));
                self.run_has_text = true;
            }
            Node::Element(e) => {
                let name = e.name();
                let s = self.m.stats.get(&n.id()).copied().unwrap_or_default();
                if self.is_link_list(name, &s) {
                    // "Related" headings go with the list they announce.
                    if self.run.trim().is_empty()
                        && self
                            .out
                            .last()
                            .is_some_and(|b| b.starts_with("<h") && !b.starts_with("<hr"))
                    {
                        self.out.pop();
                        self.in_main_marks.pop();
                    }
                    // Leaves a mark where furniture stood, for `assemble`.
                    self.flush();
                    self.push(String::new());
                    return;
                }
                if name == "br" {
                    self.brs += 1;
                    if self.brs >= 2 {
                        self.flush();
                    } else {
                        self.run.push_str("<br>");
                    }
                    return;
                }
                if name == "img" {
                    if let Some(img) = image_tag(e) {
                        self.run.push_str(&img);
                        self.run_has_text = true;
                    }
                    return;
                }
                if INLINE_KEEP.contains(&name) {
                    self.run.push('<');
                    self.run.push_str(name);
                    if name == "a"
                        && let Some(href) = e.attr("href")
                    {
                        self.run.push_str(&format!(
                            " href=\"{}\"",
                            html_escape::encode_double_quoted_attribute(href.trim())
                        ));
                    }
                    self.run.push('>');
                    for c in n.children() {
                        self.node(c, in_pre);
                    }
                    self.run.push_str(&format!("</{name}>"));
                    return;
                }
                if name == "h1" {
                    // The headline is the post's title, kept apart from the body.
                    return;
                }
                if name == "figcaption" {
                    // Captions and photo credits describe the page's pictures; a
                    // republished post keeps the pictures but not their credits.
                    return;
                }
                // Tables that lay out the page (their cells hold prose) are not data:
                // their cells are read like any other container.
                let layout = match name {
                    "table" => s.good >= LAYOUT_PROSE,
                    "tr" | "td" | "th" | "tbody" | "thead" | "tfoot" => enclosing_table(n)
                        .is_none_or(|t| {
                            self.m
                                .stats
                                .get(&t)
                                .is_some_and(|ts| ts.good >= LAYOUT_PROSE)
                        }),
                    _ => false,
                };
                if BLOCK_KEEP.contains(&name) && !layout {
                    self.flush();
                    if name == "p" {
                        for c in n.children() {
                            self.node(c, in_pre);
                        }
                        self.flush();
                        return;
                    }
                    // Blocks that hold blocks: write them through their own writer so
                    // their inline content is paragraphed inside them.
                    let mut inner = Writer::new(self.m);
                    let pre = in_pre || name == "pre";
                    let inline_only = matches!(
                        name,
                        "h2" | "h3"
                            | "h4"
                            | "h5"
                            | "h6"
                            | "pre"
                            | "li"
                            | "dt"
                            | "dd"
                            | "th"
                            | "td"
                            | "caption"
                            | "figcaption"
                    );
                    for c in n.children() {
                        inner.node(c, pre);
                    }
                    let body = if inline_only && inner.out.is_empty() {
                        inner.run.trim().to_owned()
                    } else {
                        inner.flush();
                        inner.out.join("\n")
                    };
                    if body.trim().is_empty() && name != "hr" {
                        return;
                    }
                    self.push(format!("<{name}>{body}</{name}>"));
                    return;
                }
                if TRANSPARENT_BLOCKS.contains(&name) || layout || name == "li" {
                    self.flush();
                    for c in n.children() {
                        self.node(c, in_pre);
                    }
                    self.flush();
                    return;
                }
                // Any other element (span, font, label, …): its content, inline.
                for c in n.children() {
                    self.node(c, in_pre);
                }
            }
            _ => {}
        }
    }
}

/// The widest image a `srcset` offers (`url 640w, url 1280w`), for an `<img>` whose
/// only real source is there.
fn largest_candidate(srcset: &str) -> Option<&str> {
    srcset
        .split(',')
        .filter_map(|c| {
            let mut parts = c.split_whitespace();
            let url = parts.next()?;
            let size = parts
                .next()
                .and_then(|d| d.trim_end_matches(['w', 'x']).parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((url, size))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(u, _)| u)
}

/// Text as readers and matchers expect it: NFC (pages mix composed and decomposed
/// forms of the same letters) and without soft hyphens, which only hint where a
/// browser may break a word.
fn normalize_text(t: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    t.chars().filter(|c| *c != '\u{AD}').nfc().collect()
}

/// Prose (weighted) that makes a table a page layout rather than data: a real
/// paragraph, more than any data cell holds.
const LAYOUT_PROSE: u32 = 150;

fn enclosing_table(n: NodeRef<Node>) -> Option<NodeId> {
    n.ancestors()
        .find(|a| a.value().as_element().is_some_and(|e| e.name() == "table"))
        .map(|a| a.id())
}

/// An `<img>` with its real source: lazy-loading attributes win over a placeholder
/// `src`; tracking pixels (1×1) and images with no usable source are dropped.
fn image_tag(e: &scraper::node::Element) -> Option<String> {
    let dim = |a: &str| {
        e.attr(a)
            .and_then(|v| v.trim().trim_end_matches("px").parse::<u32>().ok())
    };
    if dim("width").is_some_and(|w| w <= 2) || dim("height").is_some_and(|h| h <= 2) {
        return None;
    }
    let lazy = [
        "data-src",
        "data-original",
        "data-lazy-src",
        "data-lazy",
        "data-url",
        "data-echo",
    ]
    .iter()
    .find_map(|a| e.attr(a))
    .map(str::trim)
    .filter(|v| !v.is_empty());
    let src = e
        .attr("src")
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with("data:"));
    let srcset = e
        .attr("data-srcset")
        .or_else(|| e.attr("srcset"))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let src = lazy
        .or(src)
        .or_else(|| srcset.and_then(largest_candidate))?;
    let mut tag = format!(
        "<img src=\"{}\"",
        html_escape::encode_double_quoted_attribute(src)
    );

    if let Some(alt) = e.attr("alt") {
        tag.push_str(&format!(
            " alt=\"{}\"",
            html_escape::encode_double_quoted_attribute(alt)
        ));
    }
    tag.push('>');
    Some(tag)
}

/// A paragraph written wholly in bold: how many sites set their subheadings.
fn is_bold_line(block: &str) -> bool {
    [("<p><b>", "</b></p>"), ("<p><strong>", "</strong></p>")]
        .iter()
        .any(|(open, close)| {
            block.starts_with(open)
                && block.ends_with(close)
                && !block[open.len()..block.len() - close.len()].contains(&close[..close.len() - 4])
        })
}

/// A line that is only a `<time>`: the page's publication or update stamp, which the
/// post carries as metadata.
fn is_time_stamp(block: &str) -> bool {
    block.starts_with("<p><time")
        && block.ends_with("</time></p>")
        && block.matches("<time").count() == 1
}
