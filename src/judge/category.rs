//! Filing each post under exactly one category: decisive keyword rules first, then the
//! classifier learned from labeled examples, then the default category.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::classify::{Classifier, Doc};
use super::text::fold;
use super::topic::Terms;
use crate::config::CategoryConfig;

/// The category a post is filed under, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryChoice {
    pub name: String,
    pub slug: String,
    /// 1 for a keyword rule or the operator's choice; the classifier's confidence else.
    pub score: f64,
    pub why: String,
    /// Set by the operator: never overwritten by a rejudge.
    #[serde(default)]
    pub manual: bool,
}

/// One labeled example: what the classifier learns from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    pub category: String,
}

/// The classifier decides only when its confidence is above this many times an even
/// split between the categories it learned.
const UNSURE_FACTOR: f64 = 1.25;

/// Occurrences of one keyword counted at most: a long article repeating a word should
/// not outweigh a headline.
const KEYWORD_CAP: usize = 5;

struct Category {
    name: String,
    slug: String,
    keywords: Terms,
}

/// The configured categories with their rules and trained classifier.
pub struct Categorizer {
    cats: Vec<Category>,
    /// The category for what nothing else fits; `None` when none is marked default
    /// (`categorize --train`), and then the classifier always decides.
    default: Option<usize>,
    model: Option<Classifier>,
    trained_on: usize,
}

impl Categorizer {
    /// Builds the rules and trains the classifier. `examples` name categories by name;
    /// unknown names are an error naming the example's origin.
    pub fn new(configs: &[CategoryConfig], examples: &[Example]) -> Result<Categorizer, String> {
        let mut cats = Vec::with_capacity(configs.len());
        for c in configs {
            cats.push(Category {
                name: c.name.clone(),
                slug: c.slug(),
                keywords: Terms::new(&c.keywords)
                    .map_err(|e| format!("category {:?}: {e}", c.name))?,
            });
        }
        let default = configs.iter().position(|c| c.default);
        let labels: Vec<String> = cats.iter().map(|c| c.name.clone()).collect();
        let mut labeled = Vec::with_capacity(examples.len());
        for (i, e) in examples.iter().enumerate() {
            let Some(label) = labels.iter().position(|l| *l == e.category) else {
                return Err(format!(
                    "example #{} names category {:?}, which is not configured (configured: {})",
                    i + 1,
                    e.category,
                    labels.join(", ")
                ));
            };
            labeled.push((
                Doc {
                    title: &e.title,
                    body: &e.body,
                },
                label,
            ));
        }
        // Examples of one category alone teach nothing about telling categories apart
        // (one post filed by hand would draw every post without keywords after it).
        let mut present: Vec<usize> = labeled.iter().map(|(_, l)| *l).collect();
        present.sort_unstable();
        present.dedup();
        let model = if cats.is_empty() || present.len() < 2 {
            None
        } else {
            Classifier::train(&labels, &labeled)
        };
        Ok(Categorizer {
            cats,
            default,
            model,
            trained_on: labeled.len(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.cats.is_empty()
    }

    /// How many examples the classifier learned from (0: rules and default only).
    pub fn trained_on(&self) -> usize {
        if self.model.is_some() {
            self.trained_on
        } else {
            0
        }
    }

    /// (name, slug) of every category, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cats.iter().map(|c| (c.name.as_str(), c.slug.as_str()))
    }

    /// The category for a post; `None` only when no categories are configured.
    pub fn decide(&self, title: &str, body: &str) -> Option<CategoryChoice> {
        if self.cats.is_empty() {
            return None;
        }
        if let Some(choice) = self.by_keywords(title, body) {
            return Some(choice);
        }
        if let Some(model) = &self.model {
            let p = model.predict(Doc { title, body });
            let cat = &self.cats[p.label.min(self.cats.len() - 1)];
            // Barely above an even split is no evidence (an English article against
            // Japanese examples, say): the default category is the honest answer.
            let unsure = UNSURE_FACTOR / model.labels().max(1) as f64;
            if let Some(d) = self.default.filter(|_| p.score < unsure) {
                return Some(self.choice(
                    &self.cats[d],
                    p.score,
                    format!(
                        "default: the classifier was unsure (best {} at {:.2})",
                        cat.name, p.score
                    ),
                ));
            }
            let features: Vec<String> = p
                .features
                .iter()
                .take(5)
                .map(|(f, w)| format!("{f:?} {w:.2}"))
                .collect();
            return Some(self.choice(cat, p.score, format!("classifier: {}", features.join(", "))));
        }
        let cat = &self.cats[self.default.unwrap_or(0)];
        Some(self.choice(cat, 0.0, "default: no keyword matched".into()))
    }

    /// A keyword rule decides when one category's keywords occur more often than any
    /// other's; an occurrence in the title counts twice, since headlines name what a
    /// story is about.
    fn by_keywords(&self, title: &str, body: &str) -> Option<CategoryChoice> {
        let (title, body) = (fold(title), fold(body));
        let mut scored: Vec<(usize, usize, Vec<&str>)> = Vec::new();
        for (i, c) in self.cats.iter().enumerate() {
            let in_title = c.keywords.occurrences(&title, KEYWORD_CAP);
            let in_body = c.keywords.occurrences(&body, KEYWORD_CAP);
            let score = in_title.iter().map(|(_, n)| 2 * n).sum::<usize>()
                + in_body.iter().map(|(_, n)| n).sum::<usize>();
            if score == 0 {
                continue;
            }
            let mut terms: Vec<&str> = in_title.iter().map(|(t, _)| *t).collect();
            for (t, _) in &in_body {
                if !terms.contains(t) {
                    terms.push(t);
                }
            }
            scored.push((i, score, terms));
        }
        scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let runner_up = scored.get(1).map_or(0, |s| s.1);
        let (i, score, terms) = scored.into_iter().next()?;
        (score > runner_up).then(|| {
            self.choice(
                &self.cats[i],
                1.0,
                format!("keywords: {}", terms.join(", ")),
            )
        })
    }

    fn choice(&self, cat: &Category, score: f64, why: String) -> CategoryChoice {
        CategoryChoice {
            name: cat.name.clone(),
            slug: cat.slug.clone(),
            score,
            why,
            manual: false,
        }
    }

    /// The configured category called `name`, as an operator's choice.
    pub fn manual(&self, name: &str) -> Option<CategoryChoice> {
        let cat = self
            .cats
            .iter()
            .find(|c| c.name == name || c.slug == name)?;
        Some(CategoryChoice {
            manual: true,
            ..self.choice(cat, 1.0, "set by the operator".into())
        })
    }
}

/// Reads JSON lines of examples; errors name the file and line.
pub fn read_examples(path: &Path) -> Result<Vec<Example>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the examples: {e}", path.display()))?;
    parse_examples(&text, &path.display().to_string())
}

pub fn parse_examples(text: &str, origin: &str) -> Result<Vec<Example>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<Example>(l).map_err(|e| {
                format!(
                    "{origin}:{}: expected a JSON object {{\"title\", \"body\", \"category\"}}: {e}",
                    n + 1
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Term;

    fn cat(name: &str, keywords: &[&str], default: bool) -> CategoryConfig {
        CategoryConfig {
            name: name.into(),
            slug: None,
            keywords: keywords.iter().map(|k| Term(k.to_string())).collect(),
            examples: None,
            default,
        }
    }

    fn blog() -> Vec<CategoryConfig> {
        vec![
            cat(
                "ショッピング",
                &["通販", "ECサイト", "クレジットカード"],
                false,
            ),
            cat("サイバー攻撃", &["サイバー攻撃", "DDoS", "標的型"], false),
            cat("不正アクセス", &["不正アクセス", "不正ログイン"], false),
            cat("ニュース", &[], true),
        ]
    }

    #[test]
    fn keywords_decide_and_say_which() {
        let c = Categorizer::new(&blog(), &[]).unwrap();
        let d = c
            .decide(
                "通販サイトに不正アクセス",
                "ECサイトのクレジットカード情報が流出",
            )
            .unwrap();
        assert_eq!(d.name, "ショッピング");
        assert_eq!(d.score, 1.0);
        assert!(
            d.why.contains("通販") && d.why.contains("ECサイト"),
            "{}",
            d.why
        );
        let d = c.decide("大手企業にDDoS", "サービスが停止").unwrap();
        assert_eq!(d.name, "サイバー攻撃");
    }

    #[test]
    fn ties_and_misses_fall_to_the_default_without_examples() {
        let c = Categorizer::new(&blog(), &[]).unwrap();
        let d = c
            .decide("県警が注意喚起", "サイバー攻撃と不正アクセスの相談が増加")
            .unwrap();
        assert_eq!(d.name, "ニュース");
        assert!(d.why.starts_with("default"), "{}", d.why);
        assert_eq!(c.decide("天気", "晴れ").unwrap().name, "ニュース");
    }

    #[test]
    fn examples_of_one_category_alone_train_nothing() {
        // As after an operator filed the first post by hand: no evidence against the
        // others, so what no keyword decides still goes to the default.
        let one = [Example {
            title: "政府が新たな対策方針を公表".into(),
            body: "有識者会議の報告書をもとに、法改正の検討を進める".into(),
            category: "不正アクセス".into(),
        }];
        let c = Categorizer::new(&blog(), &one).unwrap();
        assert_eq!(c.trained_on(), 0);
        assert_eq!(c.decide("天気", "晴れ").unwrap().name, "ニュース");
    }

    #[test]
    fn examples_train_a_classifier_for_what_rules_leave_open() {
        let mut ex = Vec::new();
        for i in 0..6 {
            ex.push(Example {
                title: format!("通販サイトで顧客のカード番号が流出 {i}"),
                body: "ネットショップの決済画面が改ざんされ、購入者のカード番号が盗まれた".into(),
                category: "ショッピング".into(),
            });
            ex.push(Example {
                title: format!("政府が新たな対策方針を公表 {i}"),
                body: "有識者会議の報告書をもとに、法改正の検討を進める".into(),
                category: "ニュース".into(),
            });
        }
        let c = Categorizer::new(&blog(), &ex).unwrap();
        assert_eq!(c.trained_on(), 12);
        let d = c
            .decide(
                "ネットショップで購入者のカード番号が盗まれる",
                "決済画面の改ざん",
            )
            .unwrap();
        assert_eq!(d.name, "ショッピング");
        assert!(d.why.starts_with("classifier: "), "{}", d.why);
        let bad = [Example {
            title: String::new(),
            body: String::new(),
            category: "天気".into(),
        }];
        assert!(Categorizer::new(&blog(), &bad).is_err_and(|e| e.contains("天気")));
    }

    #[test]
    fn slugs_and_manual_choices() {
        let c = Categorizer::new(&blog(), &[]).unwrap();
        let names: Vec<_> = c.names().map(|(_, s)| s.to_owned()).collect();
        assert_eq!(names[3], "%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9");
        let m = c.manual("不正アクセス").unwrap();
        assert!(m.manual && m.name == "不正アクセス");
        assert!(c.manual("天気").is_none());
        assert!(
            Categorizer::new(&[], &[])
                .unwrap()
                .decide("a", "b")
                .is_none()
        );
    }

    #[test]
    fn examples_file_errors_name_the_line() {
        let e = parse_examples(
            "{\"title\":\"a\",\"body\":\"b\",\"category\":\"x\"}\nnot json\n",
            "ex.jsonl",
        )
        .unwrap_err();
        assert!(e.starts_with("ex.jsonl:2:"), "{e}");
    }
}
