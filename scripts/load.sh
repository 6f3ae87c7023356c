#!/usr/bin/env bash
# Serving load: wrk against kawaraban's /feed.atom and / while fetch passes run over a
# few hundred loopback sources, and against nginx (one worker) serving the same bytes
# as static files, in the same run, alternating, so both meet the same machine load.
# Bounded (fixed wrk durations, bounded waits) and self-stopping (everything it starts
# is stopped on exit). Not part of CI. Installs wrk and nginx with apt-get if missing.
#
#   scripts/load.sh                          # defaults below
#   SOURCES=300 DURATION=15s ROUNDS=2 scripts/load.sh
#
# Prints one row per wrk run and the ratio kawaraban/nginx per path; exits 1 when
# /feed.atom is under BAR (0.8) of nginx's requests/s or kawaraban answered any error.
set -euo pipefail

SOURCES="${SOURCES:-300}"
DURATION="${DURATION:-15s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
ROUNDS="${ROUNDS:-2}"
FETCH_CONCURRENCY="${FETCH_CONCURRENCY:-8}"
FEEDS_PORT="${FEEDS_PORT:-18901}"
KB_PORT="${KB_PORT:-18902}"
NGINX_PORT="${NGINX_PORT:-18903}"

root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts/load"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get install -y "${need[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${need[@]}" >/dev/null; }
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

for port in "$FEEDS_PORT" "$KB_PORT" "$NGINX_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use; set FEEDS_PORT, KB_PORT or NGINX_PORT" >&2
        exit 2
    fi
done

if [ -z "${KAWARABAN:-}" ]; then
    (cd "$root" && cargo build --release --quiet)
    KAWARABAN="$root/target/release/kawaraban"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # A daemon stuck in its store does not stop on TERM; the run must end regardless.
    for _ in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$here/feeds.py" "$FEEDS_PORT" "$SOURCES" &
pids+=($!)
for _ in $(seq 100); do
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$FEEDS_PORT/feed/0.xml" 2>/dev/null && break
    sleep 0.1
done

config="$work/kawaraban.toml"
{
    cat <<TOML
[blog]
title = "Load"
author = "load"
base_url = "http://127.0.0.1:$KB_PORT/"
language = "en"
max_entries = 50

[server]
listen = "127.0.0.1:$KB_PORT"

[store]
path = "$work/store"

[fetch]
# Short, so that passes overlap the wrk runs.
interval = "10s"
# The product's default: polls in flight at once, as a real daemon runs.
concurrency = $FETCH_CONCURRENCY
per_host = $FETCH_CONCURRENCY
allow_private = ["127.0.0.0/8"]

[[category]]
name = "News"
slug = "news"
default = true
TOML
    for ((i = 0; i < SOURCES; i++)); do
        printf '\n[[source]]\nname = "Source %d"\nurl = "http://127.0.0.1:%d/feed/%d.xml"\nfull_text = "never"\n' \
            "$i" "$FEEDS_PORT" "$i"
    done
} >"$config"

RUST_LOG="${RUST_LOG:-info,html5ever=off,sled=warn}" "$KAWARABAN" --config "$config" serve >"$work/kawaraban.log" 2>&1 &
pids+=($!)

# Until the first pass is over (bounded: 5 minutes), so the runs meet the steady
# state: every source polled again each interval, a few with new items.
polled=0
for _ in $(seq 300); do
    polled="$(grep -c 'polled' "$work/kawaraban.log" || true)"
    [ "$polled" -ge "$SOURCES" ] && break
    sleep 1
done
entries="$(curl -fsS -m 10 "http://127.0.0.1:$KB_PORT/feed.atom" 2>/dev/null | grep -c '<entry>' || true)"
if [ "$polled" -lt "$SOURCES" ] || [ "$entries" -lt 50 ]; then
    echo "after 5 minutes kawaraban polled $polled of $SOURCES sources, its feed has $entries entries; log:" >&2
    tail -n 20 "$work/kawaraban.log" >&2
    exit 2
fi

# nginx serves what kawaraban serves now, uncompressed: wrk sends no Accept-Encoding,
# so both answer with the plain bytes.
www="$work/www"
mkdir -p "$www" "$work/nginx/logs"
curl -fsS -m 10 -o "$www/feed.atom" "http://127.0.0.1:$KB_PORT/feed.atom"
curl -fsS -m 10 -o "$www/index.html" "http://127.0.0.1:$KB_PORT/"
chmod -R a+rX "$work"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    types { application/atom+xml atom; text/html html; }
    # kawaraban logs no request either, and neither closes a kept-alive connection.
    access_log off;
    keepalive_requests 1000000;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $www;
        index index.html;
    }
}
CONF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$NGINX_PORT/feed.atom" 2>/dev/null && break
    sleep 0.1
done

polled_before="$(grep -c 'polled' "$work/kawaraban.log" || true)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
echo "sources: $SOURCES, fetch interval 10s; bytes: feed.atom $(wc -c <"$www/feed.atom"), / $(wc -c <"$www/index.html")"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds, alternating"
echo

results="$work/results"
mkdir -p "$results"
run() { # round server port path
    local name="${4#/}"
    name="${name:-index}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$3$4" \
        >"$results/$1-$2-${name//./_}.txt"
}
for ((r = 1; r <= ROUNDS; r++)); do
    for path in /feed.atom /; do
        # Who goes first alternates, so drift in the machine's load favours neither.
        if ((r % 2)); then
            run "$r" kawaraban "$KB_PORT" "$path"
            run "$r" nginx "$NGINX_PORT" "$path"
        else
            run "$r" nginx "$NGINX_PORT" "$path"
            run "$r" kawaraban "$KB_PORT" "$path"
        fi
    done
done

echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs;" \
    "sources polled during the runs: $(($(grep -c 'polled' "$work/kawaraban.log" || true) - polled_before))"
echo
python3 "$here/summary.py" "$results"
