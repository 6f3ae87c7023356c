//! Near-duplicate detection: the same story from two outlets is shown once.
//!
//! Two outlets' copies of one story differ in their lead, their attribution, which
//! paragraphs they keep and whether the feed carries the full text or an excerpt, so the
//! core measure is *containment* — how much of the smaller text's shingles appear in the
//! larger — rather than Jaccard, which punishes an excerpt for being short. Containment
//! alone folds stories that merely share wording (a follow-up repeating the background
//! paragraph, two fills of one outlet's template), so it is weighed against the agreement
//! of the figures both texts state: a re-report repeats the story's numbers, a different
//! story built on the same words does not.
//!
//! Everything persisted (fingerprints, index keys) is hashed with fixed mixing functions
//! written here, so stored data stays valid across Rust releases.

use super::text::{is_cjk, is_word_char};

const VERSION: u8 = 1;

/// Text past this is not an article; cutting it bounds the work on hostile input.
const MAX_INPUT_BYTES: usize = 512 * 1024;
/// Above this many distinct shingles a fingerprint keeps a consistent hash sample, so a
/// stored fingerprint stays a few kilobytes; ordinary articles are kept whole.
const MAX_SHINGLES: usize = 4096;
const MAX_MARKS: usize = 256;
/// Index keys kept per article, earliest first: the lead is what an excerpt shares.
const MAX_KEYS: usize = 100;

/// Shingle width in weight units: a CJK character weighs 1 and a Latin word 2, so a
/// shingle is 5 kanji/kana or 3 words, both about one short phrase.
const SHINGLE_WEIGHT: u32 = 5;
const WORD_WEIGHT: u32 = 2;

/// Index keys: `KEY_CHARS`-letter substrings (punctuation and spaces removed) chosen by
/// winnowing over windows of `KEY_WINDOW`. Any run of `KEY_WINDOW + KEY_CHARS - 1` letters
/// two texts share yields a common key, so a 150-character excerpt always shares one
/// with its full text, while a 2,000-character article gets about 60 keys.
const KEY_CHARS: usize = 10;
const KEY_WINDOW: usize = 64;

/// Additive smoothing of containment: a handful of shared shingles in a very short text
/// is weak evidence.
const SMOOTH: f64 = 4.0;
/// `score >= THRESHOLD` is a duplicate.
pub const THRESHOLD: f64 = 0.45;

/// Compact description of one article's text, computed once and stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint {
    /// The shingles kept are those whose low `level` bits are zero (1 in 2^level).
    level: u8,
    /// Sorted, distinct 32-bit shingle hashes.
    shingles: Vec<u32>,
    /// Sorted, distinct hashes of the numbers the text states.
    marks: Vec<u32>,
    /// Index keys, in text order, distinct.
    keys: Vec<u64>,
}

/// Result of [`compare`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub duplicate: bool,
    /// In [0, 1]; `duplicate` is `score >= THRESHOLD`.
    pub score: f64,
}

impl Fingerprint {
    /// Version byte, level, three little-endian u32 counts, then the three arrays.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            14 + 4 * (self.shingles.len() + self.marks.len()) + 8 * self.keys.len(),
        );
        out.push(VERSION);
        out.push(self.level);
        for n in [self.shingles.len(), self.marks.len(), self.keys.len()] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        for h in self.shingles.iter().chain(&self.marks) {
            out.extend_from_slice(&h.to_le_bytes());
        }
        for k in &self.keys {
            out.extend_from_slice(&k.to_le_bytes());
        }
        out
    }

    /// `None` for anything [`to_bytes`](Self::to_bytes) would not have written.
    pub fn from_bytes(b: &[u8]) -> Option<Fingerprint> {
        let (&version, rest) = b.split_first()?;
        if version != VERSION {
            return None;
        }
        let (&level, mut rest) = rest.split_first()?;
        if level >= 32 {
            return None;
        }
        let mut counts = [0usize; 3];
        for c in &mut counts {
            let (head, tail) = rest.split_at_checked(4)?;
            *c = u32::from_le_bytes(head.try_into().ok()?) as usize;
            rest = tail;
        }
        let need = counts[0]
            .checked_add(counts[1])?
            .checked_mul(4)?
            .checked_add(counts[2].checked_mul(8)?)?;
        if rest.len() != need {
            return None;
        }
        let (sh, rest) = rest.split_at(counts[0] * 4);
        let (mk, ks) = rest.split_at(counts[1] * 4);
        let u32s = |s: &[u8]| -> Vec<u32> {
            s.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let shingles = u32s(sh);
        let marks = u32s(mk);
        let keys: Vec<u64> = ks
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let mask = level_mask(level);
        let sorted = |v: &[u32]| v.windows(2).all(|w| w[0] < w[1]);
        if !sorted(&shingles) || !sorted(&marks) || shingles.iter().any(|h| h & mask != 0) {
            return None;
        }
        if shingles.len() > MAX_SHINGLES || marks.len() > MAX_MARKS || keys.len() > MAX_KEYS {
            return None;
        }
        Some(Fingerprint {
            level,
            shingles,
            marks,
            keys,
        })
    }
}

/// `text` is the title, a newline and the sanitized plain body.
pub fn fingerprint(text: &str) -> Fingerprint {
    let text = truncate(text, MAX_INPUT_BYTES);
    let chars = strip_attribution(&fold_chars(text));
    let (tokens, numbers) = tokenize(&chars);

    let mut shingles = shingle_hashes(&tokens);
    shingles.sort_unstable();
    shingles.dedup();
    let mut level = 0u8;
    while shingles.len() > MAX_SHINGLES {
        level += 1;
        let mask = level_mask(level);
        shingles.retain(|h| h & mask == 0);
    }

    let mut marks = number_marks(&tokens, &numbers);
    marks.sort_unstable();
    marks.dedup();
    marks.truncate(MAX_MARKS);

    Fingerprint {
        level,
        shingles,
        marks,
        keys: winnow_keys(&chars),
    }
}

/// Keys for an index: two near-duplicates share at least one with high probability.
pub fn index_keys(fp: &Fingerprint) -> Vec<u64> {
    fp.keys.clone()
}

/// Symmetric: `compare(a, b) == compare(b, a)`.
pub fn compare(a: &Fingerprint, b: &Fingerprint) -> Verdict {
    let f = Features::of(a, b);
    let score = f.score();
    Verdict {
        duplicate: score >= THRESHOLD,
        score,
    }
}

/// The measurements [`compare`] combines; public to the crate for calibration.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Distinct shingles of the smaller and the larger text, at their common sampling.
    pub small: usize,
    pub large: usize,
    pub shared: usize,
    /// Numbers stated by the text with fewer numbers, the other, and both.
    pub marks_small: usize,
    pub marks_large: usize,
    pub marks_shared: usize,
}

impl Features {
    #[doc(hidden)]
    pub fn of(a: &Fingerprint, b: &Fingerprint) -> Features {
        let level = a.level.max(b.level);
        let mask = level_mask(level);
        let (na, nb, shared) = sorted_overlap(&a.shingles, &b.shingles, mask);
        let (ma, mb, marks_shared) = sorted_overlap(&a.marks, &b.marks, 0);
        Features {
            small: na.min(nb),
            large: na.max(nb),
            shared,
            marks_small: ma.min(mb),
            marks_large: ma.max(mb),
            marks_shared,
        }
    }

    /// Containment of the smaller text in the larger, smoothed for very short texts.
    #[doc(hidden)]
    pub fn containment(&self) -> f64 {
        if self.small == 0 {
            return 0.0;
        }
        self.shared as f64 / (self.small as f64 + SMOOTH)
    }

    #[doc(hidden)]
    pub fn jaccard(&self) -> f64 {
        let union = self.small + self.large - self.shared;
        if union == 0 {
            0.0
        } else {
            self.shared as f64 / union as f64
        }
    }

    /// Share of the figures of the text stating fewer that the other states too, pulled a
    /// little towards 1 so that one odd number in a short text is not decisive; `None`
    /// when either states none, as an excerpt often does.
    #[doc(hidden)]
    pub fn mark_agreement(&self) -> Option<f64> {
        if self.marks_small == 0 {
            None
        } else {
            Some((self.marks_shared as f64 + 0.5) / (self.marks_small as f64 + 0.5))
        }
    }

    #[doc(hidden)]
    pub fn score(&self) -> f64 {
        let c = self.containment();
        let Some(m) = self.mark_agreement() else {
            return c.clamp(0.0, 1.0);
        };
        // A follow-up or a template fill shares wording but states other figures.
        let mut s = c * m;
        // A rewrite by another outlet shares little wording but all of its figures; with
        // several numbers agreeing and some wording shared, that is the same story.
        if self.marks_small >= 3 && self.marks_shared == self.marks_small && c >= 0.2 {
            s = s.max(c + 0.1 * self.marks_small.min(5) as f64);
        }
        s.clamp(0.0, 1.0)
    }
}

fn level_mask(level: u8) -> u32 {
    if level >= 32 {
        u32::MAX
    } else {
        (1u32 << level) - 1
    }
}

/// Sizes of both sorted sets restricted to hashes with `h & mask == 0`, and of their
/// intersection.
fn sorted_overlap(a: &[u32], b: &[u32], mask: u32) -> (usize, usize, usize) {
    let (mut i, mut j) = (0, 0);
    let (mut na, mut nb, mut both) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x & mask != 0 {
            i += 1;
            continue;
        }
        if y & mask != 0 {
            j += 1;
            continue;
        }
        if x == y {
            both += 1;
            na += 1;
            nb += 1;
            i += 1;
            j += 1;
        } else if x < y {
            na += 1;
            i += 1;
        } else {
            nb += 1;
            j += 1;
        }
    }
    na += a[i..].iter().filter(|&&x| x & mask == 0).count();
    nb += b[j..].iter().filter(|&&y| y & mask == 0).count();
    (na, nb, both)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Folded as everywhere in judging, kept as chars for the passes below.
fn fold_chars(text: &str) -> Vec<char> {
    super::text::fold(text).chars().collect()
}

/// Folded names of news agencies and papers that outlets add as a credit in brackets.
const SOURCES: &[&str] = &[
    "共同",
    "共同通信",
    "時事",
    "時事通信",
    "ロイター",
    "ブルームバーグ",
    "afp時事",
    "新華社",
    "聯合",
    "聯合ニュース",
    "産経",
    "読売",
    "朝日",
    "毎日",
    "日経",
    "reuters",
    "ap",
    "afp",
    "bloomberg",
    "kyodo",
    "jiji",
    "xinhua",
    "yonhap",
    "dpa",
    "upi",
    "efe",
    "ansa",
    "nhk",
    "cnn",
    "bbc",
];

/// Line openings of credits and footers that one outlet prints and the other does not.
const FOOTERS: &[&str] = &[
    "by ",
    "reporting by",
    "editing by",
    "additional reporting",
    "writing by",
    "copyright",
    "©",
    "(c) ",
    "all rights reserved",
    "related:",
    "read more",
    "関連記事",
    "この記事は",
    "※この記事",
];

/// Blanks bracketed agency credits (`(共同)`, `【ロイター】`, `(reuters)`), reporter credits
/// (`(記者 山田太郎)`) and short credit/footer lines, so that they neither dilute
/// containment nor become index keys.
fn strip_attribution(chars: &[char]) -> Vec<char> {
    let mut out = chars.to_vec();
    let mut i = 0;
    while i < out.len() {
        let close = match out[i] {
            '(' => ')',
            '[' => ']',
            '【' => '】',
            '〔' => '〕',
            '「' => '」',
            '<' => '>',
            '〈' => '〉',
            '《' => '》',
            _ => {
                i += 1;
                continue;
            }
        };
        let end = out[i + 1..]
            .iter()
            .take(24)
            .position(|&c| c == close || c == '\n');
        if let Some(len) = end.filter(|&len| out[i + 1 + len] == close) {
            let inner: String = out[i + 1..i + 1 + len]
                .iter()
                .filter(|c| !c.is_whitespace())
                .collect();
            let reporter = inner.contains("記者") && inner.chars().count() <= 16;
            if reporter || SOURCES.contains(&inner.as_str()) {
                for c in &mut out[i..=i + 1 + len] {
                    *c = ' ';
                }
            }
            i += len + 2;
        } else {
            i += 1;
        }
    }
    let mut lines = Vec::with_capacity(out.len());
    for line in out.split(|&c| c == '\n') {
        let start = line
            .iter()
            .position(|c| !c.is_whitespace())
            .unwrap_or(line.len());
        let body = &line[start..];
        let credit = body.len() <= 100
            && FOOTERS.iter().any(|f| {
                let f: Vec<char> = f.chars().collect();
                body.starts_with(&f)
            });
        if !credit {
            lines.extend_from_slice(line);
        }
        lines.push('\n');
    }
    lines
}

#[derive(Clone, Copy, Debug)]
struct Token {
    hash: u64,
    weight: u32,
    /// The CJK character itself, `None` for a word.
    cjk: Option<char>,
}

/// A number in the text: the index of its token and its digits (separators removed).
struct Number {
    token: usize,
    digits: String,
}

/// CJK characters one by one, words (including numbers such as `28,614` or `3.1`) whole;
/// punctuation and spaces only separate.
fn tokenize(chars: &[char]) -> (Vec<Token>, Vec<Number>) {
    let mut tokens = Vec::with_capacity(chars.len());
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_cjk(c) {
            tokens.push(Token {
                hash: fnv_char(FNV_OFFSET, c),
                weight: 1,
                cjk: Some(c),
            });
            i += 1;
        } else if is_word_char(c) {
            let start = i;
            let mut h = FNV_OFFSET;
            let mut digits = true;
            while i < chars.len() {
                let c = chars[i];
                if is_word_char(c) {
                    digits &= c.is_ascii_digit();
                    h = fnv_char(h, c);
                    i += 1;
                } else if digits
                    && (c == ',' || c == '.')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                {
                    // Thousands separators vary by outlet; decimal points do not.
                    if c == '.' {
                        h = fnv_char(h, c);
                    }
                    i += 1;
                } else {
                    break;
                }
            }
            if digits {
                numbers.push(Number {
                    token: tokens.len(),
                    digits: chars[start..i].iter().filter(|&&c| c != ',').collect(),
                });
            }
            tokens.push(Token {
                hash: h,
                weight: WORD_WEIGHT,
                cjk: None,
            });
        } else {
            i += 1;
        }
    }
    (tokens, numbers)
}

/// Hashes of the numbers a text states, Japanese myriads resolved so that `2万8614`
/// and `28,614` agree.
fn number_marks(tokens: &[Token], numbers: &[Number]) -> Vec<u32> {
    let mut marks = Vec::with_capacity(numbers.len());
    let mut skip_next = false;
    for (k, n) in numbers.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        let scale = match tokens.get(n.token + 1).and_then(|t| t.cjk) {
            Some('万') => 4,
            Some('億') => 8,
            _ => 0,
        };
        let canonical = if scale == 0 {
            n.digits.trim_start_matches('0').to_string()
        } else {
            // "2万8614": the low part is the number right after the myriad character.
            let low = numbers
                .get(k + 1)
                .filter(|m| m.token == n.token + 2 && m.digits.len() <= scale);
            skip_next = low.is_some();
            scaled(&n.digits, scale, low.map_or("", |m| m.digits.as_str()))
        };
        let mut h = FNV_OFFSET;
        for c in canonical.chars() {
            h = fnv_char(h, c);
        }
        marks.push((mix(h ^ MARK_SEED) >> 32) as u32);
    }
    marks
}

/// `int.frac × 10^scale + low` as a decimal string, without floating point.
fn scaled(digits: &str, scale: usize, low: &str) -> String {
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > scale {
        return digits.to_string();
    }
    let mut s = String::with_capacity(int.len() + scale);
    s.push_str(int);
    s.push_str(frac);
    let pad = scale - frac.len();
    if low.is_empty() || low.len() > pad {
        s.extend(std::iter::repeat_n('0', pad));
    } else {
        s.extend(std::iter::repeat_n('0', pad - low.len()));
        s.push_str(low);
    }
    s.trim_start_matches('0').to_string()
}

/// One shingle ending at each token: the shortest run of tokens back from it reaching
/// `SHINGLE_WEIGHT`. A text lighter than that is one shingle.
fn shingle_hashes(tokens: &[Token]) -> Vec<u32> {
    let mut out = Vec::with_capacity(tokens.len());
    let total: u32 = tokens.iter().map(|t| t.weight).sum();
    if total > 0 && total < SHINGLE_WEIGHT {
        out.push(hash_tokens(tokens));
        return out;
    }
    let mut start = 0;
    let mut weight = 0;
    for end in 0..tokens.len() {
        weight += tokens[end].weight;
        while weight - tokens[start].weight >= SHINGLE_WEIGHT {
            weight -= tokens[start].weight;
            start += 1;
        }
        if weight >= SHINGLE_WEIGHT {
            out.push(hash_tokens(&tokens[start..=end]));
        }
    }
    out
}

fn hash_tokens(tokens: &[Token]) -> u32 {
    let mut h = SHINGLE_SEED;
    for t in tokens {
        h = mix(h ^ t.hash);
    }
    (h >> 32) as u32
}

/// Winnowing (Schleimer et al.) over hashes of `KEY_CHARS`-letter substrings of the
/// letters-only text: the minimum of every window of `KEY_WINDOW` hashes is a key.
fn winnow_keys(chars: &[char]) -> Vec<u64> {
    let letters: Vec<char> = chars
        .iter()
        .copied()
        .filter(|&c| is_cjk(c) || is_word_char(c))
        .collect();
    if letters.is_empty() {
        return Vec::new();
    }
    let grams: Vec<u64> = if letters.len() < KEY_CHARS {
        vec![hash_letters(&letters)]
    } else {
        letters.windows(KEY_CHARS).map(hash_letters).collect()
    };
    let window = KEY_WINDOW.min(grams.len());
    let mut keys: Vec<u64> = Vec::new();
    // Indices of a monotone queue: hashes increasing from front to back.
    let mut queue = std::collections::VecDeque::with_capacity(window);
    let mut last_pick = usize::MAX;
    for (i, &h) in grams.iter().enumerate() {
        while queue.back().is_some_and(|&j| grams[j] >= h) {
            queue.pop_back();
        }
        queue.push_back(i);
        if queue.front().is_some_and(|&j| j + window <= i) {
            queue.pop_front();
        }
        if i + 1 >= window {
            let j = queue[0];
            if j != last_pick {
                last_pick = j;
                let key = grams[j];
                if !keys.contains(&key) {
                    keys.push(key);
                    if keys.len() == MAX_KEYS {
                        break;
                    }
                }
            }
        }
    }
    keys
}

fn hash_letters(letters: &[char]) -> u64 {
    let mut h = FNV_OFFSET;
    for &c in letters {
        h = fnv_char(h, c);
    }
    mix(h ^ KEY_SEED)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SHINGLE_SEED: u64 = 0x5348_494e_474c_4531;
const MARK_SEED: u64 = 0x4d41_524b_5331_0001;
const KEY_SEED: u64 = 0x4b45_5953_3130_0001;

/// FNV-1a over the four little-endian bytes of the code point.
fn fnv_char(mut h: u64, c: char) -> u64 {
    for b in (c as u32).to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The splitmix64 finalizer: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "通販サイトで不正アクセス、カード情報2万8千件流出か\n\
        雑貨のインターネット通販を手がけるハルモニア（東京都渋谷区）は2日、運営するオンラインショップが第三者による不正アクセスを受け、顧客のクレジットカード情報2万8614件が流出した可能性があると発表した。\n\
        同社によると、流出した可能性があるのは2023年9月5日から2024年3月18日までの間にサイトでカード決済をした顧客の、カード番号、有効期限、セキュリティーコードなど。氏名や住所、電話番号も含まれるという。\n\
        攻撃者はサイトのシステムの脆弱性を突いて決済画面を改ざんし、利用者が入力したカード情報を外部に送信するプログラムを仕込んでいた。カード会社から不正利用の疑いがあるとの連絡を受けて発覚した。\n\
        同社は3月にカード決済を停止し、外部の調査会社に依頼して原因を調べていた。個人情報保護委員会と警視庁には既に報告したという。サイトは現在も休止しており、再開の時期は未定としている。";

    fn template(company: &str, place: &str, count: &str, day: &str, month: &str) -> String {
        format!(
            "{company}に不正アクセス、顧客情報{count}件流出の可能性\n\
            {place}の{company}は{day}日、同社のサーバーが第三者による不正アクセスを受け、顧客の氏名や住所、電話番号など最大{count}件の個人情報が外部に流出した可能性があると発表した。\n\
            同社によると、{month}月{day}日にサーバーの監視システムが不審な通信を検知し、調査したところ、海外のIPアドレスから管理画面に繰り返しログインされていたことが判明した。\n\
            現時点で情報の不正利用は確認されていないという。同社は対象となる顧客に順次メールで連絡し、不審な電話やメールに注意するよう呼びかけている。\n\
            同社は個人情報保護委員会に報告するとともに、警察に相談している。"
        )
    }

    fn excerpt(text: &str, chars: usize) -> String {
        let mut s: String = text.chars().take(chars).collect();
        s.push('…');
        s
    }

    #[test]
    fn excerpt_of_full_text_is_duplicate_and_shares_a_key() {
        let full = fingerprint(FULL);
        let body_start = FULL.find('\n').unwrap() + 1;
        let ex = fingerprint(&format!(
            "ハルモニアでカード情報流出\n{}",
            excerpt(&FULL[body_start..], 160)
        ));
        let v = compare(&ex, &full);
        assert!(v.duplicate, "{v:?}");
        let keys = index_keys(&full);
        assert!(index_keys(&ex).iter().any(|k| keys.contains(k)));
        assert!(keys.len() <= MAX_KEYS && keys.len() >= 10, "{}", keys.len());
    }

    #[test]
    fn width_punctuation_and_attribution_do_not_matter() {
        let other: String = FULL
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                '、' => '，',
                '。' => '．',
                _ => c,
            })
            .collect();
        let other = format!("【共同】{other}（共同）");
        let v = compare(&fingerprint(FULL), &fingerprint(&other));
        assert!(v.duplicate && v.score > 0.9, "{v:?}");
    }

    #[test]
    fn template_fills_stay_apart() {
        let a = fingerprint(&template("東邦食品", "東京都港区", "3万2000", "12", "4"));
        let b = fingerprint(&template("アオバ建設", "仙台市", "8415", "3", "5"));
        let v = compare(&a, &b);
        assert!(!v.duplicate, "{v:?}");
        // The same fill re-reported is still one story.
        let a2 = fingerprint(&format!(
            "（共同）{}",
            template("東邦食品", "東京都港区", "3万2000", "12", "4")
        ));
        assert!(compare(&a, &a2).duplicate);
    }

    #[test]
    fn myriad_numbers_agree_with_arabic() {
        let (t1, n1) = tokenize(&fold_chars("被害は2万8614件"));
        let (t2, n2) = tokenize(&fold_chars("被害は28,614件"));
        assert_eq!(number_marks(&t1, &n1), number_marks(&t2, &n2));
        assert_eq!(scaled("3.1", 4, ""), "31000");
        assert_eq!(scaled("8", 4, "5000"), "85000");
        assert_eq!(scaled("1", 8, ""), "100000000");
    }

    #[test]
    fn compare_is_symmetric() {
        let texts = [
            FULL.to_string(),
            excerpt(FULL, 200),
            template("東邦食品", "東京都港区", "3万2000", "12", "4"),
            "Fitness app FitLoop says breach exposed data of 3.1 million users".to_string(),
            String::new(),
        ];
        let fps: Vec<_> = texts.iter().map(|t| fingerprint(t)).collect();
        for a in &fps {
            for b in &fps {
                let (x, y) = (compare(a, b), compare(b, a));
                assert_eq!(x, y);
                assert!((0.0..=1.0).contains(&x.score));
            }
        }
    }

    #[test]
    fn bytes_round_trip() {
        for text in [FULL, "", "a", "Ransomware hit Riverton (Reuters)"] {
            let fp = fingerprint(text);
            assert_eq!(Fingerprint::from_bytes(&fp.to_bytes()), Some(fp));
        }
    }

    #[test]
    fn garbage_bytes_are_rejected() {
        let good = fingerprint(FULL).to_bytes();
        assert_eq!(Fingerprint::from_bytes(&[]), None);
        assert_eq!(Fingerprint::from_bytes(&[VERSION]), None);
        assert_eq!(Fingerprint::from_bytes(&good[..good.len() - 1]), None);
        let mut wrong_version = good.clone();
        wrong_version[0] = 0xFF;
        assert_eq!(Fingerprint::from_bytes(&wrong_version), None);
        // Counts claiming more than is there, including overflowing ones.
        let mut huge = vec![VERSION, 0];
        huge.extend_from_slice(&[0xFF; 12]);
        assert_eq!(Fingerprint::from_bytes(&huge), None);
        // Unsorted shingles would break the merge in `compare`.
        let mut unsorted = vec![VERSION, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        unsorted.extend_from_slice(&9u32.to_le_bytes());
        unsorted.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(Fingerprint::from_bytes(&unsorted), None);
        // Pseudo-random bytes never panic.
        let mut x = 1u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = mix(x);
                    x as u8
                })
                .collect();
            let _ = Fingerprint::from_bytes(&bytes);
        }
    }

    #[test]
    fn degenerate_texts() {
        let long = "サイバー攻撃、".repeat(2_000_000);
        for text in ["", "a", "攻", "、。！？…――（）", " \n\t ", long.as_str()] {
            let fp = fingerprint(text);
            let _ = index_keys(&fp);
            let v = compare(&fp, &fingerprint(FULL));
            assert!(!v.duplicate, "{text:.20}: {v:?}");
            assert!((0.0..=1.0).contains(&compare(&fp, &fp).score));
        }
        let empty = fingerprint("");
        assert!(!compare(&empty, &empty).duplicate);
        assert!(index_keys(&empty).is_empty());
        assert!(fingerprint(&long).shingles.len() <= MAX_SHINGLES);
    }

    #[test]
    fn keys_are_deterministic_and_stable() {
        assert_eq!(fingerprint(FULL), fingerprint(FULL));
        assert_eq!(
            index_keys(&fingerprint(FULL)),
            index_keys(&fingerprint(FULL))
        );
        // Persisted values: these change only with a new VERSION.
        assert_eq!(mix(0x0123_4567_89ab_cdef), GOLDEN_MIX);
        assert_eq!(index_keys(&fingerprint(FULL))[0], GOLDEN_KEY);
    }

    const GOLDEN_MIX: u64 = 12880392674509918508;
    const GOLDEN_KEY: u64 = 64801037655905875;
}
