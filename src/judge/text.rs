//! Text folding shared by the topic filter, duplicate detection and categories.
//!
//! All three compare text written by different outlets, which spell the same thing with
//! full-width or half-width letters and digits, different case and different punctuation;
//! folding once here keeps their notions of "the same word" identical.

use unicode_normalization::UnicodeNormalization;

/// NFKC, then lower case: `ＥＭＯＴＥＴ` and `Emotet` fold to `emotet`, `１２３` to `123`,
/// half-width katakana to full-width.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkc() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Letters and digits of scripts written with spaces between words (Latin, Greek,
/// Cyrillic, …): the characters that must not border a Latin keyword match and that make
/// up word tokens.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Scripts written without spaces, where words are not delimited: kanji, kana, hangul.
/// Their text is compared by characters, not words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x31F0..=0x31FF   // katakana phonetic extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xF900..=0xFAFF   // compatibility ideographs
        | 0xAC00..=0xD7AF   // hangul syllables
        | 0x20000..=0x3134F // CJK extensions B–G
        | 0x3005..=0x3007   // 々 〆 〇 (ー is in the katakana block)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_joins_widths_and_case() {
        assert_eq!(
            fold("ＥＭＯＴＥＴに感染、被害は１２３件"),
            "emotetに感染、被害は123件"
        );
        assert_eq!(fold("ｻｲﾊﾞｰ攻撃"), "サイバー攻撃");
        assert_eq!(fold("ÉCOLE"), "école");
    }

    #[test]
    fn scripts() {
        assert!(is_cjk('攻') && is_cjk('ー') && is_cjk('カ') && is_cjk('々'));
        assert!(!is_cjk('a') && !is_cjk('、') && !is_cjk('1'));
        assert!(is_word_char('a') && is_word_char('7') && is_word_char('é'));
        assert!(!is_word_char('攻') && !is_word_char('-') && !is_word_char(' '));
    }
}
