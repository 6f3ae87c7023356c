//! Bytes from the network to UTF-8 text, choosing the character set in this order:
//! byte-order mark, the HTTP `Content-Type` charset, the XML declaration or an HTML
//! `<meta>` near the top, then statistical detection (chardetng, hinted by the host's
//! top-level domain), then UTF-8.
//!
//! A declaration can lie (a page labelled Shift_JIS that is really UTF-8 is common after
//! a CMS migration): when the declared charset does not decode cleanly but the bytes are
//! valid UTF-8, UTF-8 wins.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// How far into the document a declaration is looked for. The HTML standard says
/// 1024 bytes; Japanese pages often put long comments first, so look a little further.
const PRESCAN: usize = 4096;

#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    /// The character set the bytes were read as.
    pub encoding: &'static Encoding,
    /// Where that choice came from: "bom", "http", "declared", "detected" or "default".
    pub from: &'static str,
    /// Whether some bytes were not valid in that character set (replaced with U+FFFD).
    pub had_errors: bool,
}

/// Decodes `bytes` to UTF-8. `content_type` is the HTTP header, `tld` the host's
/// top-level domain (e.g. "jp"), which sharpens detection of short texts.
pub fn decode(bytes: &[u8], content_type: Option<&str>, tld: Option<&str>) -> Decoded {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return finish(&bytes[bom_len..], enc, "bom");
    }
    if let Some(enc) = utf16_without_bom(bytes) {
        return finish(bytes, enc, "declared");
    }
    let declared = content_type
        .and_then(charset_from_content_type)
        .map(|e| (e, "http"))
        .or_else(|| prescan(bytes).map(|e| (e, "declared")));
    if let Some((enc, from)) = declared {
        // UTF-16 labels on bytes that are plainly ASCII-compatible are wrong; the
        // WHATWG rule is to read them as UTF-8.
        let enc = if enc == UTF_16LE || enc == UTF_16BE {
            UTF_8
        } else {
            enc
        };
        let decoded = finish(bytes, enc, from);
        if decoded.had_errors && enc != UTF_8 && std::str::from_utf8(bytes).is_ok() {
            return finish(bytes, UTF_8, "detected");
        }
        return decoded;
    }
    // ISO-2022-JP is 7-bit and so also valid UTF-8: its escapes (ESC) give it away.
    if !bytes.contains(&0x1B) && std::str::from_utf8(bytes).is_ok() {
        return finish(bytes, UTF_8, "default");
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    det.feed(bytes, true);
    let enc = det.guess(tld.map(str::as_bytes), chardetng::Utf8Detection::Allow);
    finish(bytes, enc, "detected")
}

fn finish(bytes: &[u8], enc: &'static Encoding, from: &'static str) -> Decoded {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: enc,
        from,
        had_errors,
    }
}

/// The `charset` parameter of a Content-Type header value.
pub fn charset_from_content_type(ct: &str) -> Option<&'static Encoding> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            Encoding::for_label(v.trim().trim_matches(|c| c == '"' || c == '\'').as_bytes())
        } else {
            None
        }
    })
}

/// UTF-16 with no BOM shows itself by the zero bytes around `<` at the very start.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    match bytes {
        [0, b'<', 0, _, ..] => Some(UTF_16BE),
        [b'<', 0, _, 0, ..] => Some(UTF_16LE),
        _ => None,
    }
}

/// The encoding declared in an XML prolog (`<?xml … encoding="…"?>`) or an HTML meta
/// tag (`<meta charset>` or `<meta http-equiv="Content-Type" content="…charset=…">`).
pub fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(PRESCAN)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"<?xml") {
        let end = find(&lower, b"?>", 0).unwrap_or(lower.len());
        if let Some(label) = attr_value_after(&lower[..end], b"encoding") {
            return Encoding::for_label(label);
        }
    }
    let mut from = 0;
    while let Some(pos) = find(&lower, b"<meta", from) {
        let end = find(&lower, b">", pos).unwrap_or(lower.len());
        if let Some(label) = attr_value_after(&lower[pos..end], b"charset")
            && let Some(enc) = Encoding::for_label(label)
        {
            return Some(enc);
        }
        from = end;
    }
    None
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The value that follows `name` `=` in a tag, with or without quotes.
fn attr_value_after<'a>(tag: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(p) = find(tag, name, from) {
        let rest = &tag[p + name.len()..];
        let rest = trim_start(rest);
        if let Some(rest) = rest.strip_prefix(b"=") {
            let rest = trim_start(rest);
            let rest = rest
                .strip_prefix(b"\"")
                .or_else(|| rest.strip_prefix(b"'"))
                .unwrap_or(rest);
            let len = rest
                .iter()
                .position(|b| {
                    matches!(b, b'"' | b'\'' | b';' | b' ' | b'>' | b'/' | b'?')
                        || b.is_ascii_whitespace()
                })
                .unwrap_or(rest.len());
            if len > 0 {
                return Some(&rest[..len]);
            }
        }
        from = p + name.len();
    }
    None
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sjis(s: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(s).0.into_owned()
    }

    #[test]
    fn cp932_characters_decode_from_a_shift_jis_label() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><r>".to_vec();
        bytes.extend(sjis("①㈱髙～"));
        let d = decode(&bytes, None, None);
        assert!(d.text.contains("①㈱髙～"), "{}", d.text);
        assert!(!d.had_errors);
        assert_eq!(d.from, "declared");
    }

    #[test]
    fn http_charset_beats_meta_and_meta_http_equiv_is_read() {
        let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=EUC-JP\"></head>不正アクセス";
        let bytes = encoding_rs::EUC_JP.encode(page).0.into_owned();
        assert!(decode(&bytes, None, None).text.contains("不正アクセス"));
        assert!(
            decode(&bytes, Some("text/html; charset=euc-jp"), None)
                .text
                .contains("不正アクセス")
        );
        assert_eq!(
            decode(&bytes, Some("text/html; charset=\"EUC-JP\""), None).from,
            "http"
        );
    }

    #[test]
    fn lying_declaration_falls_back_to_utf8() {
        let page = "<meta charset=\"shift_jis\"><p>情報流出が判明した。</p>";
        let d = decode(page.as_bytes(), None, None);
        assert_eq!(d.encoding, UTF_8);
        assert!(d.text.contains("情報流出"));
    }

    #[test]
    fn undeclared_japanese_is_detected() {
        let text = "<rss><channel><title>ニュース速報</title><item><title>サイバー攻撃で個人情報が流出した可能性があると発表した</title></item></channel></rss>";
        for enc in [
            encoding_rs::SHIFT_JIS,
            encoding_rs::EUC_JP,
            encoding_rs::ISO_2022_JP,
        ] {
            let bytes = enc.encode(text).0.into_owned();
            let d = decode(&bytes, None, Some("jp"));
            assert_eq!(d.encoding, enc, "{}", enc.name());
            assert!(d.text.contains("サイバー攻撃"));
        }
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let s = "<?xml version=\"1.0\"?><feed>速報</feed>";
        let be: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert!(decode(&be, None, None).text.contains("速報"));
        let mut le = vec![0xFF, 0xFE];
        le.extend(s.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode(&le, None, None).text, s);
    }
}
