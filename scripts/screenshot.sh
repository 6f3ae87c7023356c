#!/usr/bin/env bash
# Looks at the blog in a real browser: renders the front page and one category page of a
# running kawaraban in headless Chromium and checks that the screenshots are not blank.
# Not part of CI (it needs Chromium: `apt-get install -y chromium`).
#
#   cargo run --example newsroom &                                 # the offline outlets
#   cargo run --release -- serve --config config/offline.toml &    # the daemon
#   scripts/screenshot.sh http://127.0.0.1:8080/ [OUT_DIR]
set -euo pipefail
base="${1:-http://127.0.0.1:8080/}"
out="${2:-target/screenshots}"
mkdir -p "$out"
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "needs Chromium: apt-get install -y chromium" >&2; exit 2; }

# The first category the front page links, so the script works with any configuration.
category="$(curl -fsS "$base" | grep -o 'href="category/[^"/]*/"' | head -n1 | sed 's/href="//; s/"$//')"
pages=("" "$category")
names=("front" "category")

for i in "${!pages[@]}"; do
    url="${base}${pages[$i]}"
    png="$out/${names[$i]}.png"
    profile="$(mktemp -d)"
    "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,2000 --hide-scrollbars \
        --screenshot="$png" "$url" >/dev/null 2>&1
    rm -rf "$profile"
    python3 - "$png" "$url" <<'PY'
import struct, sys, zlib
path, url = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{url}: {path} is not a PNG")
pos, idat, width, height = 8, b"", 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height = struct.unpack(">II", body[:8])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
# A blank page decompresses to little but filter bytes and one background colour.
distinct = len(set(raw[i] for i in range(0, len(raw), 7)))
inked = sum(1 for i in range(0, len(raw), 7) if raw[i] not in (0, 255)) / max(1, len(raw) // 7)
print(f"{url}: {width}x{height}, {distinct} distinct byte values, {inked:.1%} non-background samples -> {path}")
if distinct < 16 or inked < 0.002:
    sys.exit(f"{url}: the screenshot looks blank")
PY
done
