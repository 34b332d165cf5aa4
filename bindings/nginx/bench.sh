#!/usr/bin/env bash
# bindings/nginx/bench.sh - what the module costs a request: wrk against one nginx (Debian's,
# with build/nginx/ngx_http_throttlekit_module.so) serving the same small static file from
# two locations, one limited through the Redis door (a policy whose limit is never reached,
# so every request is a full check) and one without the module, one after the other in one
# run. Prints wrk's summary and latency distribution for each, then one line per location
# with requests/s and p99.
#
# Redis: $THROTTLEKIT_REDIS_URL (as `make bench` provides), else a redis-server started here.
# Knobs: DURATION (wrk -d, default 10s), CONNECTIONS (default 64), THREADS (wrk -t, default
# 2), WORKERS (nginx worker_processes, default 1). Needs nginx, wrk, redis-server and the
# built module and library (make nginx-module lib).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
NGINX=${NGINX:-nginx}
module=${NGINX_MODULE:-$root/build/nginx/ngx_http_throttlekit_module.so}
lib=${THROTTLEKIT_LIB:-$root/build/lib/libthrottlekit.so}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}

for need in "$NGINX" wrk curl redis-server redis-cli; do
  command -v "$need" >/dev/null 2>&1 || { echo "nginx bench: $need is missing (make deps)" >&2; exit 1; }
done
for f in "$module" "$lib"; do
  [ -f "$f" ] || { echo "nginx bench: $f is missing (make nginx-module lib)" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

redis_url=${THROTTLEKIT_REDIS_URL:-}
if [ -z "$redis_url" ]; then
  rport=$(free_port)
  redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" &
  pids+=("$!")
  for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis_url="redis://127.0.0.1:$rport/0"
fi

# Never reached: a billion per second. A prefix of its own keeps clear of other keys.
cat > "$dir/policies.yaml" <<'EOF'
limiters:
  bench: { strategy: gcra, limit: 1000000000, period: 1s, burst: 1000000000, prefix: nginx-bench }
EOF

port=$(free_port)
mkdir -p "$dir/html" "$dir/tmp"
echo "hello" > "$dir/html/index.txt"
cat > "$dir/nginx.conf" <<EOF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
throttlekit_library $lib;
daemon off;
worker_processes $WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    root $dir/html;
    throttlekit_redis $redis_url $dir/policies.yaml;
    server {
        listen 127.0.0.1:$port;
        location /limited/ { throttlekit bench key=\$binary_remote_addr; alias $dir/html/; }
        location /plain/ { alias $dir/html/; }
    }
}
EOF
"$NGINX" -p "$dir" -c "$dir/nginx.conf" &
pids+=("$!")
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/limited/index.txt" >/dev/null 2>&1 && break
  sleep 0.05
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/limited/index.txt")
[ "$code" = 200 ] || { echo "nginx bench: nginx is not answering ($code)"; cat "$dir/error.log"; exit 1; }

echo "nginx bench: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), $WORKERS worker(s), wrk -t$THREADS -c$CONNECTIONS -d$DURATION, Redis door $(echo "$redis_url" | sed 's|//[^@]*@|//|')"
summary=()
for loc in plain limited; do
  url="http://127.0.0.1:$port/$loc/index.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "$url" >/dev/null   # warm-up (connections, scripts)
  echo "--- /$loc/"
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  echo "$out"
  rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  summary+=("$(printf '%-9s %12s req/s   p99 %9s   non-2xx %s' "/$loc/" "$rps" "$p99" "${non2xx:-0}")")
done
echo "--- nginx bench summary (limited: one Redis check per request; plain: no module)"
printf '%s\n' "${summary[@]}"
if grep -E '\[(alert|crit|emerg)\]' "$dir/error.log"; then
  echo "nginx bench: the error log has alerts" >&2
  exit 1
fi
