#!/usr/bin/env python3
"""Loopback sources for scripts/load.sh: N RSS feeds at /feed/{i}.xml.

Each feed has a few items of distinct text, so none fold into another. Feeds are
served without validators, so every fetch pass downloads and parses all of them;
every tenth feed gains an item each minute, so the store (and the daemon's render
cache) changes while the load runs, as it does in production.

usage: feeds.py PORT N
"""

import random
import sys
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = (
    "harbor council budget railway ferry school festival bridge market museum "
    "library river typhoon election factory orchard fishery tunnel airport clinic "
    "station temple garden stadium vendor tariff reactor satellite glacier canal "
    "lantern courier ledger vintage quarry meadow beacon compass granary harvest"
).split()

START = time.time()


def text(seed, n):
    rnd = random.Random(repr(seed))
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def item(feed, k, when):
    title = f"{text((feed, k, 't'), 6)} {feed}-{k}"
    body = ". ".join(text((feed, k, s), 14) for s in range(8))
    return (
        f"<item><title>{title}</title>"
        f"<link>http://127.0.0.1/story/{feed}/{k}</link>"
        f"<guid>http://127.0.0.1/story/{feed}/{k}</guid>"
        f"<pubDate>{formatdate(when, usegmt=True)}</pubDate>"
        f"<description>{body}.</description></item>"
    )


def feed(i):
    minutes = int((time.time() - START) // 60) if i % 10 == 0 else 0
    items = [item(i, k, START - 3600 * (k + 1) - i) for k in range(4)]
    items += [item(i, 100 + m, START + 60 * m) for m in range(1, minutes + 1)]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Source {i}</title><link>http://127.0.0.1/{i}</link>"
        f"<description>load source {i}</description>{''.join(reversed(items))}"
        "</channel></rss>\n"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        n = self.server.n
        name = self.path.removeprefix("/feed/").removesuffix(".xml")
        if not (self.path.startswith("/feed/") and name.isdigit() and int(name) < n):
            self.send_error(404)
            return
        body = feed(int(name))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.n = n
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
