#!/usr/bin/env python3
"""Compares the duplicate detector with standard baselines on a labeled pair set.

    pip install datasketch
    python3 scripts/dedup_baseline.py --pairs tests/fixtures/judge/pairs/pairs.jsonl \\
        --cmd 'kawaraban dedup --pairs'

--pairs: JSON lines {"a", "b", "duplicate"}. --cmd: reads JSON lines {"a", "b"} on stdin
and prints {"duplicate": bool, "score": x} per line.

Quality (precision / recall / F1) is measured on the pairs as given:
  * the command's own verdicts;
  * 5-shingle containment |A∩B| / min(|A|, |B|), threshold chosen as its best on the set;
  * datasketch MinHash, num_perm=128, estimated Jaccard, threshold its best on the set.
Both baselines shingle the NFKC, lower-cased text with whitespace collapsed into
character 5-grams; that is the usual setup for Japanese and works for English too.

Throughput is measured on the same pairs with both texts lengthened to about 2,000
characters (each padded with text of other pairs, the same padding for both tools), so
the figure is for article-sized input. MinHash work per pair: shingle both texts, build
both signatures (update_batch), estimate Jaccard. The command gets the same pairs,
repeated until it runs for at least --seconds, in one process.
"""

import argparse
import json
import subprocess
import sys
import time
import unicodedata

try:
    from datasketch import MinHash
except ImportError:
    sys.exit("needs datasketch: pip install datasketch")


def norm(text):
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def shingles(text, k=5):
    t = norm(text)
    if len(t) < k:
        return {t} if t else set()
    return {t[i:i + k] for i in range(len(t) - k + 1)}


def containment(a, b):
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def minhash(text):
    m = MinHash(num_perm=128)
    m.update_batch([s.encode("utf-8") for s in shingles(text)])
    return m


def prf(pred, gold):
    tp = sum(1 for p, g in zip(pred, gold) if p and g)
    fp = sum(1 for p, g in zip(pred, gold) if p and not g)
    fn = sum(1 for p, g in zip(pred, gold) if not p and g)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def best_threshold(scores, gold):
    best = (-1.0, 0.0, (0.0, 0.0, 0.0))
    for t in sorted(set(scores)):
        m = prf([s >= t for s in scores], gold)
        if m[2] > best[0]:
            best = (m[2], t, m)
    return best[1], best[2]


def lengthen(pairs, target=2000):
    """Both texts of each pair padded to ~target characters with other pairs' text."""
    pool = [p["a"] for p in pairs] + [p["b"] for p in pairs]
    out = []
    for i, p in enumerate(pairs):
        pad_a = "\n".join(pool[(i + 7 + j) % len(pool)] for j in range(8))
        pad_b = "\n".join(pool[(i + 101 + j) % len(pool)] for j in range(8))
        out.append({"a": (p["a"] + "\n" + pad_a)[:target], "b": (p["b"] + "\n" + pad_b)[:target]})
    return out


def run_cmd(cmd, pairs):
    data = "".join(json.dumps({"a": p["a"], "b": p["b"]}, ensure_ascii=False) + "\n" for p in pairs)
    start = time.perf_counter()
    proc = subprocess.run(cmd, shell=True, input=data.encode("utf-8"), capture_output=True, check=True)
    elapsed = time.perf_counter() - start
    lines = proc.stdout.decode("utf-8").splitlines()
    if len(lines) != len(pairs):
        sys.exit(f"command printed {len(lines)} lines for {len(pairs)} pairs")
    return [json.loads(line) for line in lines], elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--cmd", required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum timed work per tool")
    args = ap.parse_args()

    with open(args.pairs, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    gold = [bool(p["duplicate"]) for p in pairs]
    print(f"{len(pairs)} pairs, {sum(gold)} duplicate")

    verdicts, _ = run_cmd(args.cmd, pairs)
    ours = prf([bool(v["duplicate"]) for v in verdicts], gold)

    c_scores = [containment(p["a"], p["b"]) for p in pairs]
    c_t, c_m = best_threshold(c_scores, gold)
    mh_scores = [minhash(p["a"]).jaccard(minhash(p["b"])) for p in pairs]
    mh_t, mh_m = best_threshold(mh_scores, gold)

    print("quality                     precision  recall     F1   threshold")
    print(f"  command                   {ours[0]:9.3f} {ours[1]:7.3f} {ours[2]:6.3f}   (its own)")
    print(f"  5-shingle containment     {c_m[0]:9.3f} {c_m[1]:7.3f} {c_m[2]:6.3f}   {c_t:.3f} (best on set)")
    print(f"  MinHash 128, char 5-gram  {mh_m[0]:9.3f} {mh_m[1]:7.3f} {mh_m[2]:6.3f}   {mh_t:.3f} (best on set)")

    long_pairs = lengthen(pairs)
    mean_len = sum(len(p["a"]) + len(p["b"]) for p in long_pairs) / (2 * len(long_pairs))

    done, start = 0, time.perf_counter()
    while True:
        for p in long_pairs:
            minhash(p["a"]).jaccard(minhash(p["b"]))
        done += len(long_pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds:
            break
    mh_rate = done / elapsed

    reps = 1
    while True:
        _, elapsed = run_cmd(args.cmd, long_pairs * reps)
        if elapsed >= args.seconds or reps >= 4096:
            break
        reps *= max(2, int(args.seconds / max(elapsed, 1e-3)) + 1)
    cmd_rate = len(long_pairs) * reps / elapsed

    print(f"throughput on pairs of ~{mean_len:.0f}-character texts")
    print(f"  datasketch MinHash        {mh_rate:10.0f} pairs/s  ({done} pairs)")
    print(f"  command                   {cmd_rate:10.0f} pairs/s  ({len(long_pairs) * reps} pairs, one process)")
    print(f"  ratio                     {cmd_rate / mh_rate:10.1f}x")


if __name__ == "__main__":
    main()
