#!/usr/bin/env bash
# Benchmark (not a test): instructions the router spends per proxied request, counted by
# valgrind's callgrind (repeatable whatever else the machine runs, unlike wall-clock figures).
# Starts the router under callgrind against the nginx mock (benches/common.sh), warms it up,
# zeroes the counters, sends REQUESTS requests one at a time, dumps and prints the total per
# request and the top functions (inclusive). Loopback only; stops by itself.
#   usage: benches/callgrind.sh   REQUESTS=2000, KIND=json|sse|long, BIN=path/to/switchyard
#          (a profiling build keeps line tables: cargo build --profile profiling --bin switchyard)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-2000}
KIND=${KIND:-json}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup
start_mock "$tmp"
# the router under callgrind: serve_router's command with valgrind in front
BIN_REAL=$BIN
cat >"$tmp/vg" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$tmp/cg.out --dump-instr=no \
  --collect-atstart=yes "$BIN_REAL" "\$@"
SH
chmod +x "$tmp/vg"
start_router "$tmp" "$tmp/vg"
model=auto stream=false
[ "$KIND" != json ] && model=auto-$KIND stream=true
body="{\"model\":\"$model\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],\"max_tokens\":16}"
cat >"$tmp/drive.py" <<'PY'
import http.client, sys, urllib.parse
url, n, body = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
for _ in range(n):
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
PY
python3 "$tmp/drive.py" "$ROUTER_URL" 300 "$body"        # warm-up: pools, caches, lazy tables
callgrind_control -z "$ROUTER_PID" >/dev/null
python3 "$tmp/drive.py" "$ROUTER_URL" "$REQUESTS" "$body"
callgrind_control -d "$ROUTER_PID" >/dev/null
sleep 1
out=$(ls -t "$tmp"/cg.out* | head -1)
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
echo "kind=$KIND requests=$REQUESTS instructions/request=$((total / REQUESTS))"
# awk, not head: head leaving early would fail the pipeline (SIGPIPE under pipefail)
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/file:function/,$p' | awk -v n="${TOP:-40}" 'NR <= n'
if [ -n "${KEEP:-}" ]; then cp "$out" "$KEEP" && echo "callgrind output kept in $KEEP"; fi
