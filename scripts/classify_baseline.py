#!/usr/bin/env python3
"""Compare the learned categorizer with TF-IDF + LinearSVC from scikit-learn.

    classify_baseline.py --train TRAIN.jsonl --test TEST.jsonl --cmd 'kawaraban categorize'
    classify_baseline.py ... --per-category 20 --folds 5   # the few-examples figure

Both sides see the same raw texts. The baseline is scikit-learn's standard setup:
TfidfVectorizer(sublinear_tf=True) with analyzer='char_wb', ngram_range=(1, 3) for
Japanese and word n-grams (1, 2) for other languages, then LinearSVC() with its default
C=1, on title + body. Its training time is vectorizing + fitting; its categorizing time
is vectorizing + predicting.

COMMAND is run once per training set as `COMMAND --train FILE` (or with `{train}` in
COMMAND replaced by FILE), gets the test articles as {"title","body"} JSON lines on
stdin and must print one {"category", ...} line per article, in order. If it prints
`train_seconds=X` / `predict_seconds=Y` on stderr those are its times; otherwise
training time is a run with empty stdin and categorizing time is the rest.

With --per-category N the training set is the first N articles of each category, or
with --folds K, K disjoint such sets taken in file order, and the figures are averaged.
Times are the fastest of --repeat runs of each side.

The sets in tests/fixtures/judge/categories (train splits hold 100 per category, test
splits 150), and the ~6,000-document ones from `make_categories.py --large DIR`:

    for lang in security-ja news-en; do
      classify_baseline.py --train $F/$lang-train.jsonl --test $F/$lang-test.jsonl \
          --cmd 'kawaraban categorize' --per-category 20 --folds 5
    done
    for lang in ja en; do
      classify_baseline.py --train DIR/$lang-large-train.jsonl --test DIR/$lang-large-test.jsonl \
          --cmd 'kawaraban categorize'
    done
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def is_japanese(docs):
    text = "".join(d["title"] + d["body"] for d in docs[:200])
    cjk = sum(1 for c in text if "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff")
    return cjk > 0.2 * max(1, len(text))


def subsets(train, per_cat, folds):
    if not per_cat:
        return [train]
    by_cat = {}
    for d in train:
        by_cat.setdefault(d["category"], []).append(d)
    out = []
    for k in range(folds):
        part = []
        for docs in by_cat.values():
            part.extend(docs[k * per_cat:(k + 1) * per_cat])
        out.append(part)
    return out


def accuracy(pred, gold):
    return sum(p == g for p, g in zip(pred, gold)) / max(1, len(gold))


def run_sklearn(train, test, ja, repeat=1):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    def text(d):
        return d["title"] + "\n" + d["body"]

    if ja:
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train_time = predict_time = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        x = vec.fit_transform([text(d) for d in train])
        model = LinearSVC()
        model.fit(x, [d["category"] for d in train])
        t1 = time.perf_counter()
        pred = model.predict(vec.transform([text(d) for d in test]))
        t2 = time.perf_counter()
        train_time, predict_time = min(train_time, t1 - t0), min(predict_time, t2 - t1)
    return list(pred), train_time, predict_time


def run_cmd(cmd, train, test, repeat=1):
    runs = [run_cmd_once(cmd, train, test) for _ in range(repeat)]
    return runs[0][0], min(r[1] for r in runs), min(r[2] for r in runs)


def run_cmd_once(cmd, train, test):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for d in train:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
        train_path = f.name
    try:
        if "{train}" in cmd:
            argv = shlex.split(cmd.replace("{train}", shlex.quote(train_path)))
        else:
            argv = shlex.split(cmd) + ["--train", train_path]
        stdin = "".join(json.dumps({"title": d["title"], "body": d["body"]}, ensure_ascii=False) + "\n"
                        for d in test)
        t0 = time.perf_counter()
        empty = subprocess.run(argv, input="", capture_output=True, text=True)
        t1 = time.perf_counter()
        full = subprocess.run(argv, input=stdin, capture_output=True, text=True)
        t2 = time.perf_counter()
    finally:
        os.unlink(train_path)
    if full.returncode != 0 or empty.returncode != 0:
        sys.exit("command failed:\n" + full.stderr + empty.stderr)
    pred = [json.loads(line)["category"] for line in full.stdout.splitlines() if line.strip()]
    if len(pred) != len(test):
        sys.exit("command printed %d lines for %d articles" % (len(pred), len(test)))
    train_s = re.search(r"train_seconds=([0-9.eE+-]+)", full.stderr)
    predict_s = re.search(r"predict_seconds=([0-9.eE+-]+)", full.stderr)
    train_time = float(train_s.group(1)) if train_s else t1 - t0
    predict_time = float(predict_s.group(1)) if predict_s else max(1e-9, (t2 - t1) - (t1 - t0))
    return pred, train_time, predict_time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--cmd", required=True, help="the categorizer's command line")
    ap.add_argument("--per-category", type=int, default=0, metavar="N")
    ap.add_argument("--folds", type=int, default=1, metavar="K")
    ap.add_argument("--lang", choices=["auto", "ja", "en"], default="auto")
    ap.add_argument("--repeat", type=int, default=3, metavar="R",
                    help="time each side R times and keep the fastest (the machine may be shared)")
    args = ap.parse_args()

    train_all, test = load(args.train), load(args.test)
    ja = args.lang == "ja" or (args.lang == "auto" and is_japanese(train_all))
    gold = [d["category"] for d in test]
    rows = []
    for k, train in enumerate(subsets(train_all, args.per_category, args.folds)):
        sk_pred, sk_train, sk_pred_t = run_sklearn(train, test, ja, args.repeat)
        our_pred, our_train, our_pred_t = run_cmd(args.cmd, train, test, args.repeat)
        row = {
            "train_docs": len(train),
            "sklearn_acc": accuracy(sk_pred, gold),
            "ours_acc": accuracy(our_pred, gold),
            "sklearn_train_s": sk_train,
            "ours_train_s": our_train,
            "sklearn_docs_per_s": len(test) / sk_pred_t,
            "ours_docs_per_s": len(test) / our_pred_t,
        }
        rows.append(row)
        print("set %d: %d train docs, accuracy sklearn %.4f ours %.4f, train s sklearn %.4f ours %.4f (%.1fx), "
              "categorize docs/s sklearn %.0f ours %.0f" % (
                  k, row["train_docs"], row["sklearn_acc"], row["ours_acc"], row["sklearn_train_s"],
                  row["ours_train_s"], row["sklearn_train_s"] / max(1e-9, row["ours_train_s"]),
                  row["sklearn_docs_per_s"], row["ours_docs_per_s"]))

    def mean(key):
        return statistics.mean(r[key] for r in rows)

    print("baseline: TfidfVectorizer(%s, sublinear_tf=True) + LinearSVC(C=1)" % (
        "analyzer='char_wb', ngram_range=(1, 3)" if ja else "word ngram_range=(1, 2)"))
    print("mean over %d set(s) of %d train docs, %d test docs:" % (len(rows), rows[0]["train_docs"], len(test)))
    print("  accuracy   sklearn %.4f  ours %.4f  (ours - sklearn %+.2f points)" % (
        mean("sklearn_acc"), mean("ours_acc"), 100 * (mean("ours_acc") - mean("sklearn_acc"))))
    print("  train s    sklearn %.4f  ours %.4f  (ours %.1fx faster)" % (
        mean("sklearn_train_s"), mean("ours_train_s"), mean("sklearn_train_s") / max(1e-9, mean("ours_train_s"))))
    print("  docs/s     sklearn %.0f  ours %.0f" % (mean("sklearn_docs_per_s"), mean("ours_docs_per_s")))


if __name__ == "__main__":
    main()
