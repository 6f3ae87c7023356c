#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint(Vec<u64>);
impl Fingerprint {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![1u8];
        for x in &self.0 {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }
    pub fn from_bytes(b: &[u8]) -> Option<Fingerprint> {
        if b.first() != Some(&1) || (b.len() - 1) % 8 != 0 {
            return None;
        }
        Some(Fingerprint(
            b[1..]
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ))
    }
}
pub fn fingerprint(text: &str) -> Fingerprint {
    let t: Vec<char> = super::text::fold(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let mut v: Vec<u64> = t
        .windows(5)
        .map(|w| {
            let mut h: u64 = 0xcbf29ce484222325;
            for c in w {
                h = (h ^ *c as u64).wrapping_mul(0x100000001b3);
            }
            h
        })
        .collect();
    v.sort();
    v.dedup();
    Fingerprint(v)
}
pub fn index_keys(fp: &Fingerprint) -> Vec<u64> {
    fp.0.iter()
        .copied()
        .filter(|h| h % 16 == 0)
        .take(40)
        .collect()
}
pub struct Verdict {
    pub duplicate: bool,
    pub score: f64,
}
pub fn compare(a: &Fingerprint, b: &Fingerprint) -> Verdict {
    let inter = a.0.iter().filter(|x| b.0.binary_search(x).is_ok()).count();
    let small = a.0.len().min(b.0.len()).max(1);
    let score = inter as f64 / small as f64;
    Verdict {
        duplicate: score >= 0.5,
        score,
    }
}
