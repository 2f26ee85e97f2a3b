#!/usr/bin/env bash
# Benchmark (not a test): what each fleet feature costs on the proxy path, in one run. The same
# router and nginx mock as benches/proxy.sh, restarted per configuration:
#   off       the JSONL ledger only, keys without limits
#   pacing    keys with an rpm (high enough never to wait), paced fleet-wide through Redis
#   postgres  the ledger copied to Postgres (a throwaway database, dropped at the end)
#   tracing   OpenTelemetry on, every request sampled, spans posted to the mock over OTLP/HTTP
# and prints requests/s, p50 and CPU per request at 1 and 50 connections for each, with the
# difference against `off`. Needs Redis on 127.0.0.1:6379 and Postgres on 127.0.0.1:5432.
#   usage: benches/features.sh    DURATION=8 (seconds per run), BIN=path/to/switchyard
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup
start_mock "$tmp"

DB=switchyard_bench_$$
PG=postgres://postgres@127.0.0.1:5432
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
PREFIX=bench-features-$$
cleanup_features() {
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$PREFIX*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
}
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; cleanup_features; rm -rf "$tmp"' EXIT

cat >"$tmp/router.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":16}'
LUA

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }

measure() { # measure CONNS -> "rps p50_ms cpu_us_per_request"
  local c=$1
  wrk -t1 -c"$c" -d2s -s "$tmp/router.lua" "$ROUTER_URL/v1/chat/completions" >/dev/null 2>&1 || true
  local t0; t0=$(cpu_ticks "$ROUTER_PID")
  local out; out=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$tmp/router.lua" "$ROUTER_URL/v1/chat/completions")
  local t1; t1=$(cpu_ticks "$ROUTER_PID")
  local n; n=$(awk '/requests in/ {print $1}' <<<"$out")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ -n "$non2xx" ] && echo "warning: $non2xx non-2xx answers" >&2
  local rps p50 cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
  cpu=$(awk -v t="$((t1 - t0))" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t/hz*1e6/n}')
  echo "$rps $p50 $cpu"
}

printf '\n%-9s %-6s %12s %9s %11s %14s %12s\n' feature conns requests/s "p50 ms" "CPU us/req" "vs off: rps" "CPU us/req"
declare -A base_rps base_cpu
for feature in off pacing postgres tracing; do
  extra=''
  unset KEY_RPM LEDGER_YAML OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_TRACES_SAMPLER OTEL_BSP_SCHEDULE_DELAY
  case $feature in
    pacing)
      export KEY_RPM=100000000
      extra=$(printf 'state: {redis: "redis://127.0.0.1:6379", prefix: %s}' "$PREFIX") ;;
    postgres)
      export LEDGER_YAML="{path: $tmp/ledger-pg.jsonl, postgres: \"$PG/$DB\"}" ;;
    tracing)
      # the mock answers any POST under /json/ with 200, which is all an OTLP exporter needs
      export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="$MOCK_URL/json/v1/traces"
      export OTEL_TRACES_SAMPLER=always_on OTEL_BSP_SCHEDULE_DELAY=200 ;;
  esac
  start_router "$tmp/$feature" "$BIN" "$extra"
  for c in 1 50; do
    read -r rps p50 cpu <<<"$(measure "$c")"
    if [ "$feature" = off ]; then
      base_rps[$c]=$rps base_cpu[$c]=$cpu
    fi
    awk -v f="$feature" -v c="$c" -v r="$rps" -v p="$p50" -v u="$cpu" -v br="${base_rps[$c]}" -v bu="${base_cpu[$c]}" \
      'BEGIN { printf "%-9s %-6s %12.0f %9.3f %11s %+13.1f%% %+11d\n", f, c, r, p, u, (r/br-1)*100, u-bu }'
  done
  kill "$ROUTER_PID" 2>/dev/null || true
  wait "$ROUTER_PID" 2>/dev/null || true
done
rows=$(psql -tAq "$PG/$DB" -c "SELECT count(*) FROM switchyard_ledger" 2>/dev/null || echo '?')
printf '\nPostgres rows written in the postgres run: %s; machine: %s cores, load %s\n' "$rows" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
