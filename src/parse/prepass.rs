//! Repairs applied to decoded feed XML before feed-rs sees it. Each closes a gap where
//! real feeds break feed-rs (see the crate notes): a prolog that still names the original
//! charset, bare `&`, HTML named entities, RSS versions it does not know, characters XML
//! forbids, and DOCTYPE internal subsets (entity expansion and external entities are
//! never wanted in a feed, so the subset is dropped before any parser could act on it).

use std::borrow::Cow;

/// Returns XML that feed-rs can read as UTF-8.
pub fn repair_xml(text: &str) -> String {
    let text = strip_forbidden_controls(text);
    let text = rewrite_prolog(&text);
    let text = drop_doctype(&text);
    let text = fix_ampersands(&text);
    let text = upgrade_old_formats(&text);
    normalize_rss_version(&text).into_owned()
}

const ATOM_03_NS: &str = "http://purl.org/atom/ns#";
const RSS_090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";

/// feed-rs knows Atom 1.0 and RSS 1.0 only by their namespaces. Atom 0.3 and RSS 0.90
/// differ from them mostly in the namespace and a few element names, so they are
/// rewritten into the newer format.
fn upgrade_old_formats(s: &str) -> Cow<'_, str> {
    if s.contains(ATOM_03_NS) {
        let mut out = s.replace(ATOM_03_NS, "http://www.w3.org/2005/Atom");
        for (old, new) in [
            ("issued", "published"),
            ("modified", "updated"),
            ("tagline", "subtitle"),
            ("copyright", "rights"),
        ] {
            out = out
                .replace(&format!("<{old}>"), &format!("<{new}>"))
                .replace(&format!("</{old}>"), &format!("</{new}>"));
        }
        // 0.3 text constructs carry MIME types; 1.0 names them.
        out = out
            .replace("type=\"text/html\"", "type=\"html\"")
            .replace("type=\"text/plain\"", "type=\"text\"")
            .replace("type=\"application/xhtml+xml\"", "type=\"xhtml\"");
        return Cow::Owned(out);
    }
    if s.contains(RSS_090_NS) {
        return Cow::Owned(s.replace(RSS_090_NS, "http://purl.org/rss/1.0/"));
    }
    Cow::Borrowed(s)
}

fn strip_forbidden_controls(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    };
    if s.contains(bad) {
        Cow::Owned(s.chars().filter(|c| !bad(*c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// The text is UTF-8 now, so the prolog must say so (or feed-rs would decode it again).
fn rewrite_prolog(s: &str) -> Cow<'_, str> {
    let trimmed = s.trim_start();
    if !trimmed.starts_with("<?xml") {
        return Cow::Borrowed(trimmed);
    }
    match trimmed.find("?>") {
        Some(end) => Cow::Owned(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
            &trimmed[end + 2..]
        )),
        None => Cow::Borrowed(trimmed),
    }
}

fn drop_doctype(s: &str) -> Cow<'_, str> {
    let Some(start) = find_ci(s, "<!DOCTYPE") else {
        return Cow::Borrowed(s);
    };
    // The declaration ends at the first `>` outside its `[ … ]` internal subset.
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in s[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '>' if depth == 0 => {
                end = Some(start + i + 1);
                break;
            }
            _ => {}
        }
    }
    let end = end.unwrap_or(s.len());
    Cow::Owned(format!("{}{}", &s[..start], &s[end..]))
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Escapes every `&` that does not start a reference XML understands, and turns HTML
/// named entities into numeric ones. CDATA sections and comments are left alone.
fn fix_ampersands(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 64);
    let mut rest = s;
    while let Some(pos) = rest.find(['&', '<']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('<') {
            let skip = if rest.starts_with("<![CDATA[") {
                rest.find("]]>").map_or(rest.len(), |e| e + 3)
            } else if rest.starts_with("<!--") {
                rest.find("-->").map_or(rest.len(), |e| e + 3)
            } else {
                1
            };
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
            continue;
        }
        // rest starts with '&'
        // Only the next 33 bytes can hold the `;`: searching the whole rest for it made
        // text with many `&` and no `;` quadratic.
        let reference = rest.as_bytes()[1..]
            .iter()
            .take(33)
            .position(|&b| b == b';')
            .filter(|&n| n > 0)
            .map(|n| &rest[1..=n]);
        match reference {
            Some(name) if is_xml_reference(name) => {
                out.push('&');
                out.push_str(name);
                out.push(';');
                rest = &rest[name.len() + 2..];
            }
            Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric()) => {
                let entity = &rest[..name.len() + 2];
                let decoded = html_escape::decode_html_entities(entity);
                if decoded != entity {
                    for c in decoded.chars() {
                        out.push_str(&format!("&#{};", c as u32));
                    }
                } else {
                    out.push_str("&amp;");
                    out.push_str(name);
                    out.push(';');
                }
                rest = &rest[name.len() + 2..];
            }
            _ => {
                out.push_str("&amp;");
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn is_xml_reference(name: &str) -> bool {
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        return true;
    }
    let Some(num) = name.strip_prefix('#') else {
        return false;
    };
    let value = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => num.parse::<u32>().ok(),
    };
    // A reference to a character XML forbids fails the whole document.
    value
        .and_then(char::from_u32)
        .is_some_and(|c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
}

/// feed-rs reads only `<rss version="2.0">` (and 0.91/0.92); real feeds say 2.01,
/// 0.93, 0.94 or nothing, and are RSS 2.0 in all but name.
fn normalize_rss_version(s: &str) -> Cow<'_, str> {
    let Some(start) = s.find("<rss") else {
        return Cow::Borrowed(s);
    };
    if !s[start + 4..].starts_with(|c: char| c.is_whitespace() || c == '>') {
        return Cow::Borrowed(s);
    }
    let Some(end) = s[start..].find('>').map(|e| start + e) else {
        return Cow::Borrowed(s);
    };
    let tag = &s[start..end];
    let version = tag.find("version").and_then(|v| {
        let after = tag[v + 7..].trim_start().strip_prefix('=')?.trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value_end = after[1..].find(quote)?;
        Some((&after[1..=value_end], v))
    });
    match version {
        Some(("2.0" | "0.91" | "0.92", _)) => Cow::Borrowed(s),
        Some((_, v)) => {
            let after_eq = &tag[v..];
            let q1 = after_eq.find(['"', '\'']).map(|q| v + q);
            let q2 = q1.and_then(|q| tag[q + 1..].find(['"', '\'']).map(|e| q + 1 + e));
            match (q1, q2) {
                (Some(a), Some(b)) => {
                    Cow::Owned(format!("{}\"2.0\"{}", &s[..start + a], &s[start + b + 1..]))
                }
                _ => Cow::Borrowed(s),
            }
        }
        None => Cow::Owned(format!(
            "{} version=\"2.0\"{}",
            &s[..start + 4],
            &s[start + 4..]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ampersands_and_entities() {
        assert_eq!(
            fix_ampersands("<t>AT&T &amp; &nbsp;x&#12354;&#0;</t>"),
            "<t>AT&amp;T &amp; &#160;x&#12354;&amp;#0;</t>"
        );
        assert_eq!(
            fix_ampersands("<![CDATA[a & b &nbsp;]]>&bogus;"),
            "<![CDATA[a & b &nbsp;]]>&amp;bogus;"
        );
        assert_eq!(fix_ampersands("<!-- & -->&"), "<!-- & -->&amp;");
    }

    #[test]
    fn prolog_and_version() {
        let s = repair_xml("\n<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><rss><channel/></rss>");
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel/></rss>"
        );
        assert!(repair_xml("<rss version='2.01'>").contains("version=\"2.0\""));
        assert!(
            repair_xml("<rss version=\"0.94\" x=\"1\">").contains("<rss version=\"2.0\" x=\"1\">")
        );
        assert_eq!(
            repair_xml("<rss version=\"0.91\">"),
            "<rss version=\"0.91\">"
        );
        assert_eq!(repair_xml("<rssfeed>"), "<rssfeed>");
    }

    #[test]
    fn doctype_subset_is_dropped() {
        let s = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY x SYSTEM \"file:///etc/passwd\">]><rss>&lol;&x;</rss>";
        let r = repair_xml(s);
        assert!(!r.contains("ENTITY"), "{r}");
        assert!(
            r.ends_with("<rss version=\"2.0\">&amp;lol;&amp;x;</rss>"),
            "{r}"
        );
    }

    #[test]
    fn control_characters_go() {
        assert_eq!(repair_xml("<a>x\u{1}y\u{b}</a>"), "<a>xy</a>");
    }
}
