//! Accuracy of the learned categorizer on the labeled sets in
//! `tests/fixtures/judge/categories` (made by `make_categories.py` there): a Japanese
//! security-news blog's four categories and six English general-news sections.
//!
//! The floors sit just under what the model measures, so a change that makes it worse
//! fails here; `scripts/classify_baseline.py` compares it with scikit-learn.

use kawaraban::judge::classify::{Classifier, Doc};
use serde::Deserialize;

#[derive(Deserialize)]
struct Article {
    title: String,
    body: String,
    category: String,
}

fn load(name: &str) -> Vec<Article> {
    let path = format!(
        "{}/tests/fixtures/judge/categories/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}: {l}")))
        .collect()
}

/// Trains on the first `per_label` articles of each category of `train` (all when
/// `None`) and returns the accuracy on `test`.
fn accuracy(train: &str, test: &str, per_label: Option<usize>) -> f64 {
    let (train, test) = (load(train), load(test));
    let mut labels: Vec<String> = Vec::new();
    let mut taken: Vec<usize> = Vec::new();
    let mut examples = Vec::new();
    for a in &train {
        let k = match labels.iter().position(|l| *l == a.category) {
            Some(k) => k,
            None => {
                labels.push(a.category.clone());
                taken.push(0);
                labels.len() - 1
            }
        };
        if per_label.is_none_or(|n| taken[k] < n) {
            taken[k] += 1;
            examples.push((
                Doc {
                    title: &a.title,
                    body: &a.body,
                },
                k,
            ));
        }
    }
    let model = Classifier::train(&labels, &examples).expect("examples");
    let right = test
        .iter()
        .filter(|a| {
            let p = model.predict(Doc {
                title: &a.title,
                body: &a.body,
            });
            labels[p.label] == a.category
        })
        .count();
    right as f64 / test.len() as f64
}

#[test]
fn japanese_security_news_with_twenty_examples_a_category() {
    let acc = accuracy(
        "security-ja-train.jsonl",
        "security-ja-test.jsonl",
        Some(20),
    );
    assert!(acc >= FLOOR_JA_20, "accuracy {acc}");
}

#[test]
fn japanese_security_news() {
    let acc = accuracy("security-ja-train.jsonl", "security-ja-test.jsonl", None);
    assert!(acc >= FLOOR_JA, "accuracy {acc}");
}

#[test]
fn english_news_with_twenty_examples_a_category() {
    let acc = accuracy("news-en-train.jsonl", "news-en-test.jsonl", Some(20));
    assert!(acc >= FLOOR_EN_20, "accuracy {acc}");
}

#[test]
fn english_news() {
    let acc = accuracy("news-en-train.jsonl", "news-en-test.jsonl", None);
    assert!(acc >= FLOOR_EN, "accuracy {acc}");
}

#[test]
fn shipped_examples_categorize_the_japanese_test_set() {
    let path = format!(
        "{}/config/examples/security-ja.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let shipped: Vec<Article> = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("example"))
        .collect();
    let labels: Vec<String> = ["ショッピング", "サイバー攻撃", "不正アクセス", "ニュース"]
        .map(String::from)
        .to_vec();
    let examples: Vec<_> = shipped
        .iter()
        .map(|a| {
            let k = labels
                .iter()
                .position(|l| *l == a.category)
                .expect("known category");
            (
                Doc {
                    title: &a.title,
                    body: &a.body,
                },
                k,
            )
        })
        .collect();
    for (k, label) in labels.iter().enumerate() {
        assert_eq!(examples.iter().filter(|e| e.1 == k).count(), 20, "{label}");
    }
    let model = Classifier::train(&labels, &examples).expect("examples");
    let test = load("security-ja-test.jsonl");
    let right = test
        .iter()
        .filter(|a| {
            let p = model.predict(Doc {
                title: &a.title,
                body: &a.body,
            });
            labels[p.label] == a.category
        })
        .count();
    let acc = right as f64 / test.len() as f64;
    assert!(acc >= FLOOR_JA_20, "accuracy {acc}");
}

// Measured 0.867 / 0.890 / 0.894 / 0.929 (shipped examples 0.873), less about 1.5 points:
// room for harmless changes, none for a real loss. scikit-learn's TF-IDF + LinearSVC
// measures 0.860 / 0.863 / 0.859 / 0.917 on the same splits.
const FLOOR_JA_20: f64 = 0.85;
const FLOOR_JA: f64 = 0.875;
const FLOOR_EN_20: f64 = 0.88;
const FLOOR_EN: f64 = 0.915;
