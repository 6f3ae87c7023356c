//! Duplicate detection against the labeled pairs in tests/fixtures/judge/pairs/
//! (regenerate with `python3 tests/fixtures/judge/pairs/make_pairs.py`).

use kawaraban::judge::dedup::{Fingerprint, compare, fingerprint, index_keys};

struct Pair {
    a: String,
    b: String,
    duplicate: bool,
    kind: String,
}

fn pairs() -> Vec<Pair> {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/judge/pairs/pairs.jsonl"
    );
    // Beside this file, for when it is built from another manifest directory.
    let beside = std::path::Path::new(file!())
        .with_file_name("fixtures/judge/pairs/pairs.jsonl")
        .display()
        .to_string();
    let path = if std::path::Path::new(manifest).exists() {
        manifest.to_string()
    } else {
        beside
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("pair line is JSON");
            Pair {
                a: v["a"].as_str().expect("a").to_string(),
                b: v["b"].as_str().expect("b").to_string(),
                duplicate: v["duplicate"].as_bool().expect("duplicate"),
                kind: v["kind"].as_str().expect("kind").to_string(),
            }
        })
        .collect()
}

#[test]
fn labeled_pairs_f1() {
    let pairs = pairs();
    assert!(pairs.len() >= 300, "{} pairs", pairs.len());
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for p in &pairs {
        let (a, b) = (fingerprint(&p.a), fingerprint(&p.b));
        let v = compare(&a, &b);
        assert_eq!(v, compare(&b, &a), "compare is symmetric");
        match (v.duplicate, p.duplicate) {
            (true, true) => tp += 1,
            (true, false) => {
                fp += 1;
                eprintln!("false duplicate ({}), score {:.3}", p.kind, v.score);
            }
            (false, true) => {
                fn_ += 1;
                eprintln!("missed duplicate ({}), score {:.3}", p.kind, v.score);
            }
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fn_) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall);
    println!(
        "pairs {}: precision {precision:.3} recall {recall:.3} F1 {f1:.3} (fp {fp}, fn {fn_})",
        pairs.len()
    );
    assert!(f1 >= 0.98, "F1 {f1:.3}");
    assert!(precision >= 0.98, "precision {precision:.3}");
}

/// The index must lead from a story to its other copies, excerpts included; only a copy
/// whose every shared passage is shorter than the winnowing guarantee may be missed.
#[test]
fn duplicates_share_an_index_key() {
    let mut missed = Vec::new();
    let mut negatives_sharing = 0;
    let mut negatives = 0;
    for p in pairs() {
        let ka = index_keys(&fingerprint(&p.a));
        let kb = index_keys(&fingerprint(&p.b));
        assert!(ka.len() <= 100 && kb.len() <= 100);
        let shared = ka.iter().any(|k| kb.contains(k));
        if p.duplicate && !shared && p.kind != "excerpt_lead" {
            missed.push(p.kind.clone());
        }
        if !p.duplicate && matches!(p.kind.as_str(), "same_week" | "same_topic" | "unrelated") {
            negatives += 1;
            negatives_sharing += usize::from(shared);
        }
    }
    assert!(missed.is_empty(), "no shared key: {missed:?}");
    // Stories that only share a subject rarely share a key.
    assert!(
        negatives_sharing * 10 <= negatives,
        "{negatives_sharing} of {negatives}"
    );
}

#[test]
fn stored_fingerprints_compare_like_fresh_ones() {
    for p in pairs().iter().take(50) {
        let (a, b) = (fingerprint(&p.a), fingerprint(&p.b));
        let a2 = Fingerprint::from_bytes(&a.to_bytes()).expect("round trip");
        let b2 = Fingerprint::from_bytes(&b.to_bytes()).expect("round trip");
        assert_eq!(compare(&a, &b), compare(&a2, &b2));
    }
}
