#!/usr/bin/env bash
# Benchmark (not a test): the router's RSS over a soak with the response cache filling up.
# Every request is cacheable (`temperature: 0`) and most are new prompts, so the cache fills to
# its `max_bytes` and then evicts; RSS should level off once it is full. Prints RSS every
# SAMPLE seconds and the spread over the second half. nginx mock and wrk (one thread, 10
# connections) as in benches/proxy.sh; loopback only; stops by itself.
#   usage: benches/soak.sh      MINUTES=10, SAMPLE=30, CACHE_MB=32, BIN=path/to/switchyard
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-10}
SAMPLE=${SAMPLE:-30}
CACHE_MB=${CACHE_MB:-32}
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup
start_mock "$tmp"
start_router "$tmp" "$BIN" "cache: {max_entries: 1000000, max_bytes: $((CACHE_MB << 20)), ttl_s: 3600}"

# nine requests in ten are a prompt never sent before; the tenth repeats an earlier one
cat >"$tmp/soak.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local q = (n % 10 == 0) and math.floor(n / 20) or n
  local body = '{"model":"auto","temperature":0,"messages":[{"role":"user","content":"Question '
    .. q .. ': what is the capital of country number ' .. q .. '?"}],"max_tokens":16}'
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"}, body)
end
LUA

total=$((MINUTES * 60))
wrk -t1 -c10 -d"${total}s" -s "$tmp/soak.lua" "$ROUTER_URL" >"$tmp/wrk.out" 2>&1 &
WRK=$!
printf '%8s %10s\n' "seconds" "RSS MB"
series=()
for ((t = 0; t <= total; t += SAMPLE)); do
  [ "$t" -gt 0 ] && sleep "$SAMPLE"
  kill -0 "$ROUTER_PID" 2>/dev/null || { echo "the router exited"; cat "$tmp/router.err"; exit 1; }
  rss=$(rss_mb "$ROUTER_PID" VmRSS)
  series+=("$rss")
  printf '%8s %10s\n' "$t" "$rss"
done
wait "$WRK" || true
half=$(( ${#series[@]} / 2 ))
printf '%s\n' "${series[@]:$half}" | awk -v mb="$CACHE_MB" \
  'NR==1 {lo=$1; hi=$1} {if ($1<lo) lo=$1; if ($1>hi) hi=$1}
   END {printf "second half: %.1f to %.1f MB (spread %.1f MB); cache max_bytes %s MB\n", lo, hi, hi-lo, mb}'
awk '/Requests\/sec/ {print "requests/s: " $2} /requests in/ {print "requests: " $1}' "$tmp/wrk.out"

printf 'ledger lines: %s; machine: %s cores, load %s\n' "$(wc -l <"$tmp/ledger.jsonl")" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
