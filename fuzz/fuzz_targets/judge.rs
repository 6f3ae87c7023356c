//! Judging inputs that come from outside the code: stored fingerprints (bytes read back
//! from the store) and topic terms (regular expressions from the configuration).
#![no_main]

use kawaraban::judge::{dedup, text, topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick & 1 == 0 {
        if let Some(fp) = dedup::Fingerprint::from_bytes(rest) {
            assert_eq!(
                fp.to_bytes(),
                rest,
                "from_bytes accepted a non-canonical encoding"
            );
            let v = dedup::compare(&fp, &fp);
            assert!((0.0..=1.0).contains(&v.score), "score out of range: {v:?}");
            let other = dedup::fingerprint("A short text about 3 things, 12 people and 2024.");
            let v = dedup::compare(&fp, &other);
            assert!((0.0..=1.0).contains(&v.score), "score out of range: {v:?}");
            let _ = dedup::index_keys(&fp);
        }
        return;
    }
    // First line: include terms, second: exclude terms (separated by tabs), rest: text.
    let s = String::from_utf8_lossy(rest);
    let mut lines = s.splitn(3, '\n');
    let include: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let exclude: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split('\t')
        .filter(|t| !t.is_empty())
        .collect();
    let body = lines.next().unwrap_or("");
    for t in include.iter().chain(&exclude) {
        let _ = topic::check_term(t);
    }
    if let Ok(filter) = topic::TopicFilter::new(&include, &exclude) {
        let _ = filter.check("Title", body).reason();
        let _ = filter.excluded_by(body, body);
    }
    if let Ok(terms) = topic::Terms::new(&include) {
        let folded = text::fold(body);
        let _ = terms.matches(&folded);
        let _ = terms.occurrences(&folded, 5);
    }
    let a = dedup::fingerprint(body);
    let b = dedup::Fingerprint::from_bytes(&a.to_bytes()).expect("own encoding reads back");
    assert_eq!(a, b);
});
