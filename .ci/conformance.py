"""Feed conformance checks for a running kawaraban daemon.

Subcommands (the shell entry point .ci/conformance drives them):
  free-ports N                      print N free loopback ports
  make-config SRC DST ...           copy a daemon config, pointed at test ports and a temp store
  wait URL [--entries] [--timeout]  wait until URL answers 200 (and, for Atom, has entries)
  check --config CFG --base URL ... check every feed the daemon serves

Only the standard library and feedparser: this runs in a bare virtual environment.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import html.parser
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ATOM = "http://www.w3.org/2005/Atom"
A = "{%s}" % ATOM
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"

# RFC 4287 §3.3: RFC 3339 date-time, upper-case T and Z, a zone always.
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
# RFC 822 §5 as RSS 2.0 uses it (four-digit years allowed): optional day name,
# optional seconds, and a zone that is either numeric or one of the named ones.
RFC822 = re.compile(
    r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?"
    r"(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{2}|\d{4}) "
    r"\d{2}:\d{2}(:\d{2})? "
    r"([+-]\d{4}|UT|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|[A-IK-Z])$"
)
# UTF-8 read as Latin-1 or cp1252: a lead byte shown as Ã/Â/ã/â/å/ä/æ/ç/è/é followed by
# continuation bytes shown as C1 controls or cp1252's punctuation. Japanese text
# (E3..E9 lead bytes) becomes 'ã', 'ä', ..., 'é' followed by such characters.
LATIN1_MOJIBAKE = re.compile(
    "[\u00c2\u00c3\u00e2-\u00ef][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e"
    "\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
    "\u20ac\u2122]"
)
# UTF-8 read as Shift_JIS/CP932: hiragana and katakana turn into 縺, 繧 and 繝
# followed by another character, a pair real text does not have.
SJIS_MOJIBAKE = re.compile("[縺繧繝][\u3000-\u9fff\uff61-\uff9f]")
JAPANESE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")

MAX_DETAILS = 5


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.advisories = 0

    def _line(self, status: str, where: str, name: str, detail: str = "") -> None:
        print(f"{status:<5} {where:<32} {name}" + (f": {detail}" if detail else ""), flush=True)

    def check(self, where: str, name: str, problems: list[str] | str | None, note: str = "") -> bool:
        """One check: passes when `problems` is empty."""
        if isinstance(problems, str):
            problems = [problems]
        problems = problems or []
        if problems:
            self.failed += 1
            extra = f" (+{len(problems) - MAX_DETAILS} more)" if len(problems) > MAX_DETAILS else ""
            self._line("FAIL", where, name, "; ".join(problems[:MAX_DETAILS]) + extra)
            return False
        self.passed += 1
        self._line("ok", where, name, note)
        return True

    def skip(self, where: str, name: str, why: str) -> None:
        self.skipped += 1
        self._line("skip", where, name, why)

    def advisory(self, where: str, name: str, problems: list[str], note: str = "") -> None:
        """Reported, never failing: for validators that are stricter than the spec."""
        if problems:
            self.advisories += 1
            extra = f" (+{len(problems) - MAX_DETAILS} more)" if len(problems) > MAX_DETAILS else ""
            self._line("note", where, name, "; ".join(problems[:MAX_DETAILS]) + extra)
        else:
            self._line("ok", where, name, note)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer to report
        return None


_opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Response:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(req, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def is_absolute(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri.strip())
    if not parts.scheme or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme):
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return True


def is_web_url(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def same_url(a: str, b: str) -> bool:
    # An IRI and its percent-encoded URI name the same resource.
    return urllib.parse.unquote(a.strip()) == urllib.parse.unquote(b.strip())


def mojibake(text: str) -> str | None:
    if "\ufffd" in text:
        return "U+FFFD replacement character"
    m = LATIN1_MOJIBAKE.search(text) or SJIS_MOJIBAKE.search(text)
    if m:
        return f"mojibake-like sequence {m.group(0)!r}"
    if re.search("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]", text):
        return "control character"
    return None


def title_problems(titles: list[str], label: str) -> list[str]:
    out = []
    for i, t in enumerate(titles, 1):
        if not t.strip():
            out.append(f"{label} {i}: empty title")
        elif bad := mojibake(t):
            out.append(f"{label} {i}: {bad} in {t!r}")
    return out


class _LinkCollector(html.parser.HTMLParser):
    """href/src/srcset/poster values and <link rel=alternate> elements of an HTML text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []
        self.alternates: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        for name in ("href", "src", "poster", "cite"):
            if name in a:
                self.refs.append((f"<{tag} {name}>", a[name]))
        if "srcset" in a:
            for cand in a["srcset"].split(","):
                if cand.strip():
                    self.refs.append((f"<{tag} srcset>", cand.strip().split()[0]))
        if tag == "link" and "alternate" in a.get("rel", "").lower().split():
            self.alternates.append(a)


def html_link_problems(markup: str, label: str) -> list[str]:
    """Relative references in republished HTML resolve against our blog, not the outlet."""
    p = _LinkCollector()
    p.feed(markup)
    p.close()
    out = []
    for what, ref in p.refs:
        if ref.startswith(("#", "mailto:", "data:")):
            continue
        if not is_absolute(ref):
            out.append(f"{label}: relative {what} {ref!r}")
    return out


def strict_json(raw: bytes):
    """json.loads that also rejects what RFC 8259 parsers disagree on."""

    def no_dupes(pairs):
        keys = [k for k, _ in pairs]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"duplicate keys {sorted(dupes)}")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"non-standard constant {name}")

    if raw.startswith(b"\xef\xbb\xbf"):
        raise ValueError("starts with a byte order mark")
    text = raw.decode("utf-8")
    return json.loads(text, object_pairs_hook=no_dupes, parse_constant=no_constants)


# ---------------------------------------------------------------------------
# What was served
# ---------------------------------------------------------------------------


@dataclass
class Feed:
    path: str  # as served, e.g. /feed.atom
    url: str
    kind: str  # atom | rss | json
    family: str  # the feeds that carry the same posts ("all" or a category slug)
    body: bytes
    headers: dict[str, str]
    # (id, title) per entry, read without feedparser; filled by the format checks.
    entries: list[tuple[str, str]] = field(default_factory=list)
    # Atom only: the feed's id and each entry's category terms.
    feed_id: str = ""
    terms: list[set[str]] = field(default_factory=list)


CONTENT_TYPES = {
    "atom": ("application/atom+xml",),
    "rss": ("application/rss+xml",),
    "json": ("application/feed+json",),
}


def check_http(rep: Report, f: Feed) -> None:
    """What a polling reader relies on: type and charset, validators, 304, gzip."""
    problems = []
    ctype = f.headers.get("content-type", "")
    mime = ctype.split(";")[0].strip().lower()
    params = {
        k.strip().lower(): v.strip().strip('"').lower()
        for k, _, v in (p.partition("=") for p in ctype.split(";")[1:])
    }
    if mime not in CONTENT_TYPES[f.kind]:
        problems.append(f"Content-Type {ctype!r}, expected {CONTENT_TYPES[f.kind][0]}")
    if f.kind != "json" and params.get("charset") != "utf-8":
        problems.append(f"Content-Type {ctype!r} has no charset=utf-8")
    etag = f.headers.get("etag")
    if not etag:
        problems.append("no ETag")
    if not f.headers.get("last-modified"):
        problems.append("no Last-Modified")
    elif email.utils.parsedate_tz(f.headers["last-modified"]) is None:
        problems.append(f"Last-Modified {f.headers['last-modified']!r} is not an HTTP-date")
    if etag:
        r = get(f.url, {"If-None-Match": etag})
        if r.status != 304:
            problems.append(f"If-None-Match with its own ETag answered {r.status}, not 304")
    r = get(f.url, {"Accept-Encoding": "gzip"})
    if r.status != 200:
        problems.append(f"Accept-Encoding: gzip answered {r.status}")
    elif r.headers.get("content-encoding", "").lower() == "gzip":
        try:
            if gzip.decompress(r.body) != f.body:
                problems.append("the gzip body differs from the plain one")
        except OSError as e:
            problems.append(f"the gzip body does not decompress: {e}")
    rep.check(f.path, "http (type, charset, ETag, 304, gzip)", problems)


def parse_xml(rep: Report, f: Feed) -> ET.Element | None:
    problems = []
    decl = re.match(rb"<\?xml[^>]*encoding=[\"']([^\"']+)[\"']", f.body)
    if decl and decl.group(1).decode().lower() != "utf-8":
        problems.append(f"XML declaration says encoding={decl.group(1).decode()}, HTTP says utf-8")
    try:
        f.body.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"not UTF-8: {e}")
    try:
        root = ET.fromstring(f.body)
    except ET.ParseError as e:
        problems.append(f"not well-formed: {e}")
        root = None
    rep.check(f.path, "well-formed UTF-8 XML", problems)
    return root


# ---------------------------------------------------------------------------
# Atom (RFC 4287)
# ---------------------------------------------------------------------------


def check_atom(rep: Report, f: Feed, schemas: Path, work: Path) -> None:
    root = parse_xml(rep, f)
    if root is None:
        return

    saved = work / saved_name(f.path)
    saved.write_bytes(f.body)
    r = subprocess.run(
        ["jing", "-c", str(schemas / "atom-rfc4287.rnc"), str(saved)],
        capture_output=True,
        text=True,
    )
    # Debian's jing wrapper warns about optional jars it does not need here.
    msgs = [
        ln.replace(str(saved), "feed")
        for ln in (r.stdout + r.stderr).splitlines()
        if ln.strip() and not ln.startswith("[warning] ")
    ]
    if r.returncode != 0 and not msgs:
        msgs = [f"jing exited {r.returncode}"]
    rep.check(f.path, "RELAX NG (RFC 4287 schema, jing)", msgs if r.returncode else [])

    if root.tag != A + "feed":
        rep.check(f.path, "root is atom:feed", f"root element is {root.tag}")
        return
    entries = root.findall(A + "entry")

    # Dates: xsd:dateTime in the schema lets a zone-less time through.
    problems = []
    for el in root.iter():
        if el.tag in (A + "updated", A + "published"):
            v = (el.text or "").strip()
            if not RFC3339.match(v):
                problems.append(f"<{el.tag[len(A):]}> {v!r} is not an RFC 3339 date-time with a zone")
            else:
                try:
                    datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError as e:
                    problems.append(f"<{el.tag[len(A):]}> {v!r}: {e}")
    for what, parent in [("feed", root)] + [(f"entry {i}", e) for i, e in enumerate(entries, 1)]:
        if parent.find(A + "updated") is None:
            problems.append(f"{what} has no <updated>")
    rep.check(f.path, "RFC 3339 dates with a time zone", problems)

    # Ids: atomUri is free text in the schema; RFC 4287 §4.2.6 wants an absolute IRI.
    problems = []
    ids = []
    for el in root.iter(A + "id"):
        v = (el.text or "").strip()
        if v != (el.text or ""):
            problems.append(f"<id> {el.text!r} has surrounding white space")
        if not is_absolute(v):
            problems.append(f"<id> {v!r} is not an absolute IRI")
    for i, e in enumerate(entries, 1):
        ids.append((e.findtext(A + "id") or "").strip())
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"entry ids used twice: {dupes[:3]}")
    rep.check(f.path, "absolute, unique ids", problems)

    # Links: without xml:base every reference must stand on its own.
    problems = []
    for el in root.iter():
        if "{http://www.w3.org/XML/1998/namespace}base" in el.attrib:
            problems.append(f"xml:base on <{el.tag}> (references must be absolute)")
        if el.tag == A + "link":
            href = el.get("href", "")
            if not is_absolute(href):
                problems.append(f"<link rel={el.get('rel', 'alternate')}> href {href!r} is relative")
        elif el.tag == A + "generator" and el.get("uri") is not None:
            if not is_absolute(el.get("uri")):
                problems.append(f"<generator> uri {el.get('uri')!r} is relative")
        elif el.tag in (A + "uri", A + "icon", A + "logo"):
            if not is_absolute(el.text or ""):
                problems.append(f"<{el.tag[len(A):]}> {el.text!r} is relative")
    for i, e in enumerate(entries, 1):
        for tag in ("content", "summary"):
            c = e.find(A + tag)
            if c is not None and c.get("type") == "html":
                problems += html_link_problems(c.text or "", f"entry {i} {tag}")
    rep.check(f.path, "absolute links (and in entry HTML)", problems)

    # The schema's Schematron rules, which jing ignores.
    problems = []
    feed_authors = root.findall(A + "author")
    for i, e in enumerate(entries, 1):
        src = e.find(A + "source")
        has = e.findall(A + "author") or (src is not None and src.findall(A + "author"))
        if not feed_authors and not has:
            problems.append(f"entry {i} has no author and the feed has none")
    for a in root.iter(A + "author"):
        if not (a.findtext(A + "name") or "").strip():
            problems.append("an <author> without a name")
    rep.check(f.path, "author on the feed or every entry", problems)

    problems = []
    for i, e in enumerate(entries, 1):
        alt = [
            l for l in e.findall(A + "link") if l.get("rel", "alternate") == "alternate"
        ]
        if not alt and e.find(A + "content") is None:
            problems.append(f"entry {i} has neither an alternate link nor content")
        seen = set()
        for l in alt:
            key = (l.get("type"), l.get("hreflang"))
            if key in seen:
                problems.append(f"entry {i} has two alternate links of type {key[0]}")
            seen.add(key)
    rep.check(f.path, "entries: alternate link or content", problems)

    selfs = [l for l in root.findall(A + "link") if l.get("rel") == "self"]
    problems = []
    if not selfs:
        problems.append('no <link rel="self">')
    for l in selfs:
        if not same_url(l.get("href", ""), f.url):
            problems.append(f'rel="self" is {l.get("href")!r}, the feed was fetched from {f.url!r}')
        if l.get("type") not in (None, "application/atom+xml"):
            problems.append(f'rel="self" has type {l.get("type")!r}')
    rep.check(f.path, 'rel="self" names this feed', problems)

    titles = []
    for e in entries:
        t = e.find(A + "title")
        titles.append("".join(t.itertext()) if t is not None else "")
    f.entries = list(zip(ids, titles))
    f.feed_id = (root.findtext(A + "id") or "").strip()
    f.terms = [{c.get("term", "") for c in e.findall(A + "category")} for e in entries]
    rep.check(f.path, "titles: present, no mojibake", title_problems(titles, "entry"),
              note=f"{len(titles)} entries")


# ---------------------------------------------------------------------------
# RSS 2.0
# ---------------------------------------------------------------------------

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def rfc822_problem(v: str) -> str | None:
    m = RFC822.match(v)
    if not m:
        return "is not an RFC 822 date"
    parsed = email.utils.parsedate_tz(v)
    if parsed is None:
        return "does not parse"
    try:
        d = datetime(*parsed[:6])
    except ValueError as e:
        return f"is not a real date ({e})"
    if m.group(1) and DAYS[d.weekday()] != m.group(1):
        return f"says {m.group(1)} but that day is a {DAYS[d.weekday()]}"
    return None


def check_rss(rep: Report, f: Feed, schemas: Path, work: Path) -> None:
    root = parse_xml(rep, f)
    if root is None:
        return

    saved = work / saved_name(f.path)
    saved.write_bytes(f.body)
    xsd = schemas / "rss-2_0-thelin.xsd"
    if shutil.which("xmllint"):
        r = subprocess.run(
            ["xmllint", "--noout", "--schema", str(xsd), str(saved)],
            capture_output=True,
            text=True,
        )
        msgs = [
            ln.replace(str(saved), "feed")
            for ln in r.stderr.splitlines()
            if ln.strip() and not ln.endswith(" validates")
        ]
        rep.advisory(f.path, "XSD (Thelin, advisory)", msgs if r.returncode else [])
    else:
        rep.skip(f.path, "XSD (Thelin, advisory)", "xmllint is not installed")

    problems = []
    if root.tag != "rss" or root.get("version") != "2.0":
        problems.append(f'root is <{root.tag} version={root.get("version")!r}>, not <rss version="2.0">')
    channels = root.findall("channel")
    if len(channels) != 1:
        problems.append(f"{len(channels)} <channel> elements")
    if problems or not channels:
        rep.check(f.path, "required channel and item elements", problems)
        return
    ch = channels[0]
    items = ch.findall("item")
    for tag in ("title", "link", "description"):
        if ch.find(tag) is None:
            problems.append(f"channel has no <{tag}>")
        elif tag != "description" and not (ch.findtext(tag) or "").strip():
            problems.append(f"channel <{tag}> is empty")
    for i, it in enumerate(items, 1):
        if it.find("title") is None and it.find("description") is None:
            problems.append(f"item {i} has neither <title> nor <description>")
        # Not required by RSS 2.0, but every post has them and readers key on them.
        for tag in ("title", "link", "guid", "pubDate"):
            if not (it.findtext(tag) or "").strip():
                problems.append(f"item {i} has no <{tag}>")
        for tag in ("title", "link", "description", "guid", "pubDate", "author", "comments", "source"):
            if len(it.findall(tag)) > 1:
                problems.append(f"item {i} has {len(it.findall(tag))} <{tag}>")
    for tag in ("title", "link", "description", "language", "lastBuildDate", "pubDate", "ttl"):
        if len(ch.findall(tag)) > 1:
            problems.append(f"channel has {len(ch.findall(tag))} <{tag}>")
    rep.check(f.path, "required channel and item elements", problems, note=f"{len(items)} items")

    problems = []
    for where, el in [("channel", ch)] + [(f"item {i}", it) for i, it in enumerate(items, 1)]:
        for tag in ("pubDate", "lastBuildDate"):
            v = el.findtext(tag)
            if v is not None and (bad := rfc822_problem(v.strip())):
                problems.append(f"{where} <{tag}> {v!r} {bad}")
    rep.check(f.path, "RFC 822 dates", problems)

    problems = []
    guids = []
    for i, it in enumerate(items, 1):
        g = it.find("guid")
        if g is None:
            continue
        v = (g.text or "").strip()
        guids.append(v)
        perma = g.get("isPermaLink", "true")
        if perma not in ("true", "false"):
            problems.append(f"item {i} guid isPermaLink={perma!r}")
        elif perma == "true" and not is_web_url(v):
            problems.append(f"item {i} guid {v!r} is a permalink but not an http(s) URL")
        elif perma == "false" and is_web_url(v) and v == (it.findtext("link") or "").strip():
            problems.append(f"item {i} guid {v!r} is the item link but says isPermaLink=false")
    dupes = sorted({g for g in guids if guids.count(g) > 1})
    if dupes:
        problems.append(f"guids used twice: {dupes[:3]}")
    rep.check(f.path, "guid isPermaLink correct, unique", problems)

    problems = []
    atom_self = []
    for el in root.iter():
        where = el.tag if not el.tag.startswith("{") else el.tag.split("}")[1]
        if el.tag in ("link", "comments", "docs", "url"):
            v = (el.text or "").strip()
            if v and not is_absolute(v):
                problems.append(f"<{where}> {v!r} is relative")
        if el.tag in ("source", "enclosure"):
            v = el.get("url", "")
            if not is_absolute(v):
                problems.append(f"<{where}> url {v!r} is relative")
        if el.tag == A + "link":
            if not is_absolute(el.get("href", "")):
                problems.append(f"<atom:link> href {el.get('href')!r} is relative")
            if el.get("rel") == "self":
                atom_self.append(el.get("href", ""))
    for i, it in enumerate(items, 1):
        problems += html_link_problems(it.findtext("description") or "", f"item {i} description")
    rep.check(f.path, "absolute links (and in item HTML)", problems)

    problems = []
    if not atom_self:
        problems.append('no <atom:link rel="self">')
    for h in atom_self:
        if not same_url(h, f.url):
            problems.append(f'atom:link rel="self" is {h!r}, the feed was fetched from {f.url!r}')
    rep.check(f.path, 'atom:link rel="self" names this feed', problems)

    titles = [it.findtext("title") or "" for it in items]
    f.entries = [((it.findtext("guid") or "").strip(), t) for it, t in zip(items, titles)]
    rep.check(f.path, "titles: present, no mojibake", title_problems(titles, "item"))


# ---------------------------------------------------------------------------
# JSON Feed 1.1
# ---------------------------------------------------------------------------

JF_TOP = {
    "version", "title", "home_page_url", "feed_url", "description", "user_comment",
    "next_url", "icon", "favicon", "authors", "author", "language", "expired", "hubs", "items",
}
JF_ITEM = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "author", "tags", "language",
    "attachments",
}


def check_json(rep: Report, f: Feed) -> None:
    try:
        doc = strict_json(f.body)
    except (ValueError, UnicodeDecodeError) as e:
        rep.check(f.path, "valid JSON", str(e))
        return
    if not isinstance(doc, dict):
        rep.check(f.path, "valid JSON", "the top level is not an object")
        return
    rep.check(f.path, "valid JSON (UTF-8, no BOM, no duplicate keys)", [])

    problems = []
    if doc.get("version") != JSONFEED_VERSION:
        problems.append(f"version {doc.get('version')!r}, expected {JSONFEED_VERSION!r}")
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        problems.append("no title")
    items = doc.get("items")
    if not isinstance(items, list):
        problems.append("items is not an array")
        items = []
    for k in doc:
        if k not in JF_TOP and not k.startswith("_"):
            problems.append(f"unknown top-level key {k!r} (extensions start with '_')")
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict):
            problems.append(f"item {i} is not an object")
            continue
        if not isinstance(it.get("id"), str) or not it["id"]:
            problems.append(f"item {i} has no string id")
        if not any(isinstance(it.get(k), str) for k in ("content_html", "content_text")):
            problems.append(f"item {i} has neither content_html nor content_text")
        if "title" in it and not isinstance(it["title"], str):
            problems.append(f"item {i} title is not a string")
        for k in it:
            if k not in JF_ITEM and not k.startswith("_"):
                problems.append(f"item {i}: unknown key {k!r}")
        if "tags" in it and not (
            isinstance(it["tags"], list) and all(isinstance(t, str) for t in it["tags"])
        ):
            problems.append(f"item {i}: tags is not an array of strings")
    for where, obj in [("feed", doc)] + [(f"item {i}", it) for i, it in enumerate(items, 1) if isinstance(it, dict)]:
        if "author" in obj:
            problems.append(f"{where} uses 'author', deprecated in 1.1 for 'authors'")
        if "authors" in obj:
            au = obj["authors"]
            if not isinstance(au, list) or not au:
                problems.append(f"{where} authors is not a non-empty array")
            else:
                for a in au:
                    if not isinstance(a, dict) or not any(
                        isinstance(a.get(k), str) and a[k] for k in ("name", "url", "avatar")
                    ):
                        problems.append(f"{where} has an author without name, url or avatar")
    ids = [it.get("id") for it in items if isinstance(it, dict)]
    dupes = sorted({str(i) for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"item ids used twice: {dupes[:3]}")
    rep.check(f.path, "JSON Feed 1.1 required fields and version", problems,
              note=f"{len(items)} items")

    problems = []
    for where, obj in [("feed", doc)] + [(f"item {i}", it) for i, it in enumerate(items, 1) if isinstance(it, dict)]:
        for k in ("date_published", "date_modified"):
            if k in obj:
                v = obj[k]
                if not isinstance(v, str) or not RFC3339.match(v):
                    problems.append(f"{where} {k} {v!r} is not an RFC 3339 date-time with a zone")
    rep.check(f.path, "RFC 3339 dates with a time zone", problems)

    problems = []
    url_keys = ("home_page_url", "feed_url", "next_url", "icon", "favicon", "url",
                "external_url", "image", "banner_image", "avatar")
    def walk(obj, where):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in url_keys:
                    if not isinstance(v, str) or not is_absolute(v):
                        problems.append(f"{where} {k} {v!r} is not an absolute URL")
                elif k == "content_html" and isinstance(v, str):
                    problems.extend(html_link_problems(v, f"{where} content_html"))
                else:
                    walk(v, where)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, where)
    walk({k: v for k, v in doc.items() if k != "items"}, "feed")
    for i, it in enumerate(items, 1):
        walk(it, f"item {i}")
    if "feed_url" not in doc:
        problems.append("no feed_url")
    elif isinstance(doc["feed_url"], str) and not same_url(doc["feed_url"], f.url):
        problems.append(f"feed_url is {doc['feed_url']!r}, the feed was fetched from {f.url!r}")
    rep.check(f.path, "absolute URLs, feed_url names this feed", problems)

    f.entries = [
        (str(it.get("id", "")), it.get("title", "") if isinstance(it.get("title"), str) else "")
        for it in items
        if isinstance(it, dict)
    ]
    rep.check(f.path, "titles: present, no mojibake",
              title_problems([t for _, t in f.entries], "item"))


# ---------------------------------------------------------------------------
# feedparser
# ---------------------------------------------------------------------------

FEEDPARSER_VERSIONS = {"atom": "atom10", "rss": "rss20", "json": "json11"}


def check_feedparser(rep: Report, f: Feed) -> None:
    import feedparser

    if f.kind == "json" and FEEDPARSER_VERSIONS["json"] not in feedparser.api.SUPPORTED_VERSIONS:
        rep.skip(f.path, "feedparser", f"feedparser {feedparser.__version__} cannot read JSON Feed")
        return
    d = feedparser.parse(f.body, response_headers={"content-type": f.headers.get("content-type", ""), "content-location": f.url})
    problems = []
    if d.bozo:
        problems.append(f"bozo=1: {d.get('bozo_exception')!r}")
    if d.version != FEEDPARSER_VERSIONS[f.kind]:
        problems.append(f"detected as {d.version!r}, expected {FEEDPARSER_VERSIONS[f.kind]!r}")
    if len(d.entries) != len(f.entries):
        problems.append(f"{len(d.entries)} entries, the document has {len(f.entries)}")
    for i, e in enumerate(d.entries, 1):
        for k in ("title", "link", "id"):
            if not e.get(k):
                problems.append(f"entry {i} has no {k}")
        if not (e.get("published_parsed") or e.get("updated_parsed")):
            problems.append(f"entry {i} has no parsed date")
    rep.check(f.path, "feedparser: bozo 0, title/link/id/date on every entry", problems,
              note=f"{d.version}, {len(d.entries)} entries")

    problems = []
    for i, (e, (ident, title)) in enumerate(zip(d.entries, f.entries), 1):
        got = e.get("title", "")
        if e.get("id") != ident:
            problems.append(f"entry {i} id {e.get('id')!r} != {ident!r}")
        if got != title:
            problems.append(f"entry {i} title {got!r} != {title!r}")
        elif bad := mojibake(got):
            problems.append(f"entry {i}: {bad}")
    rep.check(f.path, "feedparser: titles and ids as in the document", problems)


# ---------------------------------------------------------------------------
# newsboat
# ---------------------------------------------------------------------------


def check_newsboat(rep: Report, feeds: list[Feed], work: Path) -> None:
    # One reader per feed: newsboat keys its cache on the guid alone, and the
    # formats of one family share ids, so a shared cache would file each post
    # under whichever feed was reloaded first.
    for i, f in enumerate(feeds):
        if f.kind == "json":
            rep.skip(f.path, "newsboat", "newsboat has no JSON Feed support")
            continue
        newsboat_one(rep, f, work / f"newsboat-{i}")


def newsboat_one(rep: Report, f: Feed, nb: Path) -> None:
    nb.mkdir(exist_ok=True)
    urls = nb / "urls"
    urls.write_text(f"{f.url}\n", encoding="utf-8")
    conf = nb / "config"
    errlog = nb / "error.log"
    conf.write_text(
        f'error-log "{errlog}"\n'
        "download-retries 1\n"
        "download-timeout 20\n"
        "max-items 0\n",
        encoding="utf-8",
    )
    cache = nb / "cache.db"
    env = dict(os.environ, HOME=str(nb), XDG_CONFIG_HOME=str(nb), XDG_DATA_HOME=str(nb),
               LC_ALL="C.UTF-8", LANG="C.UTF-8")
    for k in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    t0 = time.monotonic()
    r = subprocess.run(
        ["newsboat", "-u", str(urls), "-c", str(cache), "-C", str(conf), "-x", "reload"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    elapsed = time.monotonic() - t0
    problems = []
    if r.returncode != 0:
        problems.append(f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[:300]}")
    if errlog.exists():
        problems += [ln for ln in errlog.read_text(errors="replace").splitlines() if ln.strip()]
    if not cache.exists():
        problems.append("newsboat wrote no cache")
    if problems:
        rep.check(f.path, "newsboat: -x reload", problems)
        return
    db = sqlite3.connect(cache)
    try:
        rows = db.execute("SELECT feedurl, title, url FROM rss_item").fetchall()
        feed_urls = {u for (u,) in db.execute("SELECT rssurl FROM rss_feed")}
    finally:
        db.close()
    got = [(t, u) for fu, t, u in rows if fu == f.url]
    if f.url not in feed_urls:
        problems.append("the feed is not in the cache")
    if len(got) != len(f.entries):
        problems.append(f"{len(got)} items in the cache, the feed has {len(f.entries)}")
    have = [t for t, _ in got]
    for _, t in f.entries:
        if t.strip() not in have:
            problems.append(f"title {t!r} missing or changed")
    for t, u in got:
        if bad := mojibake(t):
            problems.append(f"{bad} in {t!r}")
        if not u:
            problems.append(f"item {t!r} has no url")
    rep.check(f.path, "newsboat: every item arrived with its title", problems,
              note=f"{len(got)} items, reload {elapsed:.1f}s")


# ---------------------------------------------------------------------------
# HTML pages: what they advertise must be served
# ---------------------------------------------------------------------------


def check_page(rep: Report, path: str, url: str, r: Response) -> list[str]:
    """Returns the absolute URLs of the feeds the page advertises."""
    problems = []
    ctype = r.headers.get("content-type", "")
    if not ctype.lower().startswith("text/html") or "utf-8" not in ctype.lower():
        problems.append(f"Content-Type {ctype!r}")
    try:
        text = r.body.decode("utf-8")
    except UnicodeDecodeError as e:
        rep.check(path, "HTML page", f"not UTF-8: {e}")
        return []
    p = _LinkCollector()
    p.feed(text)
    p.close()
    advertised = []
    for a in p.alternates:
        href = urllib.parse.urljoin(url, a.get("href", ""))
        typ = a.get("type", "")
        res = get(href)
        advertised.append(href)
        if res.status != 200:
            problems.append(f"advertises {href} ({typ}), which answers {res.status}")
        elif typ and res.headers.get("content-type", "").split(";")[0].strip() != typ:
            problems.append(f"advertises {href} as {typ}, served as {res.headers.get('content-type')!r}")
    if bad := mojibake(text):
        problems.append(bad)
    rep.check(path, "HTML page: advertised feeds are served", problems,
              note=f"{len(p.alternates)} alternate links")
    return advertised


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------


def saved_name(path: str) -> str:
    return "feed-" + re.sub(r"[^A-Za-z0-9.]+", "_", path.strip("/"))


def category_slug(cat: dict) -> str:
    """As CategoryConfig::slug: the name percent-encoded, all but ASCII alphanumerics, - and _."""
    if cat.get("slug"):
        return cat["slug"]
    return "".join(
        c if (c.isascii() and c.isalnum()) or c in "-_" else "".join(f"%{b:02X}" for b in c.encode())
        for c in cat["name"].strip()
    )


def cmd_check(args) -> int:
    rep = Report()
    base = args.base.rstrip("/") + "/"
    work = Path(args.work)
    schemas = Path(args.schemas)
    with open(args.config, "rb") as fh:
        cfg = tomllib.load(fh)
    categories = cfg.get("category", [])

    # (path, kind, family, required)
    wanted = [("feed.atom", "atom", "all", True), ("feed.rss", "rss", "all", True),
              ("feed.json", "json", "all", args.strict)]
    pages = [("", True)]
    for c in categories:
        slug = category_slug(c)
        for kind, ext in (("atom", "atom"), ("rss", "rss"), ("json", "json")):
            wanted.append((f"category/{slug}.{ext}", kind, slug, args.strict))
        pages.append((f"category/{slug}/", args.strict))

    advertised: set[str] = set()
    for path, required in pages:
        url = base + path
        r = get(url)
        if r.status == 200:
            advertised.update(check_page(rep, "/" + path, url, r))
        elif required:
            rep.check("/" + path, "HTML page", f"answers {r.status}")
        else:
            rep.skip("/" + path, "HTML page", f"answers {r.status} (not served yet)")

    feeds: list[Feed] = []
    for path, kind, family, required in wanted:
        url = base + path
        r = get(url)
        if r.status != 200:
            if required or url in advertised:
                why = " (advertised by a page)" if url in advertised else ""
                rep.check("/" + path, "served", f"answers {r.status}{why}")
            else:
                rep.skip("/" + path, "all checks", f"answers {r.status} (not served yet)")
            continue
        feeds.append(Feed("/" + path, url, kind, family, r.body, r.headers))
        (work / saved_name(path)).write_bytes(r.body)
    if not categories:
        rep.skip("/category/*", "category feeds", f"{args.config_name} has no [[category]]")

    for f in feeds:
        check_http(rep, f)
        if f.kind == "atom":
            check_atom(rep, f, schemas, work)
        elif f.kind == "rss":
            check_rss(rep, f, schemas, work)
        else:
            check_json(rep, f)
        check_feedparser(rep, f)

    empty = [f.path for f in feeds if f.kind == "atom" and not f.entries]
    if "/feed.atom" in empty:
        rep.check("/feed.atom", "has entries", "the feed is empty, so the checks proved little")
    elif empty:
        rep.advisory("/category/*", "entries", [f"{p} is empty: its entry checks proved nothing" for p in empty])

    # The formats of one family publish the same posts, in the same order.
    by_family: dict[str, dict[str, Feed]] = {}
    for f in feeds:
        by_family.setdefault(f.family, {})[f.kind] = f
    for family, kinds in by_family.items():
        ref = kinds.get("atom")
        if ref is None:
            continue
        for kind, f in kinds.items():
            if kind == "atom":
                continue
            problems = []
            if len(f.entries) != len(ref.entries):
                problems.append(f"{len(f.entries)} entries, {ref.path} has {len(ref.entries)}")
            for i, (a, b) in enumerate(zip(ref.entries, f.entries), 1):
                if a[0] != b[0]:
                    problems.append(f"entry {i} id {b[0]!r}, Atom has {a[0]!r}")
                if a[1] != b[1]:
                    problems.append(f"entry {i} title {b[1]!r}, Atom has {a[1]!r}")
            rep.check(f.path, f"same posts as {ref.path} (ids, titles, order)", problems)
    # A category feed holds the posts filed under it, and only those.
    main = by_family.get("all", {}).get("atom")
    max_entries = cfg.get("blog", {}).get("max_entries", 50)
    for family, kinds in by_family.items():
        f = kinds.get("atom")
        if family == "all" or f is None or main is None:
            continue
        problems = []
        for i, ((ident, _), terms) in enumerate(zip(f.entries, f.terms), 1):
            if family not in terms:
                problems.append(f"entry {i} {ident!r} has categories {sorted(terms)}, not {family!r}")
        if len(f.entries) < max_entries:
            have = {ident for ident, _ in f.entries}
            for (ident, title), terms in zip(main.entries, main.terms):
                if family in terms and ident not in have:
                    problems.append(f"{ident!r} ({title}) is filed under {family!r} in /feed.atom but missing")
        rep.check(f.path, "holds exactly the posts filed under it", problems)

    atom_ids = [(f.feed_id, f.path) for f in feeds if f.kind == "atom"]
    seen: dict[str, str] = {}
    problems = []
    for ident, path in atom_ids:
        if ident in seen:
            problems.append(f"{path} has the same <id> as {seen[ident]}: {ident!r}")
        seen.setdefault(ident, path)
    if len(atom_ids) > 1:
        rep.check("/*.atom", "every Atom feed has its own <id>", problems)

    all_titles = [t for f in feeds if f.kind == "atom" for _, t in f.entries]
    if all_titles:
        rep.check("/feed.atom", "Japanese titles present",
                  [] if any(JAPANESE.search(t) for t in all_titles)
                  else "no title has Japanese text, so the round trip proved nothing")

    check_newsboat(rep, feeds, work)

    print()
    if rep.advisories:
        print(f"{rep.advisories} advisory notes (not failures)")
    # The closing line in the plain form CI summaries read.
    print(f"conformance: {rep.passed} passed, {rep.failed} failed, {rep.skipped} skipped")
    return 1 if rep.failed else 0


# ---------------------------------------------------------------------------
# Setup helpers
# ---------------------------------------------------------------------------


def cmd_free_ports(args) -> int:
    socks = []
    for _ in range(args.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()
    return 0


def cmd_make_config(args) -> int:
    """The daemon config pointed at the test ports and a temp store; the file is
    edited line by line so that it stays the project's own config otherwise."""
    src = Path(args.src)
    text = src.read_text(encoding="utf-8")
    out = []
    section = ""
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if s.startswith("["):
            section = s
        key = s.split("=", 1)[0].strip() if "=" in s and not s.startswith("#") else ""
        if section == "[server]" and key == "listen":
            line = f'listen = "{args.listen}"\n'
        elif section == "[blog]" and key == "base_url":
            line = f'base_url = "http://{args.listen}/"\n'
        elif section == "[store]" and key == "path":
            line = f"path = {json.dumps(args.store)}\n"
        elif section == "[[category]]" and key == "examples":
            value = tomllib.loads(s)["examples"]
            line = f"examples = {json.dumps(str((src.parent / value).resolve()))}\n"
        elif section == "[[source]]" and key == "url":
            line = line.replace(args.newsroom_default, args.newsroom)
        out.append(line)
    result = "".join(out)
    Path(args.dst).write_text(result, encoding="utf-8")

    cfg = tomllib.loads(result)
    problems = []
    if cfg.get("server", {}).get("listen") != args.listen:
        problems.append("[server] listen")
    if cfg.get("blog", {}).get("base_url") != f"http://{args.listen}/":
        problems.append("[blog] base_url")
    if cfg.get("store", {}).get("path") != args.store:
        problems.append("[store] path")
    srcs = [s for s in cfg.get("source", []) if s.get("enabled", True)]
    if not srcs or not all(args.newsroom in s.get("url", "") for s in srcs):
        problems.append(f"[[source]] urls on {args.newsroom}")
    if problems:
        print(f"{src}: could not rewrite {', '.join(problems)}; has its layout changed?",
              file=sys.stderr)
        return 1
    return 0


def cmd_wait(args) -> int:
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = get(args.url, timeout=5)
            if r.status == 200:
                if not args.entries:
                    return 0
                root = ET.fromstring(r.body)
                n = len(root.findall(A + "entry"))
                if n > 0:
                    print(f"{args.url}: {n} entries")
                    return 0
                last = "200 with no entries"
            else:
                last = f"status {r.status}"
        except (OSError, ET.ParseError) as e:
            last = str(e)
        time.sleep(0.3)
    print(f"timed out after {args.timeout}s waiting for {args.url}: {last}", file=sys.stderr)
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("free-ports")
    p.add_argument("n", type=int)
    p.set_defaults(func=cmd_free_ports)

    p = sub.add_parser("make-config")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--listen", required=True)
    p.add_argument("--newsroom", required=True)
    p.add_argument("--newsroom-default", default="127.0.0.1:8900")
    p.add_argument("--store", required=True)
    p.set_defaults(func=cmd_make_config)

    p = sub.add_parser("wait")
    p.add_argument("url")
    p.add_argument("--entries", action="store_true", help="also wait for an Atom entry")
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("check")
    p.add_argument("--config", required=True)
    p.add_argument("--config-name", default="the config")
    p.add_argument("--base", required=True)
    p.add_argument("--schemas", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--strict", action="store_true",
                   help="/feed.json, category feeds and pages must be served")
    p.set_defaults(func=cmd_check)

    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
