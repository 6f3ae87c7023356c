//! Measuring a parsed page: which subtrees are never content (scripts, hidden parts,
//! navigation and other boilerplate), and, for every element, how much text it holds,
//! how much of that is link text, and how much punctuation. Counting is CJK-aware:
//! Japanese has no spaces, so a character of kanji or kana weighs about as much as a
//! short Latin word, and 、。 count as punctuation.

use std::collections::{HashMap, HashSet};

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};

/// Tags whose content is never article text.
const NEVER: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
    "button", "input", "select", "textarea", "option", "head", "link", "meta", "dialog", "map",
    "audio", "video", "source",
    // Ruby annotations (furigana) would split every Japanese word in two.
    "rt", "rp",
];

/// Tags that hold page furniture rather than the article.
const FURNITURE: &[&str] = &["nav", "footer", "aside", "menu"];

/// Words in class and id names that mark boilerplate. Matched against the lower-cased
/// name split at `-`, `_`, space and camelCase boundaries, so "comment-list" and
/// "commentList" match "comment", while "recommendation" does not match "comment".
const NEGATIVE_WORDS: &[&str] = &[
    "comment",
    "comments",
    "share",
    "sharing",
    "social",
    "sns",
    "related",
    "recommend",
    "recommended",
    "ranking",
    "popular",
    "sidebar",
    "widget",
    "breadcrumb",
    "breadcrumbs",
    "nav",
    "navbar",
    "navigation",
    "menu",
    "footer",
    "banner",
    "ad",
    "ads",
    "adv",
    "advert",
    "advertisement",
    "promo",
    "sponsor",
    "sponsored",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "modal",
    "popup",
    "pagination",
    "pager",
    "toolbar",
    "masthead",
    "disqus",
    "outbrain",
    "taboola",
    "trending",
    "pickup",
    "tagcloud",
    "skip",
    "print",
    "rss",
    "follow",
    "login",
    "paywall",
    "recirc",
    "more-stories",
    "readmore",
    "questionnaire",
    "survey",
    "enquete",
    "feedback",
    "reactions",
    "reaction",
    "replies",
    "reply",
    "responses",
    "discussion",
    "kommentare",
    "copyright",
    "licence",
    "license",
    "bio",
    "biography",
    "profile",
    "authorbox",
    "caption",
    "credit",
    "credits",
    "byline",
    "dateline",
    "timestamp",
    "author",
];

/// Words that mark the article itself; they outweigh a negative word on the same element.
const POSITIVE_WORDS: &[&str] = &[
    "article",
    "articlebody",
    "body",
    "content",
    "entry",
    "main",
    "post",
    "story",
    "text",
    "news",
    "honbun",
    "kiji",
    "detail",
    "blog",
];

/// Per-element measurements (subtrees in `skip` count for nothing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Weighted text size (see `weight`).
    pub text: u32,
    /// Weighted size of the text inside links.
    pub link: u32,
    /// Commas and full stops, Latin and Japanese.
    pub punct: u32,
    /// Text, link text and punctuation reached without entering a nested block: the
    /// element's own paragraph, when it is one.
    pub inline: u32,
    pub inline_link: u32,
    pub inline_punct: u32,
    /// Weighted text of the paragraphs inside (see `is_paragraph`).
    pub good: u32,
    /// The element's own text carries a copyright or reprint notice: footer, not prose.
    pub inline_legal: bool,
}

pub use crate::sanitize::BLOCKS;

/// Below this weight a block is too short to be a paragraph of an article.
pub const MIN_PARAGRAPH: u32 = 25;

impl Stats {
    /// Whether the element's own text reads like a paragraph of prose: long enough,
    /// mostly not links, and punctuated like sentences (or long).
    pub fn is_paragraph(&self) -> bool {
        self.inline >= MIN_PARAGRAPH
            && !self.inline_legal
            && self.inline_link * 10 < self.inline * 3
            && (self.inline_punct >= 1 || self.inline >= 80)
    }

    pub fn link_density(&self) -> f32 {
        if self.text == 0 {
            0.0
        } else {
            self.link as f32 / self.text as f32
        }
    }
}

/// The text weight of a character: CJK ideographs, kana and Hangul carry about as much
/// as a short Latin word; spaces carry nothing.
pub fn char_weight(c: char) -> u32 {
    if c.is_whitespace() {
        0
    } else if is_cjk(c) {
        3
    } else {
        1
    }
}

pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{FF66}'..='\u{FF9F}' | '\u{AC00}'..='\u{D7AF}')
}

pub fn is_punct(c: char) -> bool {
    matches!(
        c,
        ',' | '.' | '、' | '。' | '，' | '．' | '！' | '？' | '!' | '?' | ';' | '；'
    )
}

pub fn weight(s: &str) -> u32 {
    s.chars().map(char_weight).sum()
}

/// Copyright and reprint notices: every site's footer has one, no article paragraph does.
fn is_legal_notice(text: &str) -> bool {
    const MARKS: &[&str] = &[
        "©",
        "(C)",
        "(c) 2",
        "Copyright",
        "COPYRIGHT",
        "All rights reserved",
        "All Rights Reserved",
        "ALL RIGHTS RESERVED",
        "無断転載",
        "無断複製",
        "著作権は",
        "Alle Rechte vorbehalten",
        "Tous droits réservés",
        "Todos los derechos",
    ];
    MARKS.iter().any(|m| text.contains(m))
}

/// Splits a class or id into lower-case words at separators and camelCase humps.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c == '-' || c == '_' || c.is_whitespace() || c == ':' || c == '.' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Names of an element's class and id, split into words.
fn name_words(el: &scraper::node::Element) -> Vec<String> {
    let mut w = Vec::new();
    for c in el.classes() {
        w.extend(words(c));
    }
    if let Some(id) = el.id() {
        w.extend(words(id));
    }
    w
}

/// +1 for an article-like class or id, -1 for a boilerplate one, 0 otherwise.
pub fn class_signal(el: &scraper::node::Element) -> i32 {
    let w = name_words(el);
    let pos = w.iter().any(|x| POSITIVE_WORDS.contains(&x.as_str()));
    let neg = w.iter().any(|x| NEGATIVE_WORDS.contains(&x.as_str()));
    match (pos, neg) {
        (true, false) => 1,
        (false, true) => -1,
        _ => 0,
    }
}

pub fn is_hidden(el: &scraper::node::Element) -> bool {
    if el.attr("hidden").is_some() || el.attr("aria-hidden") == Some("true") {
        return true;
    }
    el.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

/// The measured page.
pub struct Measured {
    pub skip: HashSet<NodeId>,
    pub stats: HashMap<NodeId, Stats>,
}

/// How aggressively boilerplate is skipped. The extractor starts strict and relaxes
/// when the strict reading finds no article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Skip furniture tags and boilerplate class names.
    Strict,
    /// Skip furniture tags only.
    Tags,
    /// Skip only what is never text (scripts, hidden parts).
    Loose,
}

/// Decides what is never content and measures everything else. A class name only
/// condemns an element that holds a minor part of the page's text: page wrappers
/// carry names like "layoutWithSidebar" too.
pub fn measure(doc: &Html, strictness: Strictness) -> Measured {
    let raw = measure_pass(doc, Strictness::Loose, None);
    if strictness == Strictness::Loose {
        return raw;
    }
    let total = raw.stats.values().map(|s| s.text).max().unwrap_or(0);
    measure_pass(doc, strictness, Some((&raw.stats, total)))
}

/// One pass over the tree without recursion (hostile pages nest deeply).
fn measure_pass(
    doc: &Html,
    strictness: Strictness,
    raw: Option<(&HashMap<NodeId, Stats>, u32)>,
) -> Measured {
    let minor = |id: NodeId| {
        raw.is_none_or(|(stats, total)| stats.get(&id).is_none_or(|s| s.text * 10 < total * 4))
    };
    let mut skip = HashSet::new();
    let mut stats: HashMap<NodeId, Stats> = HashMap::new();
    // Per open element: its stats so far, and whether we are inside a link.
    let mut stack: Vec<(NodeId, Stats)> = Vec::new();
    let mut skipping: Option<NodeId> = None;
    let mut link_depth = 0u32;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(el) => {
                        let name = el.name();
                        let boiler = NEVER.contains(&name)
                            || is_hidden(el)
                            || (strictness != Strictness::Loose
                                && FURNITURE.contains(&name)
                                && class_signal(el) <= 0
                                && minor(node.id()))
                            || (strictness == Strictness::Strict
                                // Subheadings carry ids made from their words for a
                                // table of contents ("nav_the_results"): a heading is
                                // judged by its text and the list it may announce.
                                && !matches!(
                                    name,
                                    "html" | "body" | "article" | "main" | "h2" | "h3" | "h4" | "h5" | "h6"
                                )
                                && class_signal(el) < 0
                                && minor(node.id()));
                        if boiler {
                            skip.insert(node.id());
                            skipping = Some(node.id());
                            continue;
                        }
                        if name == "a" {
                            link_depth += 1;
                        }
                        stack.push((node.id(), Stats::default()));
                    }
                    Node::Text(t) => {
                        let w = weight(t);
                        let p = t.chars().filter(|c| is_punct(*c)).count() as u32;
                        if let Some((_, s)) = stack.last_mut() {
                            s.inline_legal |= is_legal_notice(t);
                            s.inline += w;
                            s.text += w;
                            s.punct += p;
                            s.inline_punct += p;
                            if link_depth > 0 {
                                s.link += w;
                                s.inline_link += w;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skipping {
                    if id == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    if el.name() == "a" {
                        link_depth = link_depth.saturating_sub(1);
                    }
                    if let Some((id, mut s)) = stack.pop() {
                        let block = BLOCKS.contains(&el.name());
                        if block && s.is_paragraph() {
                            s.good += s.inline;
                        }
                        if let Some((_, parent)) = stack.last_mut() {
                            parent.text += s.text;
                            parent.link += s.link;
                            parent.punct += s.punct;
                            parent.good += s.good;
                            if !block {
                                parent.inline_legal |= s.inline_legal;
                                parent.inline += s.inline;
                                parent.inline_link += s.inline_link;
                                parent.inline_punct += s.inline_punct;
                            }
                        }
                        stats.insert(id, s);
                    }
                }
            }
        }
    }
    Measured { skip, stats }
}

/// Text of an element outside skipped subtrees, with blank lines between blocks.
pub fn element_text(el: ElementRef, skip: &HashSet<NodeId>) -> String {
    let mut out = String::new();
    let mut skipping: Option<NodeId> = None;
    for edge in el.traverse() {
        match edge {
            Edge::Open(n) => {
                if skipping.is_some() {
                    continue;
                }
                if skip.contains(&n.id()) {
                    skipping = Some(n.id());
                    continue;
                }
                match n.value() {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(e) if e.name() == "br" => out.push('\n'),
                    _ => {}
                }
            }
            Edge::Close(n) => {
                if skipping == Some(n.id()) {
                    skipping = None;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_words() {
        assert_eq!(
            words("commentList main-Body_x"),
            ["comment", "list", "main", "body", "x"]
        );
        let doc = Html::parse_fragment(
            "<div class='recommendation'></div><div id='share-bar'></div><div class='article-body related'></div>",
        );
        let sig: Vec<i32> = doc
            .root_element()
            .child_elements()
            .map(|e| class_signal(e.value()))
            .collect();
        assert_eq!(sig, [0, -1, 0]);
    }

    #[test]
    fn weights_count_japanese_characters() {
        assert_eq!(weight("不正 アクセス"), 18);
        assert_eq!(weight("ab c"), 3);
        assert!(is_punct('、') && is_punct('。'));
    }
}
