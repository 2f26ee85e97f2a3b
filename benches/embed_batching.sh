#!/usr/bin/env bash
# Benchmark (not a test): embeddings micro-batching. The router in front of the simulator
# (`switchyard sim`, OpenAI wire) serving two identical embedding models, `emb` (no batching)
# and `emb-b` (`batch_window_ms: WINDOW_MS`). At 1, 10 and 100 concurrent clients, each sending
# one short text per request, it prints requests/s, p50, the upstream calls the router made and
# the inputs per call, with and without coalescing; then the same under a key limited to RPM
# requests a minute (the router paces its calls; clients wait in its queue), where fewer calls
# is what lets more requests through. The load generator is wrk with one thread (Debian
# package). Everything runs on loopback and stops by itself.
#   usage: benches/embed_batching.sh      DURATION=5 (seconds per run), WINDOW_MS=5, RPM=1200,
#          BIN=path/to/switchyard (default: the release build, which it builds)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WINDOW_MS=${WINDOW_MS:-5}
RPM=${RPM:-1200}
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup

"$BIN" sim --name sim --models emb,emb-b >"$tmp/sim.out" 2>"$tmp/sim.err" &
pids+=($!)
SIM_URL=$(listening_url "$tmp/sim.out" "$tmp/sim.err" sim)

start() { # start NAME KEY_LIMITS -> ROUTER_URL, ROUTER_PID (a router on its own config)
  local dir="$tmp/$1"
  mkdir -p "$dir/providers" "$dir/policies"
  cat >"$dir/providers/sim.yaml" <<YAML
name: sim
base_url: $SIM_URL
keys: [{env: BENCH_KEY_A$2}]
max_queue: 1000
timeouts: {first_byte_ms: 30000, idle_ms: 30000}
models:
  - {name: emb, input_per_1m: 0.02, output_per_1m: 0, endpoints: [embeddings]}
  - {name: emb-b, input_per_1m: 0.02, output_per_1m: 0, endpoints: [embeddings], batch_window_ms: $WINDOW_MS}
YAML
  cat >"$dir/policies/default.yaml" <<YAML
name: default
aliases: [auto]
baseline: sim/emb
pacing: {on_busy: wait, max_wait_ms: 60000}
rules:
  - {name: all, route: [sim/emb]}
YAML
  # the response cache off: repeated texts must reach the upstream
  printf 'listen: 127.0.0.1:0\nledger: %s\nlog_format: json\nauth: {mode: open}\ncache: {enabled: false}\n' "$dir/ledger.jsonl" >"$dir/switchyard.yaml"
  serve_router "$dir/switchyard.yaml" "$dir" "$BIN"
}

for model in emb emb-b; do
  cat >"$tmp/$model.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"model":"sim/$model","input":"embed sentence number ' .. n .. ' of the benchmark"}')
end
LUA
done

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }

# calls the sim has received so far (one model is driven at a time)
calls() {
  curl -fsS "${SIM_URL%/v1}/health" | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"])'
}

run() { # run SCENARIO CONNS MODEL [PAUSE]: with PAUSE, no warm-up, and a pause after the run
  local c=$2 model=$3 pause=${4:-}
  # (a paced key keeps the slots booked by requests still queued when a run stops, so the
  # next run on it waits until they have passed)
  [ -z "$pause" ] && { wrk -t1 -c"$c" -d1s --timeout 60s -s "$tmp/$model.lua" "$ROUTER_URL/v1/embeddings" >/dev/null 2>&1 || true; }
  local before; before=$(calls)
  local out; out=$(wrk -t1 -c"$c" -d"${DURATION}s" --timeout 60s --latency -s "$tmp/$model.lua" "$ROUTER_URL/v1/embeddings")
  local after; after=$(calls)
  local n rps p50 non2xx
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ -n "$non2xx" ] && echo "warning: $non2xx non-2xx answers ($1, $c clients, $model)" >&2
  local made=$((after - before))
  local mode=off; [ "$model" = emb-b ] && mode="${WINDOW_MS} ms"
  # wrk stops its clock with requests still in flight, so calls are per request of the run
  awk -v s="$1" -v c="$c" -v m="$mode" -v rps="$rps" -v p50="$p50" -v n="$n" -v k="$made" \
    'BEGIN { printf "%-13s %7s %-10s %12.1f %9.2f %10d %10d %12.2f\n", s, c, m, rps, p50, n, k, (k > 0 ? n / k : 0) }'
  [ -n "$pause" ] && sleep "$pause"
  return 0
}

header() {
  printf '\n%-13s %7s %-10s %12s %9s %10s %10s %12s\n' scenario clients batching requests/s "p50 ms" requests "upstream" "inputs/call"
}

start unlimited ""
header
for c in 1 10 100; do
  run unlimited "$c" emb
  run unlimited "$c" emb-b
done
kill "$ROUTER_PID"

start "rpm$RPM" ", rpm: $RPM"
for c in 1 10 100; do
  pause=$(awk -v c="$c" -v r="$RPM" 'BEGIN {printf "%.1f", c * 60 / r + 1}')
  run "key rpm $RPM" "$c" emb "$pause"
  run "key rpm $RPM" "$c" emb-b "$pause"
done
printf '\nbinary: %s; machine: %s cores, load %s\n' "$BIN" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
