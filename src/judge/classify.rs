//! Learned categories: a linear classifier over character and word n-grams.
//!
//! Keyword rules decide the clear cases; this model decides the rest from labeled
//! examples. It is trained from scratch at every start (and on `categorize --train`), so
//! training must take a fraction of a second even with thousands of articles.
//!
//! Features are n-grams of the [`fold`]ed text: runs of kana, kanji and hangul are cut
//! into character 1- to 3-grams, since no dictionary is available to find words there;
//! words of space-separated scripts give unigrams and bigrams. Title n-grams count one and
//! a half times: a headline names the subject in few words, but editors' titles also
//! tease. The counts are weighted by sublinear TF times smoothed IDF and normalized to unit
//! length, then one L2-loss linear SVM per label (one-vs-rest, dual coordinate descent with
//! shrinking, the method of liblinear) is fitted, the labels on parallel threads. C is
//! lower than scikit-learn's default of 1: with twenty examples a label, and with editors
//! who do not always agree with themselves, a wider margin generalizes better, and it
//! converges in fewer passes. N-grams are keyed by a 64-bit hash so that no string is
//! stored; the names shown in [`Prediction::features`] are recovered from the document.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use super::text::{fold, is_cjk, is_word_char};
use unicode_normalization::{IsNormalized, is_nfkc_quick};

/// An article to categorize or learn from.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub title: &'a str,
    pub body: &'a str,
}

/// The chosen label for one article.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index into the labels given to [`Classifier::train`].
    pub label: usize,
    /// Softmax over the labels' SVM margins scaled by [`MARGIN_SCALE`]: a relative
    /// confidence in [0, 1] (the labels with examples sum to 1), not a calibrated
    /// probability. 1.0 when only one label has examples.
    pub score: f64,
    /// The n-grams of the article that pushed most towards `label` (weight × feature
    /// value), strongest first, as folded text; word bigrams are joined by a space.
    pub features: Vec<(String, f64)>,
}

/// Knobs of the model. [`Options::default`] is what [`Classifier::train`] uses; the other
/// values exist to measure alternatives on new data.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Shortest and longest character n-gram cut from kana/kanji/hangul runs.
    pub cjk_ngrams: (usize, usize),
    /// Word bigrams besides unigrams for space-separated scripts.
    pub word_bigrams: bool,
    /// How many times each title n-gram is counted; not positive: the title is left out.
    pub title_weight: f32,
    /// SVM cost: higher fits the examples more closely. Not positive and finite: 0.25.
    pub c: f64,
    /// What the SVM minimizes.
    pub loss: Loss,
    /// How many features [`Prediction::features`] lists.
    pub explain: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cjk_ngrams: (1, 3),
            word_bigrams: true,
            title_weight: 1.5,
            c: 0.25,
            loss: Loss::SquaredHinge,
            explain: 5,
        }
    }
}

/// The SVM's loss on examples inside the margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// max(0, 1 − y·f(x))², as scikit-learn's `LinearSVC` by default.
    SquaredHinge,
    /// max(0, 1 − y·f(x)).
    Hinge,
}

/// Margins of a linear SVM on unit-length vectors are mostly within ±1.5; this spreads
/// them so that a clear winner gets a score near 1 rather than near 1/labels.
pub const MARGIN_SCALE: f64 = 3.0;

/// Articles are cut here (at a character boundary) so that a runaway page costs bounded
/// time; the start of an article carries its subject.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The optimizer stops at this projected-gradient gap. liblinear's default is 0.1; on the
/// sets measured, 0.5 chose the same labels (within ±0.2 points of accuracy) in a fifth
/// fewer passes, and training time is what a daemon start waits for.
const EPSILON: f64 = 0.5;
const MAX_EPOCHS: usize = 1000;

/// A trained model: fixed once built, cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Classifier {
    options: Options,
    labels: usize,
    vocab: HashMap<u64, u32, BuildHasherDefault<HashedKey>>,
    idf: Vec<f32>,
    /// One model per label that had examples; others are never predicted.
    models: Vec<LabelModel>,
}

#[derive(Debug, Clone)]
struct LabelModel {
    label: usize,
    /// Empty when this is the only label with examples: nothing to separate it from.
    weights: Vec<f32>,
    bias: f32,
}

impl Classifier {
    /// Trains on `examples` (an article and the index of its label in `labels`) with
    /// [`Options::default`]. `None` when there are no usable examples.
    pub fn train(labels: &[String], examples: &[(Doc<'_>, usize)]) -> Option<Classifier> {
        Self::train_with(labels, examples, &Options::default())
    }

    /// [`Classifier::train`] with other options. Examples whose index is not below
    /// `labels.len()` are ignored.
    pub fn train_with(
        labels: &[String],
        examples: &[(Doc<'_>, usize)],
        options: &Options,
    ) -> Option<Classifier> {
        let examples: Vec<(Doc<'_>, usize)> = examples
            .iter()
            .filter(|(_, l)| *l < labels.len())
            .copied()
            .collect();
        if examples.is_empty() {
            return None;
        }
        let docs: Vec<Doc<'_>> = examples.iter().map(|(d, _)| *d).collect();
        let chunks: Vec<Counts> = parallel(docs.chunks(CHUNK).collect(), |docs| {
            Counts::of(docs, options)
        });

        // Ids in order of first occurrence, chunk by chunk: the same for any number of
        // threads, so the model is too.
        let mut vocab: HashMap<u64, u32, BuildHasherDefault<HashedKey>> = HashMap::default();
        let mut df: Vec<u32> = Vec::new();
        let mut rows = Rows::default();
        let nnz: usize = chunks.iter().map(|c| c.ids.len()).sum();
        rows.ids.reserve_exact(nnz);
        rows.values.reserve_exact(nnz);
        rows.start.reserve_exact(docs.len());
        for chunk in &chunks {
            let global: Vec<u32> = chunk
                .hashes
                .iter()
                .map(|&h| {
                    let next = df.len() as u32;
                    let id = *vocab.entry(h).or_insert(next);
                    if id == next {
                        df.push(0);
                    }
                    id
                })
                .collect();
            for &j in &chunk.ids {
                let id = global[j as usize];
                df[id as usize] += 1;
                rows.ids.push(id);
            }
            let offset = rows.values.len();
            rows.start.extend(chunk.start.iter().map(|s| s + offset));
            rows.values.extend(&chunk.counts);
        }
        // Smoothed IDF, as scikit-learn computes it, so that a term in every document
        // still counts a little.
        let n = rows.len() as f64;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32)
            .collect();
        rows.weigh(&idf);

        let mut present: Vec<usize> = examples.iter().map(|(_, l)| *l).collect();
        present.sort_unstable();
        present.dedup();
        let models = if present.len() == 1 {
            vec![LabelModel {
                label: present[0],
                weights: Vec::new(),
                bias: 0.0,
            }]
        } else {
            parallel(present, |label| {
                let y: Vec<f32> = examples
                    .iter()
                    .map(|(_, l)| if *l == label { 1.0 } else { -1.0 })
                    .collect();
                let c = if options.c > 0.0 && options.c.is_finite() {
                    options.c
                } else {
                    Options::default().c
                };
                let (weights, bias) = svm(&rows, &y, idf.len(), c, options.loss);
                LabelModel {
                    label,
                    weights,
                    bias,
                }
            })
        };
        Some(Classifier {
            options: options.clone(),
            labels: labels.len(),
            vocab,
            idf,
            models,
        })
    }

    /// The label of `doc`. Any text is accepted; an article with no known n-gram gets the
    /// label favoured by the biases alone.
    pub fn predict(&self, doc: Doc<'_>) -> Prediction {
        let (ids, values) = self.vectorize(doc);
        let margins: Vec<f64> = self
            .models
            .iter()
            .map(|m| {
                if m.weights.is_empty() {
                    return 0.0;
                }
                f64::from(sparse_dot(&m.weights, &ids, &values) + m.bias)
            })
            .collect();
        let mut best = 0;
        for (k, &m) in margins.iter().enumerate() {
            if m > margins[best] {
                best = k;
            }
        }
        let top = margins[best];
        let total: f64 = margins
            .iter()
            .map(|&m| ((m - top) * MARGIN_SCALE).exp())
            .sum();
        let model = &self.models[best];
        Prediction {
            label: model.label,
            score: (1.0 / total).clamp(0.0, 1.0),
            features: self.explain(doc, model, &ids, &values),
        }
    }

    /// The number of labels the model was trained with (including those without examples).
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// The number of distinct n-grams seen in training.
    pub fn vocabulary_size(&self) -> usize {
        self.idf.len()
    }

    /// Known features of `doc` as sorted ids and their unit-length TF-IDF values.
    fn vectorize(&self, doc: Doc<'_>) -> (Vec<u32>, Vec<f32>) {
        let mut found: Vec<(u32, f32)> = Vec::new();
        for_each_gram(doc, &self.options, &mut |h, weight| {
            if let Some(&id) = self.vocab.get(&h) {
                found.push((id, weight));
            }
        });
        found.sort_unstable_by_key(|x| x.0);
        let mut known: Vec<(u32, f32)> = Vec::with_capacity(found.len());
        for (id, c) in found {
            match known.last_mut() {
                Some(last) if last.0 == id => last.1 += c,
                _ => known.push((id, c)),
            }
        }
        for (id, c) in &mut known {
            *c = tf(*c) * self.idf[*id as usize];
        }
        let norm = known.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        known.into_iter().map(|(j, v)| (j, v * scale)).unzip()
    }

    fn explain(
        &self,
        doc: Doc<'_>,
        model: &LabelModel,
        ids: &[u32],
        values: &[f32],
    ) -> Vec<(String, f64)> {
        if self.options.explain == 0 {
            return Vec::new();
        }
        let mut weighed: Vec<(u32, f64)> = ids
            .iter()
            .zip(values)
            .map(|(&j, &v)| {
                let w = if model.weights.is_empty() {
                    1.0
                } else {
                    model.weights[j as usize]
                };
                (j, f64::from(w * v))
            })
            .filter(|x| x.1 > 0.0)
            .collect();
        // Ties broken by id keep the list deterministic.
        weighed.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // Overlapping character n-grams repeat each other ("通販", "通", "販"): more
        // candidates are named than shown, and only the longest of nested ones is listed.
        weighed.truncate(self.options.explain.saturating_mul(4));
        let mut names: HashMap<u32, String> = HashMap::new();
        for text in [doc.title, doc.body] {
            let folded = fold_field(text);
            grams(&folded, &self.options, &mut |h, span| {
                if let Some(&j) = self.vocab.get(&h)
                    && weighed.iter().any(|w| w.0 == j)
                {
                    names.entry(j).or_insert_with(|| span.name(&folded));
                }
            });
        }
        let mut shown: Vec<(String, f64)> = Vec::with_capacity(self.options.explain);
        for (j, w) in weighed {
            if shown.len() == self.options.explain {
                break;
            }
            let Some(name) = names.remove(&j) else {
                continue;
            };
            if shown.iter().any(|(s, _)| s.contains(name.as_str())) {
                continue;
            }
            // A longer n-gram replaces the part of it listed before: "攻撃" over "攻".
            match shown.iter_mut().find(|(s, _)| name.contains(s.as_str())) {
                Some(part) => *part = (name, w),
                None => shown.push((name, w)),
            }
        }
        shown.sort_by(|a, b| b.1.total_cmp(&a.1));
        shown
    }
}

fn tf(count: f32) -> f32 {
    1.0 + count.ln()
}

/// Sparse rows of unit-length TF-IDF vectors.
#[derive(Default)]
struct Rows {
    start: Vec<usize>,
    ids: Vec<u32>,
    values: Vec<f32>,
}

impl Rows {
    /// Weighs the term frequencies in `values` by IDF and makes rows unit length.
    fn weigh(&mut self, idf: &[f32]) {
        for (v, &j) in self.values.iter_mut().zip(&self.ids) {
            *v *= idf[j as usize];
        }
        for i in 0..self.len() {
            let from = self.start[i];
            let to = self.start.get(i + 1).copied().unwrap_or(self.ids.len());
            let row = &mut self.values[from..to];
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|v| *v /= norm);
            }
        }
    }

    fn len(&self) -> usize {
        self.start.len()
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let from = self.start[i];
        let to = self.start.get(i + 1).copied().unwrap_or(self.ids.len());
        (&self.ids[from..to], &self.values[from..to])
    }
}

/// L2-regularized linear SVM by dual coordinate descent with shrinking (Hsieh et al.
/// 2008, the solver of liblinear), with a bias feature of value 1. Returns the weights and
/// the bias.
fn svm(rows: &Rows, y: &[f32], dim: usize, c: f64, loss: Loss) -> (Vec<f32>, f32) {
    let l = rows.len();
    // The squared hinge puts C in the diagonal and leaves alpha unbounded above.
    let (diag, upper) = match loss {
        Loss::SquaredHinge => (0.5 / c, f64::INFINITY),
        Loss::Hinge => (0.0, c),
    };
    let mut w = vec![0f32; dim];
    let mut b = 0f64;
    let mut alpha = vec![0f64; l];
    let qd: Vec<f64> = (0..l)
        .map(|i| {
            let (_, v) = rows.row(i);
            diag + 1.0 + v.iter().map(|&x| f64::from(x * x)).sum::<f64>()
        })
        .collect();
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut pg_max_old, mut pg_min_old) = (f64::INFINITY, f64::NEG_INFINITY);
    for _ in 0..MAX_EPOCHS {
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for s in 0..active {
            let t = s + (rng.next() % (active - s) as u64) as usize;
            index.swap(s, t);
        }
        let mut s = 0;
        while s < active {
            let i = index[s];
            let yi = f64::from(y[i]);
            let (ids, vals) = rows.row(i);
            let dot = sparse_dot(&w, ids, vals);
            let g = yi * (f64::from(dot) + b) - 1.0 + alpha[i] * diag;
            let mut pg = g;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    // At a bound and pushed against it: leave it out until the final check.
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                pg = g.min(0.0);
            } else if alpha[i] >= upper {
                if g < pg_min_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                pg = g.max(0.0);
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).clamp(0.0, upper);
                let d = (alpha[i] - old) * yi;
                let df = d as f32;
                for (&j, &x) in ids.iter().zip(vals) {
                    w[j as usize] += df * x;
                }
                b += d;
            }
            s += 1;
        }
        if pg_max - pg_min <= EPSILON {
            if active == l {
                break;
            }
            // Converged on the active set: check once more on all examples.
            active = l;
            pg_max_old = f64::INFINITY;
            pg_min_old = f64::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 {
            f64::NEG_INFINITY
        } else {
            pg_min
        };
    }

    (w, b as f32)
}

/// Four running sums instead of one: the additions no longer wait on each other, which
/// makes the optimizer's inner loop several times faster.
fn sparse_dot(w: &[f32], ids: &[u32], vals: &[f32]) -> f32 {
    let mut sum = [0f32; 4];
    let mut ids4 = ids.chunks_exact(4);
    let mut vals4 = vals.chunks_exact(4);
    for (i, v) in (&mut ids4).zip(&mut vals4) {
        for k in 0..4 {
            sum[k] += w[i[k] as usize] * v[k];
        }
    }
    let rest: f32 = ids4
        .remainder()
        .iter()
        .zip(vals4.remainder())
        .map(|(&j, &x)| w[j as usize] * x)
        .sum();
    (sum[0] + sum[1]) + (sum[2] + sum[3]) + rest
}

/// Fixed-seed generator for the optimizer's visiting order: same data, same model.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Documents are featurized in chunks of this many, in parallel when there are several.
const CHUNK: usize = 256;

/// The n-gram counts of a run of documents, with ids local to the run.
struct Counts {
    /// The hash of each local id.
    hashes: Vec<u64>,
    /// Where each document's entries begin in `ids` and `counts`.
    start: Vec<usize>,
    ids: Vec<u32>,
    /// Sublinear term frequency of the title-weighted occurrences.
    counts: Vec<f32>,
}

impl Counts {
    fn of(docs: &[Doc<'_>], options: &Options) -> Counts {
        let mut local: HashMap<u64, u32, BuildHasherDefault<HashedKey>> = HashMap::default();
        let mut out = Counts {
            hashes: Vec::new(),
            start: Vec::with_capacity(docs.len()),
            ids: Vec::new(),
            counts: Vec::new(),
        };
        // Dense per-id tallies, reset after each document: cheaper than sorting its n-grams.
        let mut tally: Vec<f32> = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        for doc in docs {
            out.start.push(out.ids.len());
            for_each_gram(*doc, options, &mut |h, weight| {
                let next = out.hashes.len() as u32;
                let id = *local.entry(h).or_insert(next);
                if id == next {
                    out.hashes.push(h);
                    tally.push(0.0);
                }
                if tally[id as usize] == 0.0 {
                    seen.push(id);
                }
                tally[id as usize] += weight;
            });
            for id in seen.drain(..) {
                out.ids.push(id);
                out.counts.push(tf(tally[id as usize]));
                tally[id as usize] = 0.0;
            }
        }
        out
    }
}

/// Every n-gram hash of the title and body, with the weight of one occurrence.
fn for_each_gram(doc: Doc<'_>, options: &Options, emit: &mut impl FnMut(u64, f32)) {
    // A non-positive weight would break the tallies; such a title is just left out.
    let title = if options.title_weight > 0.0 {
        options.title_weight
    } else {
        0.0
    };
    for (text, weight) in [(doc.title, title), (doc.body, 1.0)] {
        if weight > 0.0 {
            grams(&fold_field(text), options, &mut |h, _| emit(h, weight));
        }
    }
}

/// `work` applied to every item, on up to as many threads as there are cores; results in
/// the order of `items`. Each thread's share sits behind a lock that whichever thread comes
/// first empties, so a thread that cannot be started (or starts late) costs time, not items.
fn parallel<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(work).collect();
    }
    let mut shares: Vec<Vec<(usize, T)>> = (0..threads).map(|_| Vec::new()).collect();
    for (k, item) in items.into_iter().enumerate() {
        shares[k % threads].push((k, item));
    }
    let shares: Vec<Mutex<Vec<(usize, T)>>> = shares.into_iter().map(Mutex::new).collect();
    let run = |share: &Mutex<Vec<(usize, T)>>| -> Vec<(usize, R)> {
        let mine = std::mem::take(&mut *share.lock().unwrap_or_else(|e| e.into_inner()));
        mine.into_iter().map(|(k, item)| (k, work(item))).collect()
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares[1..]
            .iter()
            .filter_map(|share| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || run(share))
                    .ok()
            })
            .collect();
        let mut done: Vec<(usize, R)> = shares.iter().flat_map(&run).collect();
        for handle in handles {
            done.extend(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        done
    });
    done.sort_unstable_by_key(|x| x.0);
    done.into_iter().map(|x| x.1).collect()
}

/// [`fold`], skipping the normalization pass for text already in NFKC (most text):
/// identical output, a fraction of the time.
fn fold_field(text: &str) -> String {
    let mut end = text.len().min(MAX_FIELD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else if text.chars().all(stable) || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        // Per character, as `fold` does: `str::to_lowercase` would treat a final sigma apart.
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if is_cjk(c) {
                // Caseless; the general lookup is the slow part of folding Japanese.
                out.push(c);
            } else {
                out.extend(c.to_lowercase());
            }
        }
        out
    } else {
        fold(text)
    }
}

/// Characters that NFKC leaves alone and that never combine with a neighbour: most of
/// Japanese text. Checking these by range is much quicker than the general lookup.
fn stable(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x7F
        | 0x3001..=0x3002   // 、。
        | 0x300C..=0x3011   // 「」『』【】
        | 0x3041..=0x3096   // hiragana, without the combining sound marks
        | 0x30A1..=0x30FA   // katakana
        | 0x30FC            // ー
        | 0x4E00..=0x9FFF   // CJK unified ideographs
    )
}

/// Where an n-gram was found in the folded text, to name it.
#[derive(Clone, Copy)]
enum Span {
    Chars(usize, usize),
    Words(usize, usize, usize, usize),
}

impl Span {
    fn name(self, text: &str) -> String {
        match self {
            Span::Chars(a, b) => text[a..b].to_string(),
            Span::Words(a, b, c, d) => format!("{} {}", &text[a..b], &text[c..d]),
        }
    }
}

/// Calls `emit` with the hash and place of every n-gram of `text` (already folded).
/// A word bigram hashes like its name, the two words joined by one space.
fn grams(text: &str, options: &Options, emit: &mut impl FnMut(u64, Span)) {
    let (lo, hi) = (options.cjk_ngrams.0.max(1), options.cjk_ngrams.1);
    let mut run: Vec<(usize, char)> = Vec::new();
    let mut previous: Option<(usize, usize, u64)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if is_cjk(c) {
            run.clear();
            run.push((start, c));
            while let Some(&(p, c)) = chars.peek() {
                if !is_cjk(c) {
                    break;
                }
                run.push((p, c));
                chars.next();
            }
            let end_of = |k: usize| run[k].0 + run[k].1.len_utf8();
            for k in 0..run.len() {
                // The n-grams starting here share their prefix hash.
                let mut h = HASH_START;
                for (n, &(_, c)) in run[k..].iter().take(hi).enumerate() {
                    h = hash_char(h, c);
                    if n + 1 >= lo {
                        emit(h, Span::Chars(run[k].0, end_of(k + n)));
                    }
                }
            }
            // A word on either side of Japanese text is not its neighbour.
            previous = None;
        } else if is_word_char(c) {
            let mut end = start + c.len_utf8();
            let mut len = 1;
            let mut h = hash_char(HASH_START, c);
            while let Some(&(p, c)) = chars.peek() {
                if !is_word_char(c) {
                    break;
                }
                end = p + c.len_utf8();
                len += 1;
                h = hash_char(h, c);
                chars.next();
            }
            // One-letter tokens ("a", the "s" of "it's") say nothing about the subject.
            if len < 2 {
                continue;
            }
            emit(h, Span::Chars(start, end));
            if options.word_bigrams
                && let Some((a, b, ph)) = previous
            {
                let joined = hash_str(hash_char(ph, ' '), &text[start..end]);
                emit(joined, Span::Words(a, b, start, end));
            }
            previous = Some((start, end, h));
        }
    }
}

const HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over whole characters: an n-gram's hash is its name's, `hash_str("a b")` equals
/// hashing "a", then ' ', then "b", and the hashes of a run's n-grams extend each other.
fn hash_char(state: u64, c: char) -> u64 {
    (state ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
}

fn hash_str(state: u64, text: &str) -> u64 {
    text.chars().fold(state, hash_char)
}

/// The keys are hashes already; mixing once more is enough for the table.
#[derive(Default)]
struct HashedKey(u64);

impl Hasher for HashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes
            .iter()
            .fold(self.0 ^ HASH_START, |h, &b| hash_char(h, char::from(b)));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn doc<'a>(title: &'a str, body: &'a str) -> Doc<'a> {
        Doc { title, body }
    }

    fn sample() -> Vec<(Doc<'static>, usize)> {
        vec![
            (
                doc(
                    "通販サイトでカード情報流出",
                    "ネットショップの決済画面が改ざんされ、クレジットカード情報が盗まれた。",
                ),
                0,
            ),
            (
                doc(
                    "偽通販サイトに注意",
                    "通販サイトで注文した商品が届かない。カード決済の被害。",
                ),
                0,
            ),
            (
                doc(
                    "ランサムウェア被害で工場停止",
                    "サーバがランサムウェアに感染し、ファイルが暗号化された。",
                ),
                1,
            ),
            (
                doc(
                    "病院にサイバー攻撃",
                    "電子カルテが停止、ランサムウェアによる攻撃とみられる。",
                ),
                1,
            ),
            (
                doc(
                    "Team wins the cup final",
                    "The striker scored twice as the home team won the match.",
                ),
                2,
            ),
            (
                doc(
                    "Champion wins gold",
                    "The athlete won the race and the match in a record time.",
                ),
                2,
            ),
        ]
    }

    #[test]
    fn no_examples_no_model() {
        assert!(Classifier::train(&labels(&["a", "b"]), &[]).is_none());
        assert!(Classifier::train(&[], &sample()).is_none());
    }

    #[test]
    fn learns_and_names_features_of_the_document() {
        let model = Classifier::train(&labels(&["shop", "attack", "sport"]), &sample()).unwrap();
        let d = doc("ランサムウェアの攻撃", "工場のサーバが暗号化された");
        let p = model.predict(d);
        assert_eq!(p.label, 1);
        assert!(p.score > 0.34 && p.score <= 1.0, "{}", p.score);
        assert!(!p.features.is_empty());
        let folded = fold(&format!("{}\n{}", d.title, d.body));
        for (name, w) in &p.features {
            assert!(folded.contains(name.as_str()), "{name}");
            assert!(*w > 0.0);
        }
        assert!(p.features.windows(2).all(|w| w[0].1 >= w[1].1));

        let p = model.predict(doc("Cup final", "The home team scored and won the match"));
        assert_eq!(p.label, 2);
        let names: Vec<&str> = p.features.iter().map(|f| f.0.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| "cup final the home team scored and won the match".contains(n))
        );
    }

    #[test]
    fn label_without_examples_is_never_predicted() {
        let model = Classifier::train(&labels(&["shop", "empty", "attack", "sport"]), &{
            let mut s = sample();
            for e in &mut s {
                if e.1 > 0 {
                    e.1 += 1;
                }
            }
            s
        })
        .unwrap();
        for (d, _) in sample() {
            assert_ne!(model.predict(d).label, 1);
        }
        assert_ne!(model.predict(doc("", "")).label, 1);
    }

    #[test]
    fn single_label_is_always_chosen() {
        let examples: Vec<_> = sample().into_iter().filter(|e| e.1 == 2).collect();
        let model = Classifier::train(&labels(&["a", "b", "c"]), &examples).unwrap();
        let p = model.predict(doc("ランサムウェア", "anything at all"));
        assert_eq!((p.label, p.score), (2, 1.0));
    }

    #[test]
    fn out_of_range_labels_are_ignored() {
        let examples = vec![(doc("a title", "a body"), 7)];
        assert!(Classifier::train(&labels(&["x"]), &examples).is_none());
    }

    #[test]
    fn deterministic() {
        let names = labels(&["shop", "attack", "sport"]);
        let a = Classifier::train(&names, &sample()).unwrap();
        let b = Classifier::train(&names, &sample()).unwrap();
        for d in [
            doc("カード情報の流出", "決済"),
            doc("match", "won the race"),
            doc("", ""),
        ] {
            assert_eq!(a.predict(d), b.predict(d));
        }
    }

    #[test]
    fn any_input_is_accepted() {
        let model = Classifier::train(&labels(&["shop", "attack", "sport"]), &sample()).unwrap();
        let huge = "攻撃".repeat(200_000) + &"word ".repeat(100_000);
        let garbage: String = (0u32..0x3_0000)
            .filter_map(char::from_u32)
            .step_by(7)
            .collect();
        for d in [
            doc("", ""),
            doc(" \n\t", "。、!?"),
            doc(&huge, &huge),
            doc(&garbage, &garbage),
            doc("\u{0}\u{FFFF}\u{10FFFF}", "ｶﾞｰﾄﾞ ﾊﾟﾀｰﾝ ＡＢＣ ㍻ ﬁ"),
            doc("a", "b c d"),
        ] {
            let p = model.predict(d);
            assert!(p.label < 3);
            assert!((0.0..=1.0).contains(&p.score));
        }
        let weird = vec![
            (doc("", ""), 0),
            (doc(&garbage, ""), 1),
            (doc("", &huge), 1),
        ];
        let m = Classifier::train(&labels(&["x", "y"]), &weird).unwrap();
        assert!(m.predict(doc("", "")).label < 2);
    }

    #[test]
    fn grams_of_mixed_text() {
        let mut seen = Vec::new();
        let text = fold("Emotetに感染 the Big cat");
        grams(&text, &Options::default(), &mut |h, span| {
            let name = span.name(&text);
            assert_eq!(
                h,
                hash_str(HASH_START, &name),
                "hash of {name} matches its name"
            );
            seen.push(name);
        });
        for want in [
            "emotet",
            "に",
            "に感染",
            "感染",
            "the",
            "big cat",
            "the big",
        ] {
            assert!(seen.iter().any(|s| s == want), "{want} in {seen:?}");
        }
        assert!(
            !seen
                .iter()
                .any(|s| s.contains("emotet ") || s == "に感染 the")
        );
    }

    #[test]
    fn folding_shortcut_matches_fold() {
        for s in [
            "ABC def",
            "ＡＢＣ ｶﾞｰﾄﾞ",
            "攻撃を受けた。",
            "ÉCOLE ﬁ",
            "Straße İstanbul ΟΔΟΣ",
        ] {
            assert_eq!(fold_field(s), fold(s), "{s}");
        }
    }
}
