#!/usr/bin/env python3
"""Store size and daemon memory at scale (not in CI).

For each size (default 10,000 and 100,000 articles of about 2,000 characters of
Japanese text each, as posts in four categories), it writes an export, imports it
into a fresh store with `kawaraban import`, and reads `kawaraban stats --json`:
bytes on disk per article. For the largest size it then starts `kawaraban serve` on
that store, requests one path of every kind the daemon serves, and reads the
daemon's resident memory (VmRSS, and the peak VmHWM) from /proc.

    scripts/store_bench.py                      # 10k and 100k
    scripts/store_bench.py --sizes 1000 10000   # smaller
    KAWARABAN=target/release/kawaraban scripts/store_bench.py

Bounded: every wait has a limit, and the daemon is stopped on exit.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CATEGORIES = [("不正アクセス", "unauthorized"), ("マルウェア", "malware"),
              ("情報漏えい", "leak"), ("脆弱性", "vuln")]

# Phrases recombined with random figures: text that neither repeats exactly nor
# compresses like a single sentence copied out.
SUBJECTS = ["市立病院", "大手通販サイト", "県警", "地方銀行", "大学", "ゲーム会社",
            "自治体", "物流会社", "保険会社", "旅行予約サイト", "電力会社", "中学校"]
EVENTS = ["ランサムウェアに感染し", "不正アクセスを受け", "委託先から情報が流出し",
          "フィッシングメールの被害に遭い", "脆弱性を突かれ", "設定の誤りで"]
AFTER = ["システムを停止した", "利用者に注意を呼びかけた", "警察に相談した",
         "外部の専門家と調査を進めている", "パスワードの変更を求めた",
         "再発防止策を公表した"]


def sentence(rng):
    return (f"{rng.choice(SUBJECTS)}は{rng.randint(1, 28)}日、{rng.choice(EVENTS)}、"
            f"約{rng.randint(2, 98000):,}件の情報に影響が出た可能性があるとして"
            f"{rng.choice(AFTER)}。")


def article(n, rng, base):
    paras = []
    length = 0
    while length < 2000:
        p = "".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        paras.append(p)
        length += len(p)
    text = "\n\n".join(paras)
    html = "".join(f"<p>{p}</p>" for p in paras)
    when = (base - timedelta(minutes=17 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    name, slug = CATEGORIES[n % len(CATEGORIES)]
    key = f"https://news{n % 40}.example.jp/articles/{n}.html"
    return {
        "type": "article",
        "id": f"{n:020x}",
        "key": key,
        "source_url": f"https://news{n % 40}.example.jp/rss",
        "publisher": f"瓦版新聞{n % 40}",
        "link": key,
        "title": f"{rng.choice(SUBJECTS)}で{rng.choice(EVENTS)[:-1]}た件 第{n}報",
        "content_html": html,
        "content_text": text,
        "author": None,
        "tags": [],
        "published": when,
        "first_seen": when,
        "updated": when,
        "full_text": True,
        "aliases": [],
        "judgement": {
            "topic": {"on_topic": True},
            "category": {"name": name, "slug": slug, "score": 1.0,
                         "why": "benchmark", "manual": False},
            "changed": when,
        },
    }


def config(dir_, listen):
    cats = "".join(
        f'\n[[category]]\nname = "{n}"\nslug = "{s}"\nkeywords = ["{n}"]\n'
        + ("default = true\n" if i == 0 else "")
        for i, (n, s) in enumerate(CATEGORIES))
    text = f"""[blog]
title = "bench"
author = "bench"
base_url = "http://{listen}/"
language = "ja"
timezone = "Asia/Tokyo"

[server]
listen = "{listen}"

[store]
path = "{dir_}/db"
{cats}
[[source]]
name = "none"
url = "http://127.0.0.1:9/feed.xml"
interval = "24h"

[fetch]
allow_private = ["127.0.0.0/8"]
"""
    path = os.path.join(dir_, "feeds.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    exe = os.environ.get("KAWARABAN")
    if not exe:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        exe = os.path.join(ROOT, "target/release/kawaraban")
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = []
    for size in args.sizes:
        work = tempfile.mkdtemp(prefix="kawaraban-store-bench-")
        try:
            listen = f"127.0.0.1:{free_port()}"
            cfg = config(work, listen)
            rng = random.Random(args.seed)
            export = os.path.join(work, "export.jsonl")
            chars = 0
            with open(export, "w") as f:
                for n in range(size):
                    a = article(n, rng, base)
                    chars += len(a["content_text"])
                    f.write(json.dumps(a, ensure_ascii=False) + "\n")
            t0 = time.monotonic()
            subprocess.run([exe, "--config", cfg, "import", export], check=True,
                           stdout=subprocess.DEVNULL, timeout=3600)
            took = time.monotonic() - t0
            stats = json.loads(subprocess.run(
                [exe, "--config", cfg, "stats", "--json"], check=True,
                capture_output=True, timeout=600).stdout)
            row = {
                "articles": stats["articles"],
                "chars_per_article": chars // size,
                "export_bytes_per_article": os.path.getsize(export) // size,
                "disk_bytes_per_article": stats["size_on_disk"] // size,
                "import_s": round(took, 1),
            }
            if size == max(args.sizes):
                row.update(serve_and_measure(exe, cfg, listen))
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"disk bytes per article: {a['disk_bytes_per_article']:,} at "
              f"{a['articles']:,}, {b['disk_bytes_per_article']:,} at {b['articles']:,} "
              f"({b['disk_bytes_per_article'] / a['disk_bytes_per_article']:.2f}x)")
    last = rows[-1]
    if "rss_mib" in last:
        verdict = "met" if last["rss_mib"] < 64 else "NOT met"
        print(f"daemon resident memory with {last['articles']:,} articles after serving "
              f"every kind of path: {last['rss_mib']} MiB (peak {last['peak_mib']} MiB); "
              f"bar < 64 MiB: {verdict}")


def serve_and_measure(exe, cfg, listen):
    log = tempfile.TemporaryFile()
    daemon = subprocess.Popen([exe, "--config", cfg, "serve"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://{listen}/healthz", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    log.seek(0)
                    sys.exit(f"the daemon did not come up:\n{log.read().decode(errors='replace')}")
                time.sleep(0.2)
        paths = ["/feed.atom", "/feed.rss", "/feed.json", "/", "/page/2/", "/page/500/",
                 "/style.css", "/archive/2026/10/", "/archive/2026/10/page/2/",
                 # The operator's endpoints (answered on loopback).
                 "/status", "/metrics", "/healthz", "/sources.opml"]
        for _, slug in CATEGORIES:
            paths += [f"/category/{slug}.atom", f"/category/{slug}.rss",
                      f"/category/{slug}.json", f"/category/{slug}/",
                      f"/category/{slug}/page/3/"]
        # A post page: its id is the one the daemon derives, so find it on the front page.
        front = urllib.request.urlopen(f"http://{listen}/", timeout=60).read().decode()
        marker = '/post/'
        if marker in front:
            start = front.index(marker)
            paths.append(front[start:front.index('"', start)])
        statuses = {}
        for p in paths:
            try:
                with urllib.request.urlopen(f"http://{listen}{p}", timeout=120) as r:
                    r.read()
                    statuses[p] = r.status
            except urllib.error.HTTPError as e:
                statuses[p] = e.code
        # The commands an operator runs against the daemon (through its admin socket).
        for cmd in (["stats", "--json"], ["post", "list", "--limit", "20"],
                    ["sources", "list"]):
            r = subprocess.run([exe, "--config", cfg, *cmd], capture_output=True, timeout=300)
            statuses["kawaraban " + " ".join(cmd)] = 200 if r.returncode == 0 else r.returncode
        bad = {p: s for p, s in statuses.items() if s != 200}
        return {
            "paths_served": len(statuses),  # HTTP paths and admin commands
            "non_200": bad,
            "rss_mib": round(proc_kib(daemon.pid, "VmRSS") / 1024, 1),
            "peak_mib": round(proc_kib(daemon.pid, "VmHWM") / 1024, 1),
        }
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()


if __name__ == "__main__":
    main()
