#!/usr/bin/env bash
# Benchmark (not a test): requests/s and latency p50/p99 of "through the router" versus
# "direct to the mock", at 1 and 50 connections, plus the router's peak RSS.
# Load generator: wrk (Debian package). Everything runs on loopback and stops by itself.
#   usage: benches/proxy.sh            (DURATION=10 seconds per run by default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin switchyard 2>&1 | tail -1
BIN=target/release/switchyard
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

start() { # start NAME ARGS... ; sets URL and PID
  local name=$1; shift
  "$BIN" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  PID=$!; pids+=("$PID")
  for _ in $(seq 100); do
    URL=$(awk '/listening on/ {print $NF; exit}' "$tmp/$name.out")
    [ -n "$URL" ] && return 0
    sleep 0.05
  done
  echo "$name did not start"; cat "$tmp/$name.err"; exit 1
}

start sim sim --name mock --models mock-small,mock-large
SIM_URL=$URL
mkdir -p "$tmp/cfg/providers" "$tmp/cfg/policies"
cat >"$tmp/cfg/providers/mock.yaml" <<YAML
name: mock
base_url: $SIM_URL
keys: [{env: BENCH_KEY_A}, {env: BENCH_KEY_B}]
models:
  - {name: mock-small, input_per_1m: 0.1, output_per_1m: 0.4}
  - {name: mock-large, input_per_1m: 2.0, output_per_1m: 8.0}
YAML
cat >"$tmp/cfg/policies/default.yaml" <<YAML
name: default
aliases: [auto]
baseline: mock/mock-large
rules:
  - {name: simple, when: {complexity: simple}, route: [mock/mock-small]}
  - {name: rest, route: [mock/mock-large]}
YAML
printf 'listen: 127.0.0.1:0\nledger: %s\nlog_format: json\nauth: {mode: open}\n' "$tmp/ledger.jsonl" >"$tmp/cfg/switchyard.yaml"
RUST_LOG=warn BENCH_KEY_A=bench-a BENCH_KEY_B=bench-b start router serve --config "$tmp/cfg/switchyard.yaml"
ROUTER_URL=$URL; ROUTER_PID=$PID

lua() { # lua FILE MODEL
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$2","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":16}'
LUA
}
lua "$tmp/direct.lua" mock-small
lua "$tmp/router.lua" auto

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }

run() { # run CONNS SCRIPT URL -> "rps p50_ms p99_ms"
  local c=$1 t=1; [ "$c" -gt 1 ] && t=2
  wrk -t$t -c"$c" -d2s -s "$2" "$3" >/dev/null 2>&1 || true
  local out; out=$(wrk -t$t -c"$c" -d"${DURATION}s" --latency -s "$2" "$3")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ -n "$non2xx" ] && echo "warning: $non2xx non-2xx answers on $3" >&2
  echo "$rps $p50 $p99"
}

printf '\n%-12s %-8s %12s %10s %10s\n' "target" "conns" "requests/s" "p50 ms" "p99 ms"
for c in 1 50; do
  read -r d_rps d_p50 d_p99 <<<"$(run "$c" "$tmp/direct.lua" "$SIM_URL/chat/completions")"
  read -r r_rps r_p50 r_p99 <<<"$(run "$c" "$tmp/router.lua" "$ROUTER_URL/v1/chat/completions")"
  printf '%-12s %-8s %12s %10.3f %10.3f\n' direct "$c" "$d_rps" "$d_p50" "$d_p99"
  printf '%-12s %-8s %12s %10.3f %10.3f\n' router "$c" "$r_rps" "$r_p50" "$r_p99"
  awk -v c="$c" -v dr="$d_rps" -v rr="$r_rps" -v d50="$d_p50" -v r50="$r_p50" -v d99="$d_p99" -v r99="$r_p99" \
    'BEGIN { printf "%-12s %-8s %11.1f%% %+10.3f %+10.3f   (router vs direct)\n", "added", c, 100*rr/dr, r50-d50, r99-d99 }'
done
rss=$(awk '/VmHWM/ {print $2/1024}' "/proc/$ROUTER_PID/status")
lines=$(wc -l <"$tmp/ledger.jsonl")
printf '\nrouter peak RSS: %.1f MB; ledger lines written: %s\n' "$rss" "$lines"
