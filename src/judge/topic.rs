//! Term lists and the topic filter. The same matcher serves `[topic]` and the categories'
//! keyword rules.
//!
//! Text is folded ([`fold`]) before matching, so `ＥＭＯＴＥＴ` matches `Emotet`. Japanese
//! terms match anywhere, as substrings, because Japanese has no spaces to split words on.
//! A term that begins or ends with a Latin letter or digit only matches where the text
//! beside it is not one too: `Emotet` matches in `Emotetに感染` and `DoS` does not match in
//! `DOSBox`. A term written `re:…` is a regular expression over the folded text.

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::text::{fold, is_word_char};

/// One compiled term.
#[derive(Debug, Clone)]
enum Pattern {
    Literal {
        folded: String,
        /// Whether the ends are Latin letters or digits, and so need a boundary beside them.
        bound_start: bool,
        bound_end: bool,
    },
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Term {
    /// As written in the configuration: what reasons name.
    original: String,
    pattern: Pattern,
}

/// A list of terms, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    terms: Vec<Term>,
}

/// Checks one term as written in the configuration; the error says what is wrong.
pub fn check_term(term: &str) -> Result<(), String> {
    compile(term).map(|_| ())
}

fn compile(term: &str) -> Result<Term, String> {
    let pattern = if let Some(re) = term.strip_prefix("re:") {
        // The text is folded to lower case; the flag makes `re:Emotet` work as written.
        let re = Regex::new(&format!("(?i){re}"))
            .map_err(|e| format!("`{term}` is not a valid regular expression: {e}"))?;
        if re.is_match("") {
            return Err(format!(
                "`{term}` matches the empty text, so it would match every article"
            ));
        }
        Pattern::Regex(re)
    } else {
        let folded = fold(term.trim());
        if folded.is_empty() {
            return Err("an empty term would match every article".into());
        }
        Pattern::Literal {
            bound_start: folded.chars().next().is_some_and(is_word_char),
            bound_end: folded.chars().next_back().is_some_and(is_word_char),
            folded,
        }
    };
    Ok(Term {
        original: term.to_owned(),
        pattern,
    })
}

impl Terms {
    pub fn new<S: AsRef<str>>(list: &[S]) -> Result<Terms, String> {
        list.iter()
            .map(|t| compile(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(|terms| Terms { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms (as written) found in already folded text, in list order.
    pub fn matches<'a>(&'a self, folded: &str) -> Vec<&'a str> {
        self.terms
            .iter()
            .filter(|t| t.pattern.count(folded, 1) > 0)
            .map(|t| t.original.as_str())
            .collect()
    }

    /// Each term found, with how often it occurs (counted up to `cap`).
    pub fn occurrences<'a>(&'a self, folded: &str, cap: usize) -> Vec<(&'a str, usize)> {
        self.terms
            .iter()
            .map(|t| (t.original.as_str(), t.pattern.count(folded, cap)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl Pattern {
    /// Occurrences in `text`, stopping at `cap`.
    fn count(&self, text: &str, cap: usize) -> usize {
        match self {
            Pattern::Regex(re) => re.find_iter(text).take(cap).count(),
            Pattern::Literal {
                folded,
                bound_start,
                bound_end,
            } => text
                .match_indices(folded.as_str())
                .filter(|(at, _)| {
                    let at = *at;
                    let before_ok =
                        !bound_start || !text[..at].chars().next_back().is_some_and(is_word_char);
                    let after_ok = !bound_end
                        || !text[at + folded.len()..]
                            .chars()
                            .next()
                            .is_some_and(is_word_char);
                    before_ok && after_ok
                })
                .take(cap)
                .count(),
        }
    }
}

/// The filter built from `[topic]`.
#[derive(Debug, Clone, Default)]
pub struct TopicFilter {
    include: Terms,
    exclude: Terms,
}

/// Why an article is, or is not, on the blog's topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicVerdict {
    pub on_topic: bool,
    /// Include terms found: why it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<String>,
    /// Exclude terms found: why it was skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// On the blog because the operator published it (`kawaraban post publish`),
    /// although the filter would skip it; `included` and `excluded` are the filter's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_operator: bool,
}

impl TopicVerdict {
    /// One line for logs and `--explain`.
    pub fn reason(&self) -> String {
        if self.by_operator {
            let filter = TopicVerdict {
                on_topic: false,
                by_operator: false,
                ..self.clone()
            };
            return format!(
                "published by the operator (the topic filter: {})",
                filter.reason()
            );
        }
        match (
            self.on_topic,
            self.excluded.is_empty(),
            self.included.is_empty(),
        ) {
            (false, false, _) => format!("excluded by {}", self.excluded.join(", ")),
            (false, true, _) => "no include term matched".into(),
            (true, _, false) => format!("on topic: {}", self.included.join(", ")),
            (true, _, true) => "on topic (no include terms configured)".into(),
        }
    }
}

impl TopicFilter {
    pub fn new<S: AsRef<str>>(include: &[S], exclude: &[S]) -> Result<TopicFilter, String> {
        Ok(TopicFilter {
            include: Terms::new(include)?,
            exclude: Terms::new(exclude)?,
        })
    }

    /// Judges title and text together. Without include terms every article is on topic
    /// unless an exclude term matches.
    pub fn check(&self, title: &str, text: &str) -> TopicVerdict {
        let folded = fold(&format!("{title}\n{text}"));
        self.check_folded(&folded)
    }

    pub fn check_folded(&self, folded: &str) -> TopicVerdict {
        let excluded: Vec<String> = self
            .exclude
            .matches(folded)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let included: Vec<String> = self
            .include
            .matches(folded)
            .into_iter()
            .map(str::to_owned)
            .collect();
        TopicVerdict {
            on_topic: excluded.is_empty() && (self.include.is_empty() || !included.is_empty()),
            included,
            excluded,
            by_operator: false,
        }
    }

    /// Whether an exclude term already matches (the feed's title and summary), so the
    /// article page need not be fetched.
    pub fn excluded_by(&self, title: &str, text: &str) -> Vec<String> {
        let folded = fold(&format!("{title}\n{text}"));
        self.exclude
            .matches(&folded)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> TopicFilter {
        TopicFilter::new(
            &[
                "サイバー",
                "不正アクセス",
                "Emotet",
                "DoS",
                "re:ランサム(ウェア|ウエア)",
            ],
            &["映画", "試写会"],
        )
        .unwrap()
    }

    #[test]
    fn japanese_terms_match_inside_text_without_spaces() {
        let v = filter().check("県警がサイバー犯罪対策を強化", "");
        assert!(v.on_topic);
        assert_eq!(v.included, ["サイバー"]);
    }

    #[test]
    fn latin_terms_need_non_latin_neighbours() {
        let f = filter();
        assert_eq!(f.check("", "Emotetに感染した端末").included, ["Emotet"]);
        assert_eq!(f.check("", "ＥＭＯＴＥＴへの注意").included, ["Emotet"]);
        assert_eq!(f.check("", "a DoS attack").included, ["DoS"]);
        assert!(!f.check("", "DOSBox 0.74 released").on_topic);
        assert!(!f.check("", "emotets and xemotet").on_topic);
        assert_eq!(f.check("", "(dos)").included, ["DoS"]);
    }

    #[test]
    fn regex_terms_and_widths() {
        let f = filter();
        assert_eq!(
            f.check("ランサムウエア被害", "").included,
            ["re:ランサム(ウェア|ウエア)"]
        );
        assert_eq!(
            f.check("ﾗﾝｻﾑｳｪｱ", "").included,
            ["re:ランサム(ウェア|ウエア)"]
        );
        assert!(!f.check("ランサム", "").on_topic);
    }

    #[test]
    fn exclude_wins_and_says_why() {
        let v = filter().check("サイバー攻撃を描いた映画の試写会", "");
        assert!(!v.on_topic);
        assert_eq!(v.excluded, ["映画", "試写会"]);
        assert_eq!(v.reason(), "excluded by 映画, 試写会");
        let v = filter().check("明日の天気", "晴れ");
        assert!(!v.on_topic);
        assert_eq!(v.reason(), "no include term matched");
    }

    #[test]
    fn no_include_terms_means_everything_but_excludes() {
        let f = TopicFilter::new::<&str>(&[], &["映画"]).unwrap();
        assert!(f.check("明日の天気", "").on_topic);
        assert!(!f.check("映画の話", "").on_topic);
        assert!(TopicFilter::default().check("x", "y").on_topic);
    }

    #[test]
    fn bad_terms_are_refused() {
        assert!(
            check_term("re:(")
                .unwrap_err()
                .contains("regular expression")
        );
        assert!(check_term("re:a*").unwrap_err().contains("empty"));
        assert!(check_term("  ").is_err());
        assert!(check_term("サイバー").is_ok());
    }
}
