# Sourced by the benchmark scripts. `start_mock` starts the mock upstream, nginx from Debian
# (written outside this project, so the figures do not depend on our own simulator), on loopback:
#   /json/chat/completions   a chat.completion with usage
#   /sse/chat/completions    the same answer as an event stream, usage chunk and [DONE]
#   /slow/chat/completions   the event stream at 100 bytes/s, about 11 s per answer (long-lived streams)
#   /long/chat/completions   a 200-token answer as 200 content chunks, usage chunk and [DONE]
# and sets MOCK_URL (http://127.0.0.1:PORT) and MOCK_PID. `start_router` writes a config with
# one provider per mock path (policies `auto`, `auto-sse`, `auto-slow`, `auto-long`) and starts the router,
# setting ROUTER_URL and ROUTER_PID. Both add to the caller's `pids`, which its EXIT trap stops.
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# bench_setup: the router binary in BIN (a release build unless BIN is set), a temporary
# folder in `tmp`, and an EXIT trap that stops every process listed in `pids`
bench_setup() {
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  if [ -z "${BIN:-}" ]; then
    cargo build --release --bin switchyard 2>&1 | tail -1
    BIN=target/release/switchyard
  fi
  tmp=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
}

# listening_url OUT ERR WHAT: waits (10 s at most) for a process's "listening on URL" line in
# the file OUT and prints URL; if none comes, says WHAT did not start, shows ERR and fails
listening_url() {
  local url
  for _ in $(seq 200); do
    url=$(awk '/listening on/ {print $NF; exit}' "$1")
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.05
  done
  echo "the $3 did not start" >&2; cat "$2" >&2; return 1
}

# serve_router CONFIG DIR BIN: starts `BIN serve` on CONFIG (keys BENCH_KEY_A and BENCH_KEY_B
# set, its output in DIR) and sets ROUTER_URL and ROUTER_PID once it listens
serve_router() {
  RUST_LOG=warn BENCH_KEY_A=bench-a BENCH_KEY_B=bench-b \
    "$3" serve --config "$1" >"$2/router.out" 2>"$2/router.err" &
  ROUTER_PID=$!
  pids+=("$ROUTER_PID")
  ROUTER_URL=$(listening_url "$2/router.out" "$2/router.err" router)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_mock() { # start_mock DIR
  local dir=$1 port; port=$(free_port)
  mkdir -p "$dir/nginx/logs"
  local chunk='{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"mock-small","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}'
  local sse="" d
  for d in '{"role":"assistant","content":""}|null' '{"content":"The capital"}|null' '{"content":" of France"}|null' \
    '{"content":" is Paris."}|null' '{}|"stop"'; do
    # shellcheck disable=SC2059
    sse+="data: $(printf "$chunk" "${d%|*}" "${d#*|}")\n\n"
  done
  local usage='data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"mock-small","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21}}\n\ndata: [DONE]\n\n'
  # a 200-token answer streamed a token per chunk, as models send them: too long for
  # `return` (nginx caps a parameter at 4 KiB), so a file, which nginx serves only to GET: a
  # POST is refused with 405 and error_page's internal redirect fetches the file instead
  local long="" i
  long+="data: $(printf "$chunk" '{"role":"assistant","content":""}' null)\n\n"
  for i in $(seq 200); do
    # shellcheck disable=SC2059
    long+="data: $(printf "$chunk" "{\"content\":\" word$i\"}" null)\n\n"
  done
  long+="data: $(printf "$chunk" '{}' '"stop"')\n\n$usage"
  sse+=$usage
  sse=${sse//\"/\\\"}
  printf '%b' "$long" >"$dir/nginx/long.sse"
  local json='{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"mock-small","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21}}'
  cat >"$dir/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $dir/nginx/logs/error.log warn;
pid $dir/nginx/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  location_placeholder
}
CONF
  local server="server { listen 127.0.0.1:$port; \
location /json/ { default_type application/json; return 200 '$json'; } \
location /sse/ { default_type text/event-stream; return 200 \"$sse\"; } \
location /slow/ { default_type text/event-stream; limit_rate 100; return 200 \"$sse\"; } \
location /long/ { error_page 405 =200 /long.sse; return 405; } \
location = /long.sse { internal; root $dir/nginx; default_type text/event-stream; } }"
  python3 - "$dir/nginx/nginx.conf" "$server" <<'PY'
import sys
p, server = sys.argv[1], sys.argv[2]
s = open(p).read().replace("location_placeholder", server)
open(p, "w").write(s)
PY
  MOCK_URL="http://127.0.0.1:$port"
  run_nginx "$dir/nginx" "$MOCK_URL" mock
  MOCK_PID=$NGINX_PID
}

# run_nginx DIR URL WHAT: starts nginx on DIR/nginx.conf (logs in DIR/logs) and waits (5 s at
# most) until URL answers a POST to /json/chat/completions; sets NGINX_PID
run_nginx() {
  nginx -p "$1" -c "$1/nginx.conf" 2>"$1/logs/start.err" &
  NGINX_PID=$!
  pids+=("$NGINX_PID")
  for _ in $(seq 100); do
    curl -fsS -X POST "$2/json/chat/completions" -o /dev/null 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the nginx $3 did not start"; cat "$1/logs/start.err" "$1/logs/error.log"; exit 1
}

# start_hop DIR: a second nginx on loopback that only forwards to the mock (keep-alive upstream
# connections, HTTP/1.1, no buffering): what one extra hop costs with no routing work at all,
# the floor any proxy's figures are read against. Sets HOP_URL and HOP_PID.
start_hop() {
  local dir=$1/hop port; port=$(free_port)
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream mock { server ${MOCK_URL#http://}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
  HOP_URL="http://127.0.0.1:$port"
  run_nginx "$dir" "$HOP_URL" hop
  HOP_PID=$NGINX_PID
}

start_router() { # start_router DIR BIN [EXTRA_YAML]; env KEY_RPM (each key's rpm), LEDGER_YAML (the ledger: value)
  local dir=$1 bin=$2 wire alias name
  mkdir -p "$dir/cfg/providers" "$dir/cfg/policies"
  for wire in json sse slow long; do
    cat >"$dir/cfg/providers/$wire.yaml" <<YAML
name: $wire
base_url: $MOCK_URL/$wire
keys: [{env: BENCH_KEY_A${KEY_RPM:+, rpm: $KEY_RPM}}, {env: BENCH_KEY_B${KEY_RPM:+, rpm: $KEY_RPM}}]
timeouts: {first_byte_ms: 30000, idle_ms: 30000}
models:
  - {name: mock-small, input_per_1m: 0.1, output_per_1m: 0.4}
  - {name: mock-large, input_per_1m: 2.0, output_per_1m: 8.0}
YAML
    alias=auto-$wire name=$wire; [ "$wire" = json ] && alias=auto name=default
    cat >"$dir/cfg/policies/$wire.yaml" <<YAML
name: $name
aliases: [$alias]
baseline: $wire/mock-large
rules:
  - {name: simple, when: {complexity: simple}, route: [$wire/mock-small]}
  - {name: rest, route: [$wire/mock-large]}
YAML
  done
  printf 'listen: 127.0.0.1:0\nledger: %s\nlog_format: json\nauth: {mode: open}\n%s\n' \
    "${LEDGER_YAML:-$dir/ledger.jsonl}" "${3:-}" >"$dir/cfg/switchyard.yaml"
  serve_router "$dir/cfg/switchyard.yaml" "$dir" "$bin"
}

# rss_mb PID FIELD: a /proc/PID/status memory field (VmRSS, VmHWM) in MB
rss_mb() { awk -v k="$2:" '$1==k {printf "%.1f", $2/1024}' "/proc/$1/status"; }
