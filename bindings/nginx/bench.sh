#!/usr/bin/env bash
# bindings/nginx/bench.sh - what the module costs a request: wrk against one nginx (Debian's,
# with build/nginx/ngx_http_throttlekit_module.so) serving the same small static file from
# three locations: one limited through the Redis door (a policy whose limit is never reached,
# so every request is a full check), one limited by the same gcra fronted by a leased
# two-tier block (batch 1,000: the worker spends local credits, one script call per 1,000
# requests), and one without the module, in rounds. Prints one line per run (requests/s, p99,
# and the CPU time the nginx worker and Redis spent per request), then a markdown table of each
# location's median run and its median ratio to the unlimited run of the same round (issue
# "Two-tier leasing" targets the leased location at >= 0.90x the unlimited one).
#
# Redis: $THROTTLEKIT_REDIS_URL (as `make bench` provides), else a redis-server started here.
# Knobs: DURATION (wrk -d of one run, default 3s), ROUNDS (default 9), CONNECTIONS (default
# 64), THREADS (wrk -t, default 2), WORKERS (nginx worker_processes, default 1), PIN (default
# 1: with more CPUs than workers, each worker has a CPU of its own, where the core's Go threads
# run too, and wrk the others; without it the two share every CPU and the rounds disagree by
# up to 20%; 0: no pinning). Needs nginx,
# wrk, redis-server and the built module and library (make nginx-module lib).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
NGINX=${NGINX:-nginx}
module=${NGINX_MODULE:-$root/build/nginx/ngx_http_throttlekit_module.so}
lib=${THROTTLEKIT_LIB:-$root/build/lib/libthrottlekit.so}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-9}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
PIN=${PIN:-1}
ncpu=$(nproc)
affinity="" load=()
if [ "$PIN" = 1 ] && [ "$ncpu" -gt "$WORKERS" ]; then
  affinity="worker_cpu_affinity auto;"
  load=(taskset -c "$WORKERS-$((ncpu - 1))")
fi

for need in "$NGINX" wrk curl redis-server redis-cli; do
  command -v "$need" >/dev/null 2>&1 || { echo "nginx bench: $need is missing (make deps)" >&2; exit 1; }
done
for f in "$module" "$lib"; do
  [ -f "$f" ] || { echo "nginx bench: $f is missing (make nginx-module lib)" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
redis_pin="" # "pid mask": a local Redis moved off the workers' CPUs, and its mask before
cleanup() {
  local p
  if [ -n "$redis_pin" ]; then taskset -a -p "${redis_pin#* }" "${redis_pin% *}" >/dev/null 2>&1 || true; fi
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
# Pinned, a Redis on this machine runs beside wrk too: the workers' CPUs are theirs alone.
if [ ${#load[@]} -gt 0 ]; then
  rpid=$(redis-cli -u "$redis_url" info server 2>/dev/null | tr -d '\r' | awk -F: '/^process_id:/ { print $2 }')
  if [ -n "$rpid" ] && [ -d "/proc/$rpid" ]; then
    mask=$(taskset -p "$rpid" | awk '{ print $NF }')
    taskset -a -p -c "$WORKERS-$((ncpu - 1))" "$rpid" >/dev/null && redis_pin="$rpid $mask"
  fi
fi

# Never reached: a million per second, as in every bench. A prefix of its own keeps clear of other keys.
cat > "$dir/policies.yaml" <<'EOF'
limiters:
  bench: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: nginx-bench }
  leased:
    strategy: gcra
    limit: 1000000
    period: 1s
    burst: 1000000
    prefix: nginx-bench-leased
    twoTier: { mode: leased, batch: 1000 }
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
$affinity
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
        location /leased/ { throttlekit leased key=\$binary_remote_addr; alias $dir/html/; }
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
for loc in limited leased; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$loc/index.txt")
  [ "$code" = 200 ] || { echo "nginx bench: nginx is not answering /$loc/ ($code)"; cat "$dir/error.log"; exit 1; }
done

echo "nginx bench: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), $WORKERS worker(s)${affinity:+ on CPUs of their own}, ${load[*]:+wrk on CPUs $WORKERS-$((ncpu - 1)), }wrk -t$THREADS -c$CONNECTIONS -d$DURATION, Redis door $(echo "$redis_url" | sed 's|//[^@]*@|//|')"
# CPU seconds used so far: the worker process (nginx and the core's threads) from /proc, Redis
# from INFO cpu (wherever it runs). Per request, they show what a check costs each side.
worker=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -1)
tick=$(getconf CLK_TCK)
worker_cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$worker/stat"; }
redis_cpu() { redis-cli -u "$redis_url" info cpu 2>/dev/null | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { print s }'; }

# One run of wrk on a location: prints its summary line ("req/s p99_ms worker_us redis_us").
measure() {
  local url="http://127.0.0.1:$port/$1/index.txt" w0 w1 r0 r1 out
  w0=$(worker_cpu); r0=$(redis_cpu)
  out=$("${load[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  w1=$(worker_cpu); r1=$(redis_cpu)
  if echo "$out" | grep -q Non-2xx; then
    echo "nginx bench: /$1/ answered non-2xx: $(echo "$out" | grep Non-2xx)" >&2
    exit 1
  fi
  echo "$out" | awk -v w0="$w0" -v w1="$w1" -v r0="$r0" -v r1="$r1" '
    /requests in/ { n = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = $2; if (p99 ~ /us$/) p99 = p99 / 1000; else if (p99 ~ /ms$/) p99 = p99 + 0; else p99 = p99 * 1000 }
    END { printf "%.0f %.2f %.1f %.1f\n", rps, p99, (w1 - w0) * 1e6 / n, (r1 - r0) * 1e6 / n }'
}

# The machine's drift moves a location's rate by 20% within minutes, so each location is
# compared with the unlimited run beside it: the leased one always runs next to it, and the
# order flips every round. A ratio is the median over the rounds of run / unlimited run.
for loc in plain limited leased; do
  "${load[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "http://127.0.0.1:$port/$loc/index.txt" >/dev/null # warm-up
done
: > "$dir/runs"
for r in $(seq 1 "$ROUNDS"); do
  order="plain leased limited"
  [ $((r % 2)) = 0 ] && order="limited leased plain"
  for loc in $order; do
    line=$(measure "$loc")
    echo "round $r /$loc/: $line   (req/s, p99 ms, worker CPU us/req, redis CPU us/req)"
    echo "$loc $line $r" >> "$dir/runs"
  done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
column() { # location, column (2 = req/s, 3 = p99, 4 = worker, 5 = redis): its median run
  awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$dir/runs" | median
}
ratio() { # location: the median over the rounds of its req/s / the unlimited run's
  awk -v l="$1" '$1 == "plain" { p[$6] = $2 } $1 == l { x[$6] = $2 }
    END { for (r in x) printf "%.4f\n", x[r] / p[r] }' "$dir/runs" | median
}
echo
echo "#### nginx: a location limited through the Redis door, and by a leased two-tier policy, beside the same location without the module"
echo
echo "| location | requests/s | p99 | worker CPU per request | Redis CPU per request | vs unlimited |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for loc in plain limited leased; do
  name="without the module"
  [ "$loc" = limited ] && name="limited (Redis door)"
  [ "$loc" = leased ] && name="leased (gcra, batch 1,000)"
  awk -v n="$name" -v rps="$(column "$loc" 2)" -v p99="$(column "$loc" 3)" -v w="$(column "$loc" 4)" \
      -v rd="$(column "$loc" 5)" -v x="$(ratio "$loc")" \
      'BEGIN { printf "| %s | %d | %.2f ms | %.1f µs | %.1f µs | %.2fx |\n", n, rps, p99, w, rd, x }'
done
echo
awk -v x="$(ratio limited)" 'BEGIN { printf "nginx bench: limited / unlimited = %.2fx (median of %d rounds)\n", x, '"$ROUNDS"' }'
awk -v x="$(ratio leased)" 'BEGIN { printf "target nginx leased location: %.3fx the unlimited location (median of %d rounds); target >= 0.90x: %s\n", x, '"$ROUNDS"', (x >= 0.90 ? "met" : "MISSED") }'
if grep -E '\[(alert|crit|emerg)\]' "$dir/error.log"; then
  echo "nginx bench: the error log has alerts" >&2
  exit 1
fi
