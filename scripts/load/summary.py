#!/usr/bin/env python3
"""Summarises the wrk runs of scripts/load.sh: one row per run, then the mean per
server and path, and kawaraban's requests/s as a share of nginx's.

usage: summary.py RESULTS_DIR  (files named ROUND-SERVER-PATH.txt, wrk --latency output)
exits 1 when /feed.atom is below BAR (env, default 0.8) of nginx or any run had errors.
"""

import os
import re
import sys
from collections import defaultdict
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", text, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    total = re.search(r"(\d+) requests in", text)
    read = re.search(r"requests in [^,]+, ([\d.]+)([KMG]?B) read", text)
    size = float(read.group(1)) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}[read.group(2)]
    return {
        "rps": rps,
        "p50": pct["50"],
        "p90": pct["90"],
        "p99": pct["99"],
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "sock": sum(map(int, sock.groups())) if sock else 0,
        "bytes": size / int(total.group(1)),
    }


def main():
    bar = float(os.environ.get("BAR", "0.8"))
    runs = []
    for f in sorted(Path(sys.argv[1]).glob("*.txt")):
        rnd, server, path = f.stem.split("-", 2)
        runs.append((int(rnd), server, "/" + path.replace("_", ".").removeprefix("index"), parse(f.read_text())))
    head = f"{'round':>5} {'server':<10} {'path':<11} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non2xx':>6} {'sockerr':>7} {'B/resp':>7}"
    print(head)
    print("-" * len(head))
    for rnd, server, path, r in runs:
        print(
            f"{rnd:>5} {server:<10} {path:<11} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p90']:>8.2f}"
            f" {r['p99']:>8.2f} {r['non2xx']:>6} {r['sock']:>7} {r['bytes']:>7.0f}"
        )
    mean = defaultdict(list)
    for _, server, path, r in runs:
        mean[(server, path)].append(r)
    print()
    print(f"{'path':<11} {'kawaraban req/s':>15} {'nginx req/s':>12} {'ratio':>6} "
          f"{'p50 k/n ms':>13} {'p99 k/n ms':>15} {'errors k/n':>10}")
    ok = True
    for path in sorted({p for _, p in mean}):
        k, n = mean[("kawaraban", path)], mean[("nginx", path)]
        avg = lambda rs, key: sum(r[key] for r in rs) / len(rs)
        err = lambda rs: sum(r["non2xx"] + r["sock"] for r in rs)
        ratio = avg(k, "rps") / avg(n, "rps")
        print(
            f"{path:<11} {avg(k, 'rps'):>15.0f} {avg(n, 'rps'):>12.0f} {ratio:>6.2f} "
            f"{avg(k, 'p50'):>6.2f}/{avg(n, 'p50'):<6.2f} {avg(k, 'p99'):>7.2f}/{avg(n, 'p99'):<7.2f} "
            f"{err(k):>4}/{err(n):<4}"
        )
        ok &= err(k) == 0
        if path == "/feed.atom":
            ok &= ratio >= bar
    print()
    print(f"bar (/feed.atom >= {bar}x nginx req/s, 0 kawaraban errors): {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
