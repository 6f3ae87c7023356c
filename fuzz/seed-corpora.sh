#!/usr/bin/env bash
# Builds the starting corpora under fuzz/corpus/ from the repository's fixtures (and,
# when present, a few pages of ../shared/extraction-testpages). Every fuzz target but
# `config` and `sanitize` reads its first byte as a selector, so seeds get one prepended.
set -euo pipefail
cd "$(dirname "$0")"
root=..
out=corpus
mkdir -p "$out"/{parse_feed,extract_page,sanitize,config,judge}

# $1 selector byte (octal), $2 source, $3 destination
with_pick() { { printf "\\$1"; cat "$2"; } >"$3"; }

for f in "$root"/tests/fixtures/*.xml "$root"/tests/fixtures/*.rdf "$root"/tests/fixtures/feed.json; do
    name=$(basename "$f")
    with_pick 000 "$f" "$out/parse_feed/$name"
    # .jp URL, so detection is hinted towards Japanese encodings.
    with_pick 010 "$f" "$out/parse_feed/jp-$name"
done
# The same feed as UTF-16BE and UTF-16LE, with and without a BOM.
src="$root/tests/fixtures/nodates.xml"
be=$(mktemp)
iconv -f UTF-8 -t UTF-16BE "$src" >"$be"
with_pick 003 "$be" "$out/parse_feed/utf16be-ct.xml"
with_pick 000 "$be" "$out/parse_feed/utf16be.xml"
{ printf '\000\376\377'; cat "$be"; } >"$out/parse_feed/utf16be-bom.xml"
{ printf '\000\377\376'; iconv -f UTF-8 -t UTF-16LE "$src"; } >"$out/parse_feed/utf16le-bom.xml"
rm -f "$be"

for f in "$root"/tests/fixtures/pages/*.html; do
    name=$(basename "$f")
    with_pick 000 "$f" "$out/extract_page/$name"
    cp "$f" "$out/sanitize/$name"
done
pages="$root/../shared/extraction-testpages/pages"
if [ -d "$pages" ]; then
    # A few dozen of the smaller pages: big seeds only slow every execution down.
    for d in $(ls "$pages" | head -n 60); do
        src="$pages/$d/source.html.gz"
        [ -f "$src" ] || continue
        [ "$(gzip -dc "$src" | wc -c)" -le 65536 ] || continue
        gzip -dc "$src" | { printf '\000'; cat; } >"$out/extract_page/shared-$d.html"
        [ -f "$pages/$d/expected.html" ] && cp "$pages/$d/expected.html" "$out/sanitize/shared-$d.html"
    done
fi

cp "$root"/feeds.toml "$out/config/feeds.toml"
for f in "$root"/config/*.toml "$root"/config/examples/*.toml; do
    [ -f "$f" ] && cp "$f" "$out/config/$(basename "$f")"
done

printf '\001security\tre:ransom\\w+\tゼロデイ\nsports\tre:^ad$\nA ransomware gang hit 12 hospitals in 2024.\n' >"$out/judge/terms"
printf '\001re:(?:foo|bar){2,5}baz\n\nfoobarfoobaz and 東京\n' >"$out/judge/regex"
# A valid encoded fingerprint: version 1, level 0, one shingle, one mark, one key.
printf '\000\001\000\001\000\000\000\001\000\000\000\001\000\000\000\004\000\000\000\011\000\000\000\001\002\003\004\005\006\007\010' >"$out/judge/fingerprint"
