#!/usr/bin/env bash
# Benchmark (not a test): the router's system calls and context switches per proxied request,
# counted by `perf stat` on the router process while wrk (one thread) drives it against the
# nginx mock (benches/common.sh). These counts barely depend on the machine's load, unlike
# wall-clock figures: they show the kernel half of the router's CPU (futex wake-ups between
# threads, empty epoll_waits, reads and writes) that callgrind does not see, and the router's
# user and system CPU time per request (/proc, clock ticks). Loopback only.
#   usage: benches/syscalls.sh   DURATION=5 (seconds per run), CONNS="1 50", KIND=json|sse|long,
#          BIN=path/to/switchyard, EXTRA_YAML='...' (appended to the router's switchyard.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 50"}
KIND=${KIND:-json}
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
# shellcheck source=benches/common.sh
source benches/common.sh
bench_setup
start_mock "$tmp"
start_router "$tmp" "$BIN" "${EXTRA_YAML:-}"
model=auto stream=false
[ "$KIND" != json ] && model=auto-$KIND stream=true
cat >"$tmp/request.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$model","stream":$stream,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":16}'
LUA
calls=(futex epoll_wait write writev read recvfrom sendto)
events=context-switches,cpu-migrations,raw_syscalls:sys_enter
for c in "${calls[@]}"; do events+=",syscalls:sys_enter_$c"; done
ticks() { awk '{print $14, $15}' "/proc/$ROUTER_PID/stat"; }   # user and system clock ticks
printf '\n%-6s %10s %8s %8s %9s %10s %9s' conns requests/s "user us" "sys us" ctx-sw syscalls migr
printf ' %9s' "${calls[@]}"
printf '   (per request)\n'
for c in $CONNS; do
  wrk -t1 -c"$c" -d2s -s "$tmp/request.lua" "$ROUTER_URL/v1/chat/completions" >/dev/null 2>&1 || true
  perf stat -x, -e "$events" -p "$ROUTER_PID" -o "$tmp/perf.$c" &
  perf_pid=$!
  sleep 0.2
  read -r u0 s0 <<<"$(ticks)"
  out=$(wrk -t1 -c"$c" -d"${DURATION}s" -s "$tmp/request.lua" "$ROUTER_URL/v1/chat/completions")
  read -r u1 s1 <<<"$(ticks)"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  # perf -x, lines: count,unit,event,...
  per() { awk -F, -v e="$1" -v n="$n" '$3 == e {printf "%.2f", $1 / n}' "$tmp/perf.$c"; }
  us() { awk -v t="$1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'; }
  printf '%-6s %10s %8s %8s %9s %10s %9s' "$c" "$rps" "$(us $((u1 - u0)))" "$(us $((s1 - s0)))" "$(per context-switches)" "$(per raw_syscalls:sys_enter)" "$(per cpu-migrations)"
  for s in "${calls[@]}"; do printf ' %9s' "$(per "syscalls:sys_enter_$s")"; done
  printf '\n'
done
printf 'machine: %s cores, load %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
