#!/usr/bin/env bash
# Benchmark (not a test): the router against the same mock upstream called directly, in one run.
# Prints requests/s and p50/p99 at 1 and 50 connections for whole answers, short streamed answers
# (`sse`, 5 chunks) and 200-token streamed answers (`long`, 200 chunks), the
# latency the router adds, its CPU per request, and its RSS after start, after warm-up and with
# 1,000 concurrent streams. The mock is nginx (benches/common.sh); the load generator is wrk with
# one thread (Debian packages). A second nginx that only forwards to the mock (`hop`) shows what
# an extra hop costs with no routing work, in the same run. Everything runs on loopback and
# stops by itself.
#   usage: benches/proxy.sh      DURATION=10 (seconds per run), STREAMS=1000, BIN=path/to/switchyard
#          EXTRA_YAML='...'      appended to the router's switchyard.yaml (e.g. a state: block)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
STREAMS=${STREAMS:-1000}
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup
start_mock "$tmp"
start_hop "$tmp"
start_router "$tmp" "$BIN" "${EXTRA_YAML:-}"

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
RSS_START=$(rss_mb "$ROUTER_PID" VmRSS)
ANON_START=$(rss_mb "$ROUTER_PID" RssAnon)

lua() { # lua FILE MODEL STREAM
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$2","stream":$3,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":16}'
LUA
}
lua "$tmp/direct-json.lua" mock-small false
lua "$tmp/direct-sse.lua" mock-small true
lua "$tmp/direct-long.lua" mock-small true
lua "$tmp/router-json.lua" auto false
lua "$tmp/router-sse.lua" auto-sse true
lua "$tmp/router-long.lua" auto-long true
lua "$tmp/router-slow.lua" auto-slow true

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }

run() { # run CONNS SCRIPT URL [PID] -> "rps p50_ms p99_ms cpu_us_per_request"
  local c=$1 pid=${4:-}
  wrk -t1 -c"$c" -d2s -s "$2" "$3" >/dev/null 2>&1 || true
  local t0=0; [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
  local out; out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$2" "$3")
  local cpu=-
  if [ -n "$pid" ]; then
    local t1; t1=$(cpu_ticks "$pid")
    local n; n=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v t="$((t1 - t0))" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t/hz*1e6/n}')
  fi
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ -n "$non2xx" ] && echo "warning: $non2xx non-2xx answers on $3" >&2
  echo "$rps $p50 $p99 $cpu"
}

printf '\n%-8s %-8s %-6s %12s %9s %9s %13s\n' answer target conns requests/s "p50 ms" "p99 ms" "CPU us/req"
for kind in json sse long; do
  for c in 1 50; do
    read -r d_rps d_p50 d_p99 d_cpu <<<"$(run "$c" "$tmp/direct-$kind.lua" "$MOCK_URL/$kind/chat/completions" "$MOCK_PID")"
    read -r h_rps h_p50 h_p99 h_cpu <<<"$(run "$c" "$tmp/direct-$kind.lua" "$HOP_URL/$kind/chat/completions" "$HOP_PID")"
    read -r r_rps r_p50 r_p99 r_cpu <<<"$(run "$c" "$tmp/router-$kind.lua" "$ROUTER_URL/v1/chat/completions" "$ROUTER_PID")"
    printf '%-8s %-8s %-6s %12s %9.3f %9.3f %13s\n' "$kind" direct "$c" "$d_rps" "$d_p50" "$d_p99" "$d_cpu"
    printf '%-8s %-8s %-6s %12s %9.3f %9.3f %13s\n' "$kind" hop "$c" "$h_rps" "$h_p50" "$h_p99" "$h_cpu"
    printf '%-8s %-8s %-6s %12s %9.3f %9.3f %13s\n' "$kind" router "$c" "$r_rps" "$r_p50" "$r_p99" "$r_cpu"
    awk -v k="$kind" -v c="$c" -v dr="$d_rps" -v rr="$r_rps" -v d50="$d_p50" -v r50="$r_p50" -v d99="$d_p99" -v r99="$r_p99" \
      'BEGIN { printf "%-8s %-8s %-6s %11.2fx %+9.3f %+9.3f   (router vs direct)\n", k, "added", c, rr/dr, r50-d50, r99-d99 }'
    awk -v k="$kind" -v c="$c" -v dr="$d_rps" -v hr="$h_rps" -v d50="$d_p50" -v h50="$h_p50" -v d99="$d_p99" -v h99="$h_p99" \
      'BEGIN { printf "%-8s %-8s %-6s %11.2fx %+9.3f %+9.3f   (nginx hop vs direct)\n", k, "added", c, hr/dr, h50-d50, h99-d99 }'
  done
done
RSS_WARM=$(rss_mb "$ROUTER_PID" VmRSS)
ANON_WARM=$(rss_mb "$ROUTER_PID" RssAnon)

# long-lived streams: STREAMS connections each holding a stream the mock sends at 100 bytes/s
peak=0
wrk -t1 -c"$STREAMS" -d20s --timeout 30s -s "$tmp/router-slow.lua" "$ROUTER_URL/v1/chat/completions" >"$tmp/slow.out" 2>&1 &
WRK=$!
while kill -0 "$WRK" 2>/dev/null; do
  now=$(rss_mb "$ROUTER_PID" VmRSS)
  peak=$(awk -v a="$peak" -v b="$now" 'BEGIN {print (b > a) ? b : a}')
  sleep 0.5
done
RSS_AFTER=$(rss_mb "$ROUTER_PID" VmRSS)
lines=$(wc -l <"$tmp/ledger.jsonl")
printf '\nrouter RSS: %s MB after start, %s MB after warm-up, %s MB peak with %s concurrent streams, %s MB after them\n' \
  "$RSS_START" "$RSS_WARM" "$peak" "$STREAMS" "$RSS_AFTER"
# the rest of RSS is the binary's own file pages (code, read-only data such as the token
# table's blob), which the page cache backs and the kernel can drop
printf 'of which anonymous (heap, stacks): %s MB after start, %s MB after warm-up\n' "$ANON_START" "$ANON_WARM"
printf 'ledger lines written: %s; machine: %s cores, load %s\n' "$lines" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
