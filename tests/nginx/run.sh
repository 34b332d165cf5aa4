#!/usr/bin/env bash
# tests/nginx/run.sh - the nginx module end to end: a real nginx (Debian's, loading
# build/nginx/ngx_http_throttlekit_module.so), a real redis-server and a real
# throttlekit-server, all started here on free loopback ports under a temporary prefix, and
# driven with curl. Needs no root (as root, the workers run as root too).
#
#   Build:        the module's ABI declarations match include/throttlekit.h; it does not
#                 link libthrottlekit.
#   Redis door:   5 pass then 429 with Retry-After and the RateLimit fields; independent
#                 keys; empty keys; throttlekit off; inherited rules; throttlekit_status;
#                 several rules; cost; dry run (and $throttlekit_status in the access log);
#                 headers off; error_page redirects (no second check); request bodies.
#   Non-blocking: with redis-server stopped (SIGSTOP), an unlimited location on the same and
#                 only worker answers in < 100 ms while limited requests wait; those end
#                 after throttlekit_timeout with the fail mode's answer; clients that hang
#                 up while their checks are in flight are finalized (499) and their late
#                 completions dropped.
#   Redis down:   fail open and fail closed; recovery when Redis returns, without a reload.
#   Lifecycle:    nginx -s reload (x3) and a killed worker: no crash, checks keep working,
#                 the master never loads the library, no descriptors or Redis connections
#                 pile up; nginx -s quit.
#   Service door: the same limits, dry run and fail modes through throttlekit-server
#                 (library found through `env THROTTLEKIT_LIB`), and recovery.
#   Memory door:  throttlekit_memory: the same limits, several rules and headers with no
#                 backend at all; each worker its own store (a respawned worker and a
#                 reload start full); a policy file the library refuses: the fail mode.
#   Guard timer:  with a stand-in library whose checks never complete (silent_lib.c), the
#                 module ends them itself, and a graceful stop waits for them.
#   Errors:       configurations nginx -t refuses; a worker whose library is missing serves
#                 with the fail mode.
#
# Environment: NGINX (default: nginx), NGINX_MODULE, THROTTLEKIT_LIB, THROTTLEKIT_SERVER
# (defaults under <repo>/build). A missing piece skips the whole file, or fails when CI=true.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
NGINX=${NGINX:-nginx}
module=${NGINX_MODULE:-$root/build/nginx/ngx_http_throttlekit_module.so}
lib=${THROTTLEKIT_LIB:-$root/build/lib/libthrottlekit.so}
server_bin=${THROTTLEKIT_SERVER:-$root/build/bin/throttlekit-server}

passed=0
failed=0

ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check "description" actual expected
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

missing=()
command -v "$NGINX" >/dev/null 2>&1 || missing+=("nginx (apt-get install nginx)")
command -v curl >/dev/null 2>&1 || missing+=("curl")
command -v "${CC:-cc}" >/dev/null 2>&1 || missing+=("a C compiler (${CC:-cc})")
command -v nm >/dev/null 2>&1 || missing+=("nm (binutils)")
command -v redis-server >/dev/null 2>&1 || missing+=("redis-server")
command -v redis-cli >/dev/null 2>&1 || missing+=("redis-cli (redis-tools)")
[ -f "$module" ] || missing+=("$module (make nginx-module)")
[ -f "$lib" ] || missing+=("$lib (make lib)")
[ -x "$server_bin" ] || missing+=("$server_bin (make server)")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL - the nginx tests need: ${missing[*]}" >&2
    exit 1
  fi
  echo "SKIP - the nginx tests need: ${missing[*]}" >&2
  exit 0
fi

if "$root/tests/nginx/abi_layout.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if nm -D --undefined-only "$module" | grep -q ' tk_' || ldd "$module" | grep -q throttlekit; then
  fail "the module links libthrottlekit: it must dlopen() it in the workers"
else
  ok "the module does not link libthrottlekit (workers dlopen() it)"
fi

dir=$(mktemp -d)
pids=()
gone=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() { # a port nothing listens on now, below the ephemeral range (the callers retry
               # when another program takes it meanwhile)
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

wait_for() { # wait_for seconds command...: until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# ---- Redis and the server -----------------------------------------------------------------

redis_pid=""
start_redis() { # on $redis_port; a new port when unset or (first start only) taken
  local attempt
  for attempt in 1 2 3 4 5; do
    [ -n "${redis_port:-}" ] || redis_port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
      --dir "$dir" --logfile "$dir/redis.log" &
    redis_pid=$!
    pids+=("$redis_pid")
    wait_for 10 sh -c "redis-cli -p $redis_port ping || ! kill -0 $redis_pid" \
      && kill -0 "$redis_pid" 2>/dev/null && return
    [ -z "${redis_started:-}" ] || break
    redis_port=""
  done
  echo "redis-server did not start"; cat "$dir/redis.log"; exit 1
}
stop_redis() {
  kill -CONT "$redis_pid" 2>/dev/null; kill "$redis_pid"; wait "$redis_pid" 2>/dev/null
}
start_redis
redis_started=1

# gcra, 5 per minute with a burst of 5: after 5 quick requests the 6th waits ~12 s, so the
# counts below do not depend on how fast curl runs.
cat > "$dir/policies.yaml" <<'EOF'
limiters:
  api: { strategy: gcra, limit: 5, period: 1m, burst: 5 }
  tight: { strategy: gcra, limit: 2, period: 1m, burst: 2 }
  shadowed: { strategy: fixedWindow, limit: 1, windowMs: 1h, shadow: true }
  lease: { strategy: fixedWindow, limit: 100000, windowMs: 1h, twoTier: { mode: leased, batch: 100 } }
EOF

server_pid=""
start_server() { # the first start picks a free port (--port 0); a restart uses it again
  local ready=$dir/server.ready
  rm -f "$ready" # a killed server leaves its file behind
  : > "$dir/server.log"
  "$server_bin" -c "$dir/policies.yaml" --host 127.0.0.1 --port "${server_port:-0}" \
    --store memory --ready-file "$ready" 2>>"$dir/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  if wait_for 30 sh -c "[ -s '$ready' ] || ! kill -0 $server_pid" && [ -s "$ready" ]; then
    local addr
    read -r addr < "$ready"
    server_port=${addr##*:}
    return
  fi
  local why="wrote no ready file $ready within 30 s"
  kill -0 "$server_pid" 2>/dev/null || why="exited before writing its ready file $ready"
  echo "throttlekit-server $why; its log, $dir/server.log:"
  cat "$dir/server.log"; exit 1
}
start_server

# ---- nginx --------------------------------------------------------------------------------

mkdir -p "$dir/html" "$dir/tmp"
for f in limited byheader dry free closed open noheaders multi multiapi shadow cost teapot off redirected \
         triple legacy allh ieth onh multitriple leased tight bad; do
  echo "$f" > "$dir/html/$f"
done

# write_conf prefix door-directives: an nginx.conf with every test location.
write_conf() {
  local p=$1 door=$2 library=$3 port=$4
  mkdir -p "$p"
  cat > "$p/nginx.conf" <<EOF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
$library
daemon off;
master_process on;
worker_processes 1;
pid $p/nginx.pid;
error_log $p/error.log info;

events { worker_connections 256; }

http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    root $dir/html;
    log_format tk '\$uri \$status \$throttlekit_status \$throttlekit_remaining';
    access_log $p/access.log tk;

    $door
    throttlekit_timeout 1s;

    server {
        listen 127.0.0.1:$port;

        throttlekit api key=\$binary_remote_addr;   # inherited by /limited and /teapot

        location = /limited { }
        location = /free { throttlekit off; }
        location = /off { throttlekit off; }
        location = /byheader { throttlekit api key=\$http_x_user; }
        location = /dry { throttlekit api key=dry\$http_x_user; throttlekit_dry_run on; }
        location = /open { throttlekit api key=\$http_x_user; throttlekit_fail open; }
        location = /closed { throttlekit api key=\$http_x_user; throttlekit_fail closed; }
        location = /noheaders { throttlekit api key=nh\$http_x_user; throttlekit_headers off; }
        location = /triple { throttlekit tight key=tr\$http_x_user; throttlekit_headers triple; }
        location = /legacy { throttlekit tight key=lg\$http_x_user; throttlekit_headers legacy; }
        location = /allh { throttlekit tight key=al\$http_x_user; throttlekit_headers all; }
        location = /ieth { throttlekit tight key=ie\$http_x_user; throttlekit_headers ietf; }
        location = /onh { throttlekit tight key=on\$http_x_user; throttlekit_headers on; }
        location = /multitriple {
            throttlekit api key=mt\$http_x_user;
            throttlekit tight key=mt\$http_x_user;
            throttlekit_headers all;
        }
        location = /leased { throttlekit lease key=l\$http_x_user; }
        location = /multi {
            throttlekit api key=m\$http_x_user;
            throttlekit tight key=m\$http_x_user;
        }
        location = /multiapi { throttlekit api key=m\$http_x_user; }
        location = /shadow { throttlekit shadowed key=s\$http_x_user; }
        location = /cost { throttlekit api key=c\$http_x_user cost=\$arg_cost; }
        location = /teapot { throttlekit_status 418; }
        location = /status { throttlekit off; stub_status; }
        location = /proxied {
            throttlekit api key=p\$http_x_user;
            proxy_pass http://127.0.0.1:$port/echo;
        }
        location = /echo { return 200 "posted \$content_length"; }
        location = /redirected {
            throttlekit api key=rd\$http_x_user;
            error_page 429 /byheader;
        }
    }
}
EOF
}

# start_nginx prefix door library: writes the configuration on a free port (in $port), runs
# nginx and waits for its worker to load the library; another port if that one is taken.
start_nginx() {
  local p=$1 attempt pid
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    write_conf "$p" "$2" "$3" "$port"
    : > "$p/error.log"
    THROTTLEKIT_LIB="$lib" "$NGINX" -p "$p" -c "$p/nginx.conf" 2>>"$p/stderr.log" &
    pid=$!
    pids+=("$pid")
    if wait_for 20 sh -c "grep -q 'throttlekit: loaded' '$p/error.log' || ! kill -0 $pid" \
       && kill -0 "$pid" 2>/dev/null && wait_for 10 curl -sf "http://127.0.0.1:$port/free"; then
      return
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q "Address already in use" "$p/error.log" "$p/stderr.log" || break
  done
  echo "nginx did not start:"; cat "$p/stderr.log" "$p/error.log"; exit 1
}

worker_pids() { # the worker processes of the nginx whose prefix is $1
  local master; master=$(cat "$1/nginx.pid")
  pgrep -P "$master" | sort | tr '\n' ' '
}

hdrs=$dir/headers
# req port path [user] [extra curl args...]: prints the status code; headers into $hdrs
req() {
  local port=$1 path=$2 user=${3:-}; shift 3 2>/dev/null || shift $#
  curl -s -o /dev/null -D "$hdrs" -w '%{http_code}' ${user:+-H "X-User: $user"} "$@" \
    "http://127.0.0.1:$port$path"
}
header() { # the value of a response header of the last req
  grep -i "^$1:" "$hdrs" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}
burst() { # burst port path user n: the status codes of n requests, space-separated
  local i out=""
  for i in $(seq 1 "$4"); do out+="$(req "$1" "$2" "$3") "; done
  echo "${out% }"
}
last_log() { tail -1 "$1/access.log"; }

# ---- The Redis door -----------------------------------------------------------------------

A=$dir/redis-door
start_nginx "$A" "throttlekit_redis redis://127.0.0.1:$redis_port/0 $dir/policies.yaml;" \
  "throttlekit_library $lib;"
a_port=$port
master_a=$(cat "$A/nginx.pid")
"$NGINX" -t -p "$A" -c "$A/nginx.conf" >"$dir/t.log" 2>&1 \
  && ok "nginx -t accepts the configuration" || { fail "nginx -t"; cat "$dir/t.log"; }

echo "# Redis door (nginx on $a_port, redis on $redis_port)"
check "5 requests pass, the 6th is rejected" "$(burst "$a_port" /limited "" 6)" \
  "200 200 200 200 200 429"
retry=$(header Retry-After)
if [ -n "$retry" ] && [ "$retry" -ge 1 ] && [ "$retry" -le 13 ]; then
  ok "Retry-After on the 429 ($retry s)"
else
  fail "Retry-After on the 429: '$retry'"
fi
check "RateLimit-Policy on the 429" "$(header RateLimit-Policy)" '"api";q=5;w=60'
rl=$(header RateLimit)
[[ "$rl" =~ ^\"api\"\;r=0\;t=[0-9]+$ ]] && ok "RateLimit on the 429 ($rl)" \
  || fail "RateLimit on the 429: '$rl'"
check "the access log says REJECTED, 0 remaining" "$(last_log "$A")" "/limited 429 REJECTED 0"

req "$a_port" /byheader u1-$RANDOM >/dev/null
check "RateLimit on a pass" "$(header RateLimit | sed 's/;t=.*//')" '"api";r=4'
[ -z "$(header Retry-After)" ] && ok "no Retry-After on a pass" || fail "Retry-After on a pass"

user=k$RANDOM
check "keys are independent: user A's burst" "$(burst "$a_port" /byheader "$user-a" 6)" \
  "200 200 200 200 200 429"
check "keys are independent: user B untouched" "$(burst "$a_port" /byheader "$user-b" 5)" \
  "200 200 200 200 200"
check "an empty key is not limited" "$(burst "$a_port" /byheader "" 7)" \
  "200 200 200 200 200 200 200"
check "the variable is empty without a check" "$(last_log "$A")" "/byheader 200 - -"
check "throttlekit off" "$(burst "$a_port" /off "" 7)" "200 200 200 200 200 200 200"
# The inherited rule shares /limited's key; a burst past the limit ends refused, whatever
# refilled since (a loaded machine can take long enough between the two for a cell).
check "an inherited rule with throttlekit_status 418" "$(burst "$a_port" /teapot "" 7 | awk '{print $NF}')" "418"

user=d$RANDOM
check "dry run passes everything" "$(burst "$a_port" /dry "$user" 7)" \
  "200 200 200 200 200 200 200"
check "dry run: \$throttlekit_status REJECTED_DRY_RUN once over" "$(last_log "$A")" "/dry 200 REJECTED_DRY_RUN 0"
[ -z "$(header Retry-After)" ] && ok "dry run: no Retry-After" || fail "dry run: Retry-After"
check "shadow policy: over its limit, every request passes" "$(burst "$a_port" /shadow "$user" 3)" \
  "200 200 200"
check "shadow policy: \$throttlekit_status REJECTED_DRY_RUN once over" "$(last_log "$A")" "/shadow 200 REJECTED_DRY_RUN 0"
check "dry run: 5 PASSED then REJECTED_DRY_RUN in the access log" \
  "$(grep '^/dry ' "$A/access.log" | awk '{print $3}' | tail -7 | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" \
  "5PASSED 2REJECTED_DRY_RUN "

user=n$RANDOM
check "headers off: still limited" "$(burst "$a_port" /noheaders "$user" 6)" \
  "200 200 200 200 200 429"
check "headers off: no RateLimit, no Retry-After" \
  "$(header RateLimit)$(header RateLimit-Policy)$(header Retry-After)" ""

# Header styles (docs/headers.md) on the 429 of "tight" (gcra, 2 per minute: w=60).
names() { # the response's header names of the last req, lower-cased, sorted, on one line
  grep -io '^\(x-\)\?ratelimit[a-z-]*:\|^retry-after:' "$hdrs" | tr 'A-Z' 'a-z' | tr -d ':' | sort | tr '\n' ' '
}
user=hs$RANDOM
check "triple: limited" "$(burst "$a_port" /triple "$user" 3)" "200 200 429"
check "triple: exactly its fields and Retry-After" "$(names)" \
  "ratelimit-limit ratelimit-remaining ratelimit-reset retry-after "
check "triple: RateLimit-Limit, -Remaining" "$(header RateLimit-Limit) $(header RateLimit-Remaining)" "2 0"
reset=$(header RateLimit-Reset)
[[ "$reset" =~ ^[0-9]+$ ]] && [ "$reset" -ge 1 ] && [ "$reset" -le 60 ] \
  && ok "triple: RateLimit-Reset in seconds ($reset)" || fail "triple: RateLimit-Reset '$reset'"
retry=$(header Retry-After)
[[ "$retry" =~ ^[0-9]+$ ]] && [ "$retry" -ge 1 ] && [ "$retry" -le 30 ] \
  && ok "triple: Retry-After ($retry s)" || fail "triple: Retry-After '$retry'"
req "$a_port" /triple "hs2$RANDOM" >/dev/null
check "triple: a pass, no Retry-After" "$(names)" "ratelimit-limit ratelimit-remaining ratelimit-reset "
check "triple: a pass's values" "$(header RateLimit-Limit) $(header RateLimit-Remaining)" "2 1"

check "legacy: limited" "$(burst "$a_port" /legacy "$user" 3)" "200 200 429"
check "legacy: exactly its fields and Retry-After" "$(names)" \
  "retry-after x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset "
check "legacy: X-RateLimit-Limit, -Remaining" "$(header X-RateLimit-Limit) $(header X-RateLimit-Remaining)" "2 0"
reset=$(header X-RateLimit-Reset)
now=$(date +%s)
[[ "$reset" =~ ^[0-9]+$ ]] && [ "$reset" -ge "$now" ] && [ "$reset" -le $((now + 61)) ] \
  && ok "legacy: X-RateLimit-Reset in epoch seconds ($reset, now $now)" \
  || fail "legacy: X-RateLimit-Reset '$reset' (now $now)"

check "all: limited" "$(burst "$a_port" /allh "$user" 3)" "200 200 429"
check "all: every style's fields and Retry-After" "$(names)" \
  "ratelimit ratelimit-limit ratelimit-policy ratelimit-remaining ratelimit-reset retry-after x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset "
check "all: RateLimit-Policy" "$(header RateLimit-Policy)" '"tight";q=2;w=60'
check "all: RateLimit" "$(header RateLimit | sed 's/;t=[0-9]*$//')" '"tight";r=0'
check "all: the triple and legacy values" \
  "$(header RateLimit-Limit) $(header RateLimit-Remaining) $(header X-RateLimit-Limit) $(header X-RateLimit-Remaining)" \
  "2 0 2 0"

for style in ieth onh; do
  check "$style: limited" "$(burst "$a_port" /$style "$user" 3)" "200 200 429"
  check "$style: exactly the IETF fields and Retry-After" "$(names)" "ratelimit ratelimit-policy retry-after "
  check "$style: RateLimit-Policy" "$(header RateLimit-Policy)" '"tight";q=2;w=60'
done

req "$a_port" /multitriple "$user" >/dev/null
check "two rules, all: IETF lists both" "$(header RateLimit-Policy)" '"api";q=5;w=60, "tight";q=2;w=60'
check "two rules, all: triple and legacy show the most restrictive (tight, 1 left)" \
  "$(header RateLimit-Limit) $(header RateLimit-Remaining) $(header X-RateLimit-Limit) $(header X-RateLimit-Remaining)" \
  "2 1 2 1"
req "$a_port" /multitriple "$user" >/dev/null
check "two rules, all: tight exhausted, api 3 left: tight shown" \
  "$(header RateLimit-Remaining) $(header RateLimit | sed 's/;t=[0-9]*//g')" '0 "api";r=3, "tight";r=0'
check "two rules, all: the third is rejected with Retry-After" \
  "$(req "$a_port" /multitriple "$user") $([ -n "$(header Retry-After)" ] && echo yes)" "429 yes"

user=m$RANDOM
check "two rules: the tighter one rejects the 3rd" "$(burst "$a_port" /multi "$user" 3)" \
  "200 200 429"
check "two rules: both in RateLimit-Policy" "$(header RateLimit-Policy)" '"api";q=5;w=60, "tight";q=2;w=60'
check "two rules: both in RateLimit" "$(header RateLimit | sed 's/;t=[0-9]*//g')" \
  '"api";r=2, "tight";r=0'
check "two rules: the rejected request spent nothing of the other rule (all or nothing)" \
  "$(req "$a_port" /multiapi "$user") $(header RateLimit | sed 's/;t=[0-9]*//g')" '200 "api";r=2'

user=c$RANDOM
check "cost=3 then cost=3: the second exceeds 5" \
  "$(req "$a_port" "/cost?cost=3" "$user") $(req "$a_port" "/cost?cost=3" "$user")" "200 429"
check "an invalid cost is an error (fail open)" "$(req "$a_port" "/cost?cost=x" "$user")" "200"
check "... and logged as ERROR" "$(last_log "$A")" "/cost 200 ERROR -"

user=rd$RANDOM
check "error_page 429 to a limited location: 5 pass, the 6th is rejected" \
  "$(burst "$a_port" /redirected "$user" 6)" "200 200 200 200 200 429"
[ -n "$(header Retry-After)" ] && ok "... with Retry-After after the redirect" \
  || fail "no Retry-After after the error_page redirect"
check "... the page comes from the redirect's target" \
  "$(curl -s -H "X-User: $user" "http://127.0.0.1:$a_port/redirected")" "byheader"
check "... which does not check the request again" "$(burst "$a_port" /byheader "$user" 6)" \
  "200 200 200 200 200 429"

head -c 300000 /dev/urandom > "$dir/body"
check "a request body is read after the check (proxy_pass)" \
  "$(curl -s -H "X-User: p$RANDOM" --data-binary "@$dir/body" "http://127.0.0.1:$a_port/proxied")" \
  "posted 300000"

# ---- Non-blocking: Redis stopped ----------------------------------------------------------

echo "# Redis stopped (SIGSTOP): the worker keeps serving"
workers_before=$(worker_pids "$A")
kill -STOP "$redis_pid"
user=s$RANDOM
req "$a_port" /open "$user" -w '%{http_code} %{time_total}' > "$dir/slow-open" &
slow1=$!
req "$a_port" /closed "$user" -w '%{http_code} %{time_total}' > "$dir/slow-closed" &
slow2=$!
curl -s -H "X-User: $user" --data-binary "@$dir/body" "http://127.0.0.1:$a_port/proxied" \
  > "$dir/slow-post" &
slow3=$!
# stub_status counts requests being processed as "Writing" (the status request included).
wait_for 10 sh -c "[ \$(curl -s http://127.0.0.1:$a_port/status | sed -n 's/.*Writing: \([0-9]*\).*/\1/p') -ge 4 ]" \
  || fail "the three limited requests never were in flight together"
# Five requests to /free then the status, one curl: the times in ms. A worker blocked by a
# check would hold them for the check's whole second; the median must be under 100 ms, and
# even the slowest (on a busy machine) well under 1 s. The status, taken right after, shows
# the three limited requests still waiting.
free=http://127.0.0.1:$a_port/free
probe=$(curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -w '%{time_total}\n' "$free" "$free" "$free" "$free" "$free" "http://127.0.0.1:$a_port/status")
times=$(echo "$probe" | grep -E '^[0-9.]+$' | head -5 | awk '{ printf "%d\n", $1 * 1000 }' \
  | sort -n | tr '\n' ' ')
still=$(echo "$probe" | sed -n 's/.*Writing: \([0-9]*\).*/\1/p')
[ "${still:-0}" -ge 4 ] && ok "the limited requests were still waiting meanwhile" \
  || fail "the limited requests ended before the unlimited ones were measured ($probe)"
read -r _ _ median _ slowest <<< "$times"
[ "$median" -lt 100 ] && [ "$slowest" -lt 250 ] \
  && ok "an unlimited location answers while checks wait (ms: $times)" \
  || fail "an unlimited location was slow while checks waited (ms: $times)"
# 40 clients that hang up while their checks are in flight (curl gives up at 150 ms).
for i in $(seq 1 40); do
  curl -s --max-time 0.15 -o /dev/null "http://127.0.0.1:$a_port/open" -H "X-User: gone$i$user" &
  gone+=("$!")
done
wait "$slow1" "$slow2" "$slow3" "${gone[@]}"
read -r code t < "$dir/slow-open"
ms=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
check "fail open: a limited request passes after the timeout" "$code" "200"
# nginx arms its timers on its cached clock, which a loaded machine leaves behind by up to
# a loop's length (seen: 868 ms at load 15): "about" is 800 ms or more.
[ "$ms" -ge 800 ] && [ "$ms" -lt 3000 ] && ok "... after ${ms} ms (timeout 1 s)" \
  || fail "fail open answered after ${ms} ms, not about 1000"
read -r code t < "$dir/slow-closed"
check "fail closed: a limited request is rejected after the timeout" "$code" "429"
check "fail open: a request body sent meanwhile is read and proxied" "$(cat "$dir/slow-post")" \
  "posted 300000"
# (On a busy machine some of those curls give up before even sending their request.)
hung=$(grep -c "^/open 499" "$A/access.log")
[ "$hung" -ge 1 ] && ok "clients that hung up mid-check are logged as 499 ($hung of 40)" \
  || fail "no client hung up mid-check: the test did not test"
dropped() { grep -c "throttlekit: completion [0-9]* dropped: its request is gone" "$A/error.log"; }
wait_for 5 sh -c "[ \$(grep -c 'dropped: its request is gone' '$A/error.log') -ge $hung ]"
check "... and each of their late completions was dropped" "$(dropped)" "$hung"
kill -CONT "$redis_pid"
check "Redis back: checks pass again" "$(req "$a_port" /byheader "after$user")" "200"
check "... and are decisions again" "$(last_log "$A")" "/byheader 200 PASSED 4"
check "the worker did not restart" "$(worker_pids "$A")" "$workers_before"

# ---- Redis down and back ------------------------------------------------------------------

echo "# Redis down, then back without a reload"
workers_before=$(worker_pids "$A")
stop_redis
user=x$RANDOM
check "fail open with Redis down" "$(req "$a_port" /open "$user")" "200"
check "... logged as ERROR" "$(last_log "$A")" "/open 200 ERROR -"
check "fail closed with Redis down" "$(req "$a_port" /closed "$user")" "429"
check "... logged as ERROR" "$(last_log "$A")" "/closed 429 ERROR -"
start_redis
ok_again=""
for _ in $(seq 1 40); do
  [ "$(req "$a_port" /closed "back$RANDOM")" = 200 ] && { ok_again=1; break; }
  sleep 0.1
done
[ -n "$ok_again" ] && ok "recovery: fail closed admits again once Redis is back" \
  || fail "no recovery after Redis returned"
check "recovery: limits hold again" "$(burst "$a_port" /byheader "r$RANDOM" 6)" \
  "200 200 200 200 200 429"
check "same worker throughout (no reload, no crash)" "$(worker_pids "$A")" "$workers_before"

# ---- Reloads and worker restarts ----------------------------------------------------------

echo "# nginx -s reload and a killed worker"
fds_master() { ls "/proc/$master_a/fd" | wc -l; }
redis_clients() { redis-cli -p "$redis_port" info clients | sed -n 's/^connected_clients:\([0-9]*\).*/\1/p'; }
fds_before=$(fds_master)
for n in 1 2 3; do
  old=$(worker_pids "$A")
  "$NGINX" -p "$A" -c "$A/nginx.conf" -s reload 2>>"$A/stderr.log"
  wait_for 15 sh -c "[ \"\$(pgrep -P $master_a | sort | tr '\n' ' ')\" != \"$old\" ] && ! kill -0 $old" \
    || fail "reload $n: the old worker $old did not go away"
  wait_for 15 sh -c "[ \$(grep -c 'throttlekit: loaded' '$A/error.log') -ge $((n + 1)) ]" \
    || fail "reload $n: the new worker did not load the library"
  check "reload $n: limits work in the new worker" "$(burst "$a_port" /byheader "rl$n$RANDOM" 6)" \
    "200 200 200 200 200 429"
done
check "the master's descriptors did not grow across reloads" "$(fds_master)" "$fds_before"
grep -q libthrottlekit "/proc/$master_a/maps" && fail "the master has libthrottlekit mapped" \
  || ok "the master never loaded libthrottlekit"
clients=$(redis_clients)
[ "$clients" -le 4 ] && ok "Redis connections do not pile up across reloads ($clients)" \
  || fail "Redis has $clients clients after 3 reloads with 1 worker"
w=$(worker_pids "$A")
# Signals sent to the worker itself land on any of its threads, the Go runtime's included:
# nginx's handlers must run there too (the module adds SA_ONSTACK to them). SIGHUP is one a
# worker logs and ignores.
for i in $(seq 1 20); do req "$a_port" /byheader "sig$i$RANDOM" >/dev/null; done &
busy=$!
for i in $(seq 1 200); do kill -HUP $w; done
wait "$busy"
check "the worker survives 200 signals while it checks" "$(worker_pids "$A")" "$w"
check "... and checks on" "$(burst "$a_port" /byheader "sig$RANDOM" 6)" "200 200 200 200 200 429"
kill -9 $w
wait_for 15 sh -c "p=\$(pgrep -P $master_a); [ -n \"\$p\" ] && [ \"\$p\" != \"$w\" ]" \
  || fail "no new worker after killing $w"
wait_for 15 curl -sf "http://127.0.0.1:$a_port/free"
check "a respawned worker checks again" "$(burst "$a_port" /byheader "k9$RANDOM" 6)" \
  "200 200 200 200 200 429"
bad=$(grep -E '\[(alert|crit|emerg)\]' "$A/error.log" | grep -v "exited on signal 9" || true)
[ -z "$bad" ] && ok "no alert, crit or emerg in the error log" || fail "error log: $bad"
grep -q "open socket" "$A/error.log" && fail "a worker left a socket open at exit" \
  || ok "workers exit without leaving descriptors open"

# ---- The service door ---------------------------------------------------------------------

echo "# Service door (throttlekit-server on $server_port)"
B=$dir/service-door
start_nginx "$B" "throttlekit_service 127.0.0.1:$server_port;" "env THROTTLEKIT_LIB;"
b_port=$port
check "service door: 5 pass, the 6th is rejected" "$(burst "$b_port" /limited "" 6)" \
  "200 200 200 200 200 429"
retry=$(header Retry-After)
[ -n "$retry" ] && [ "$retry" -ge 1 ] && ok "service door: Retry-After ($retry s)" \
  || fail "service door: Retry-After '$retry'"
check "service door: RateLimit-Policy" "$(header RateLimit-Policy)" '"api";q=5;w=60'
user=sv$RANDOM
check "service door: independent keys" \
  "$(burst "$b_port" /byheader "$user-a" 6) | $(burst "$b_port" /byheader "$user-b" 2)" \
  "200 200 200 200 200 429 | 200 200"
check "service door: dry run" "$(burst "$b_port" /dry "$user" 6)" "200 200 200 200 200 200"
check "service door: REJECTED_DRY_RUN logged" "$(last_log "$B")" "/dry 200 REJECTED_DRY_RUN 0"
kill "$server_pid"; wait "$server_pid" 2>/dev/null
check "service door down: fail open" "$(req "$b_port" /open "$user")" "200"
check "service door down: fail closed" "$(req "$b_port" /closed "$user")" "429"
start_server
ok_again=""
for _ in $(seq 1 50); do
  [ "$(req "$b_port" /closed "sb$RANDOM")" = 200 ] && { ok_again=1; break; }
  sleep 0.1
done
[ -n "$ok_again" ] && ok "service door: recovery once the server is back" \
  || fail "service door: no recovery"

# ---- Status counters: throttlekit_status_json, 2 workers ------------------------------------

echo "# throttlekit_status_json (2 workers, Redis door)"
J=$dir/status-json
mkdir -p "$J"
for attempt in 1 2 3 4 5; do
  j_port=$(free_port)
  cat > "$J/nginx.conf" <<EOF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
throttlekit_library $lib;
daemon off;
master_process on;
worker_processes 2;
pid $J/nginx.pid;
error_log $J/error.log info;

events { worker_connections 256; }

http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    root $dir/html;
    log_format tk '\$pid \$uri \$status \$throttlekit_status';
    access_log $J/access.log tk;
    throttlekit_redis redis://127.0.0.1:$redis_port/0 $dir/policies.yaml;
    throttlekit_namespace js$RANDOM;

    server {
        listen 127.0.0.1:$j_port reuseport;

        # static files: "return" would answer before the access phase
        location = /tight { throttlekit tight key=one; }
        location = /dry { throttlekit tight key=dry; throttlekit_dry_run on; }
        location = /bad { throttlekit api key=bad cost=\$arg_cost; }
        location = /leased { throttlekit lease key=l; }
        location = /shadow { throttlekit shadowed key=s; }
        location = /status.json { throttlekit_status_json; }
        location = /free { }
    }
}
EOF
  : > "$J/error.log"
  "$NGINX" -p "$J" -c "$J/nginx.conf" 2>>"$J/stderr.log" &
  j_pid=$!
  pids+=("$j_pid")
  if wait_for 20 sh -c "[ \$(grep -c 'throttlekit: loaded' '$J/error.log') -ge 2 ] || ! kill -0 $j_pid" \
     && kill -0 "$j_pid" 2>/dev/null && wait_for 10 curl -sf "http://127.0.0.1:$j_port/free"; then
    break
  fi
  kill "$j_pid" 2>/dev/null; wait "$j_pid" 2>/dev/null
  grep -q "Address already in use" "$J/error.log" "$J/stderr.log" || { cat "$J/stderr.log" "$J/error.log"; break; }
done
zero='"passed":0,"rejected":0,"rejected_dry_run":0,"local":0,"errors":0'
check "status json: before any request, every policy at 0" \
  "$(curl -s "http://127.0.0.1:$j_port/status.json")" \
  "{\"policies\":{\"tight\":{$zero},\"api\":{$zero},\"lease\":{$zero},\"shadowed\":{$zero}}}"
check "status json: application/json" \
  "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$j_port/status.json")" "application/json"
# each request on a new connection: reuseport spreads them over both workers
burst "$j_port" /tight "" 10 >/dev/null
burst "$j_port" /dry "" 6 >/dev/null
burst "$j_port" "/bad?cost=x" "" 3 >/dev/null
burst "$j_port" /leased "" 20 >/dev/null
burst "$j_port" /shadow "" 3 >/dev/null
served=$(awk '$2 != "/status.json" && $2 != "/free" {print $1}' "$J/access.log" | sort -u | wc -l)
check "status json: both workers served the sequence" "$served" "2"
json=$(curl -s "http://127.0.0.1:$j_port/status.json")
# tight (2 a minute): 10 requests, 2 pass; the dry-run location's 6 on its own key, 2 pass;
# 3 invalid costs; 20 leased, each worker's first leases from Redis (not local); the shadow
# policy (1 an hour): 1 passes, 2 would be rejected
got=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])["policies"]
l = d["lease"]
print(d["tight"], d["api"], l["passed"], l["rejected"], l["rejected_dry_run"], l["errors"],
      l["local"] in (18, 19), d["shadowed"])
' "$json" 2>&1)
check "status json: the counts of both workers add up" "$got" \
  "{'passed': 4, 'rejected': 8, 'rejected_dry_run': 4, 'local': 0, 'errors': 0} {'passed': 0, 'rejected': 0, 'rejected_dry_run': 0, 'local': 0, 'errors': 3} 20 0 0 0 True {'passed': 1, 'rejected': 0, 'rejected_dry_run': 2, 'local': 0, 'errors': 0}"
check "status json: HEAD, headers only" \
  "$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$j_port/status.json")" "200 0"
check "status json: other methods refused" \
  "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$j_port/status.json")" "405"
"$NGINX" -p "$J" -c "$J/nginx.conf" -s reload 2>>"$J/stderr.log"
wait_for 15 sh -c "[ \$(grep -c 'throttlekit: loaded' '$J/error.log') -ge 4 ]" \
  || fail "status json: the reloaded workers did not load the library"
json=$(curl -s "http://127.0.0.1:$j_port/status.json")
check "status json: the counts survive a reload" \
  "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["policies"]["tight"]["rejected"])' "$json" 2>&1)" "8"
kill "$j_pid"; wait "$j_pid" 2>/dev/null

# ---- The embedded engine: throttlekit_memory ----------------------------------------------

echo "# Memory door (throttlekit_memory, no backend)"
M=$dir/memory-door
start_nginx "$M" "throttlekit_memory $dir/policies.yaml;" "throttlekit_library $lib;"
m_port=$port
master_m=$(cat "$M/nginx.pid")
"$NGINX" -t -p "$M" -c "$M/nginx.conf" >"$dir/t.log" 2>&1 \
  && ok "memory door: nginx -t accepts the configuration" || { fail "memory door: nginx -t"; cat "$dir/t.log"; }
check "memory door: 5 pass, the 6th is rejected" "$(burst "$m_port" /limited "" 6)" \
  "200 200 200 200 200 429"
retry=$(header Retry-After)
[ -n "$retry" ] && [ "$retry" -ge 1 ] && [ "$retry" -le 13 ] && ok "memory door: Retry-After ($retry s)" \
  || fail "memory door: Retry-After '$retry'"
check "memory door: RateLimit-Policy" "$(header RateLimit-Policy)" '"api";q=5;w=60'
check "memory door: REJECTED logged" "$(last_log "$M")" "/limited 429 REJECTED 0"
user=me$RANDOM
check "memory door: independent keys" \
  "$(burst "$m_port" /byheader "$user-a" 6) | $(burst "$m_port" /byheader "$user-b" 2)" \
  "200 200 200 200 200 429 | 200 200"
check "memory door: two rules, the tighter one rejects the 3rd" "$(burst "$m_port" /multi "$user" 3)" \
  "200 200 429"
check "memory door: two rules in RateLimit" "$(header RateLimit | sed 's/;t=[0-9]*//g')" \
  '"api";r=2, "tight";r=0'
check "memory door: cost=3 then cost=3 (5 in all)" \
  "$(req "$m_port" '/cost?cost=3' "$user") $(req "$m_port" '/cost?cost=3' "$user")" "200 429"
# Per worker: the store lives in the worker; a respawned one starts with every limit full.
w=$(worker_pids "$M")
kill -9 $w
wait_for 15 sh -c "p=\$(pgrep -P $master_m); [ -n \"\$p\" ] && [ \"\$p\" != \"$w\" ]" \
  || fail "memory door: no new worker after killing $w"
wait_for 15 curl -sf "http://127.0.0.1:$m_port/free"
check "memory door: a respawned worker has its own, full store" "$(burst "$m_port" /byheader "$user-a" 6)" \
  "200 200 200 200 200 429"
"$NGINX" -p "$M" -c "$M/nginx.conf" -s reload 2>>"$M/stderr.log"
wait_for 15 sh -c "[ \$(grep -c 'throttlekit: loaded' '$M/error.log') -ge 3 ]" \
  || fail "memory door: the reloaded worker did not load the library"
wait_for 15 sh -c "[ \"\$(pgrep -P $master_m | wc -l)\" = 1 ]"
check "memory door: after a reload, a full store again" "$(burst "$m_port" /byheader "$user-a" 6)" \
  "200 200 200 200 200 429"
bad=$(grep -E '\[(alert|crit|emerg)\]' "$M/error.log" | grep -v "exited on signal 9" || true)
[ -z "$bad" ] && ok "memory door: no alert, crit or emerg in the error log" || fail "memory door: error log: $bad"
"$NGINX" -p "$M" -c "$M/nginx.conf" -s quit 2>>"$M/stderr.log"
wait_for 10 sh -c "! kill -0 $master_m" || fail "memory door: nginx did not stop"

# A policy file nginx reads but the library refuses: the worker says so, the fail mode answers.
printf 'limiters:\n  api: { strategy: gcra, limit: 5, burts: 5 }\n' > "$dir/bad-policies.yaml"
MB=$dir/memory-bad
start_nginx "$MB" "throttlekit_memory $dir/bad-policies.yaml;" "throttlekit_library $lib;"
check "memory door, refused policies: fail open passes, fail closed rejects" \
  "$(req "$port" /open mb) $(req "$port" /closed mb)" "200 429"
check "... logged as ERROR" "$(last_log "$MB")" "/closed 429 ERROR -"
grep -q "tk_open_memory failed" "$MB/error.log" && ok "... and the error log names tk_open_memory" \
  || fail "memory door: no tk_open_memory error in the log: $(grep throttlekit "$MB/error.log")"
"$NGINX" -p "$MB" -c "$MB/nginx.conf" -s quit 2>>"$MB/stderr.log"

# ---- A library that never completes: the guard timer ----------------------------------------

echo "# A library whose checks never complete"
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$dir/silent.so" \
  "$root/tests/nginx/silent_lib.c" || fail "building tests/nginx/silent_lib.c"
S=$dir/silent
start_nginx "$S" "throttlekit_service 127.0.0.1:1;" "throttlekit_library $dir/silent.so;"
s_port=$port
req "$s_port" /open g -w '%{http_code} %{time_total}' > "$dir/guard-open" &
g1=$!
req "$s_port" /closed g -w '%{http_code} %{time_total}' > "$dir/guard-closed" &
g2=$!
sleep 0.2
check "the worker serves meanwhile" "$(req "$s_port" /free)" "200"
master_s=$(cat "$S/nginx.pid")
"$NGINX" -p "$S" -c "$S/nginx.conf" -s quit 2>>"$S/stderr.log"   # a graceful stop waits
wait "$g1" "$g2"
read -r code t < "$dir/guard-open"
ms=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
check "guard timer, fail open: the request passes" "$code" "200"
[ "$ms" -ge 1950 ] && [ "$ms" -lt 5000 ] && ok "... after ${ms} ms (timeout 1 s + 1 s)" \
  || fail "the guard ended the check after ${ms} ms, not about 2000"
read -r code t < "$dir/guard-closed"
check "guard timer, fail closed: the request is rejected" "$code" "429"
check "... both logged as ERROR" "$(grep -c ' ERROR -$' "$S/access.log")" "2"
grep -q "no completion within 2000 ms" "$S/error.log" && ok "... and the error log says why" \
  || fail "no guard message in the error log"
wait_for 10 sh -c "! kill -0 $master_s" \
  && ok "nginx -s quit waited for the checks in flight, then stopped" \
  || fail "nginx did not stop after the guard timers"

# ---- Concurrency: throttlekit_concurrency --------------------------------------------------

echo "# throttlekit_concurrency: a slow upstream behind a limit of 3, two workers"
# The upstream sleeps ?ms= per request and records how many it serves at once (GET /stats:
# "max current total"; GET /reset: max = current). While it sleeps it watches its socket: a
# request nginx abandons (its client hung up) leaves the count at once, so the count is what
# nginx really has in flight upstream. /fail answers 502 after its sleep.
cat > "$dir/slow_upstream.py" <<'PY'
import http.server, os, select, socket, sys, threading, time, urllib.parse

lock = threading.Lock()
state = {"cur": 0, "max": 0, "total": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def gone(self, left):
        r, _, _ = select.select([self.connection], [], [], min(left, 0.02))
        if not r:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            with lock:
                return self.reply(200, "%(max)d %(cur)d %(total)d" % state)
        if url.path == "/reset":
            with lock:
                state["max"] = state["cur"]
            return self.reply(200, "reset")
        ms = int(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
        with lock:
            state["cur"] += 1
            state["total"] += 1
            state["max"] = max(state["max"], state["cur"])
        try:
            deadline = time.monotonic() + ms / 1000
            while time.monotonic() < deadline:
                if self.gone(deadline - time.monotonic()):
                    return
        finally:
            with lock:
                state["cur"] -= 1
        self.reply(502 if url.path == "/fail" else 200, "slow %d\n" % ms)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
PY
python3 "$dir/slow_upstream.py" "$dir/upstream.port" 2>"$dir/upstream.log" &
pids+=("$!")
wait_for 10 test -s "$dir/upstream.port" || { fail "the slow upstream did not start: $(cat "$dir/upstream.log")"; }
up_port=$(cat "$dir/upstream.port" 2>/dev/null)
up=http://127.0.0.1:$up_port

cat > "$dir/concurrency.yaml" <<'EOF'
limiters:
  slots: { concurrency: { minLimit: 3, maxLimit: 3 } }
  one: { concurrency: { minLimit: 1, maxLimit: 1 } }
  api: { strategy: gcra, limit: 100, period: 1m, burst: 100 }
EOF

# write_cc_conf prefix port door library
write_cc_conf() {
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<EOF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
$4
daemon off;
master_process on;
worker_processes 2;
pid $1/nginx.pid;
error_log $1/error.log info;

events { worker_connections 256; }

http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    root $dir/html;
    log_format tk '\$pid \$uri \$status \$throttlekit_status';
    access_log $1/access.log tk;

    $3
    throttlekit_namespace cc$RANDOM;
    throttlekit_timeout 1s;

    server {
        listen 127.0.0.1:$2 reuseport;

        location = /free { }
        location = /slow {
            throttlekit_concurrency slots key=all;
            proxy_pass $up/slow;
        }
        location = /long {
            throttlekit_concurrency one key=long;
            proxy_pass $up/slow;
        }
        location = /fail {
            throttlekit_concurrency one key=fail;
            proxy_pass $up/fail;
        }
        location = /errpage {
            throttlekit_concurrency one key=errpage;
            proxy_pass $up/fail;
            proxy_intercept_errors on;
            error_page 502 = /free;
        }
        location = /mirrored {
            throttlekit_concurrency one key=mirror;
            mirror /mirror;
            proxy_pass $up/slow;
        }
        location = /mirror {
            internal;
            throttlekit_concurrency one key=mirror;
            proxy_pass $up/slow?ms=10;
        }
        location = /both {
            throttlekit api key=both;
            throttlekit_concurrency one key=both;
            proxy_pass $up/slow;
        }
        location = /open { throttlekit_concurrency one key=o; throttlekit_fail open; }
        location = /closed { throttlekit_concurrency one key=c; throttlekit_fail closed; }
        location = /stats { proxy_pass $up/stats; }
    }
}
EOF
}

# start_cc_nginx prefix door library: on a free port ($port); waits for both workers.
start_cc_nginx() {
  local p=$1 attempt pid
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    write_cc_conf "$p" "$port" "$2" "$3"
    : > "$p/error.log"
    "$NGINX" -p "$p" -c "$p/nginx.conf" 2>>"$p/stderr.log" &
    pid=$!
    pids+=("$pid")
    if wait_for 20 sh -c "[ \$(grep -c 'throttlekit: loaded' '$p/error.log') -ge 2 ] || ! kill -0 $pid" \
       && kill -0 "$pid" 2>/dev/null && wait_for 10 curl -sf "http://127.0.0.1:$port/free"; then
      return
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q "Address already in use" "$p/error.log" "$p/stderr.log" || break
  done
  echo "nginx did not start:"; cat "$p/stderr.log" "$p/error.log"; exit 1
}

# parallel n url [curl args...]: n requests at once; their status codes, sorted, counted
parallel() {
  local n=$1 url=$2 i out=$dir/parallel clients=(); shift 2
  rm -f "$out".*
  for i in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{http_code}\n' "$@" "$url" > "$out.$i" &
    clients+=("$!")
  done
  wait "${clients[@]}"
  cat "$out".* | sort | uniq -c | awk '{ printf "%sx%s ", $1, $2 }' | sed 's/ $//'
}
upstream_stats() { curl -s "$up/stats"; }

K=$dir/concurrency
start_cc_nginx "$K" "throttlekit_redis redis://127.0.0.1:$redis_port/0 $dir/concurrency.yaml;" \
  "throttlekit_library $lib;"
k_port=$port
k=http://127.0.0.1:$k_port
curl -s "$up/reset" >/dev/null

# 12 clients at once, each holding a slot for 1.5 s: 3 are admitted, 9 refused at once.
codes=$(parallel 12 "$k/slow?ms=1500")
check "12 at once behind a limit of 3: 3 served, 9 refused" "$codes" "3x200 9x429"
read -r up_max up_cur up_total <<< "$(upstream_stats)"
[ "${up_max:-99}" -le 3 ] && ok "the upstream never had more than 3 in flight (max $up_max, $up_total served)" \
  || fail "the upstream had $up_max in flight at once (limit 3)"
check "... nothing left in flight upstream" "$up_cur" "0"
workers=$(grep ' /slow ' "$K/access.log" | awk '{print $1}' | sort -u | wc -l)
[ "$workers" -eq 2 ] && ok "... the requests were spread over both workers" \
  || fail "the requests reached $workers worker(s), not 2: the fleet-wide bound was not tested"
check "... refusals are REJECTED in the log" "$(grep -c ' /slow 429 REJECTED$' "$K/access.log")" "9"

# Three clients that hang up after 0.4 s on 5 s requests: their slots come back when nginx
# finalizes them (499), at once, not when their leases would expire (the handle renews them).
curl -s "$up/reset" >/dev/null
parallel 3 "$k/slow?ms=5000" --max-time 0.4 >/dev/null
# 0.2 s later: well inside the 2 s lease TTL, and the handle renews leases it holds, so only
# the releases can have freed the slots.
sleep 0.2
check "0.2 s after 3 clients hung up, 4 at once: 3 served, 1 refused" \
  "$(parallel 4 "$k/slow?ms=1000")" "3x200 1x429"
check "the hung-up requests are logged as 499" "$(grep -c ' /slow 499 ' "$K/access.log")" "3"
read -r up_max up_cur _ <<< "$(upstream_stats)"
[ "${up_max:-99}" -le 3 ] && ok "... the upstream never had more than 3 in flight (max $up_max)" \
  || fail "the upstream had $up_max in flight at once (limit 3)"

# Clients that hang up while their admission is in flight (Redis stopped): their requests
# release nothing when they end; the answers, once Redis resumes, are leases nobody holds,
# which the worker releases as they arrive (the handle would otherwise renew them for ever).
kill -STOP "$redis_pid"
parallel 3 "$k/slow?ms=100" --max-time 0.3 >/dev/null
sleep 0.3
kill -CONT "$redis_pid"
# (On a busy machine a curl may give up before even sending its request: count nginx's 499s.)
hung=$(( $(grep -c ' /slow 499 ' "$K/access.log") - 3 ))
[ "$hung" -ge 1 ] && ok "clients hung up mid-admission ($hung of 3 logged as 499)" \
  || fail "no client hung up mid-admission: the test did not test"
wait_for 5 sh -c "[ \$(grep -c 'releasing the slot of a request that is gone' '$K/error.log') -ge $hung ]"
check "... each late lease is released by the worker" \
  "$(grep -c 'releasing the slot of a request that is gone' "$K/error.log")" "$hung"
check "... and the limit of 3 is whole again" "$(parallel 4 "$k/slow?ms=1000")" "3x200 1x429"

# A long request keeps its slot past the 2 s lease TTL: the handle renews its lease.
curl -s -o "$dir/long.out" -w '%{http_code}' "$k/long?ms=4500" > "$dir/long.code" &
long=$!
sleep 3.5
check "a 4.5 s request still holds its slot after 3.5 s (lease renewed)" \
  "$(curl -s -o /dev/null -w '%{http_code}' "$k/long?ms=10")" "429"
wait "$long"
check "... it was served" "$(cat "$dir/long.code")" "200"
check "... and its slot is free afterwards" "$(curl -s -o /dev/null -w '%{http_code}' "$k/long?ms=10")" "200"

# Every way a request ends gives its slot back (limit 1, one request after another).
check "a 5xx response releases its slot (dropped)" \
  "$(for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code} ' "$k/fail?ms=10"; done)" "502 502 502 "
check "an error_page redirect neither admits twice nor keeps the slot" \
  "$(for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code} ' "$k/errpage?ms=10"; done)" "200 200 200 "
check "a subrequest (mirror) does not admit: no refusal, no leak" \
  "$(for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code} ' "$k/mirrored?ms=300"; done)" "200 200 200 "
check "a rate rule and a concurrency rule on one location" \
  "$(for i in 1 2 3; do curl -s -o /dev/null -w '%{http_code} ' "$k/both?ms=10"; done)" "200 200 200 "
sleep 0.5
check "after all that, the limit of 3 is whole again" "$(parallel 3 "$k/slow?ms=300")" "3x200"
bad=$(grep -E '\[(alert|crit|emerg)\]|signal (6|11)' "$K/error.log" || true)
[ -z "$bad" ] && ok "concurrency: no alert, crit or emerg in the error log" || fail "concurrency: error log: $bad"
"$NGINX" -p "$K" -c "$K/nginx.conf" -s quit 2>>"$K/stderr.log"

# A library without asynchronous admission (the silent double is one): the worker says so at
# start; admissions end in ERROR and the location's throttlekit_fail answers.
KO=$dir/concurrency-old
start_cc_nginx "$KO" "throttlekit_service 127.0.0.1:1;" "throttlekit_library $dir/silent.so;"
grep -F "[emerg]" "$KO/error.log" | grep -qF "needs a libthrottlekit with tk_admit_async" \
  && ok "an older library: the worker says throttlekit_concurrency needs tk_admit_async" \
  || fail "an older library: no emerg about tk_admit_async: $(grep throttlekit "$KO/error.log")"
check "... fail open serves, fail closed refuses" \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/open") $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/closed")" \
  "200 429"
check "... both logged as ERROR" "$(grep -c ' ERROR$' "$KO/access.log")" "2"
"$NGINX" -p "$KO" -c "$KO/nginx.conf" -s quit 2>>"$KO/stderr.log"

# ---- Configuration errors and an unusable library -----------------------------------------

echo "# Configuration errors and a worker without the library"
C=$dir/errors
conf_error() { # conf_error "description" door library [location directives]: nginx -t fails
  write_conf "$C" "$2" "$3" "$(free_port)"
  [ -z "${4:-}" ] || sed -i "s|location = /limited { }|location = /limited { $4 }|" "$C/nginx.conf"
  if "$NGINX" -t -p "$C" -c "$C/nginx.conf" >"$C/t.log" 2>&1; then
    fail "nginx -t accepted: $1"
  elif grep -q "$5" "$C/t.log"; then
    ok "nginx -t refuses $1"
  else
    fail "nginx -t refused $1, without saying '$5': $(cat "$C/t.log")"
  fi
}
conf_error "throttlekit without a door" "" "" "" "needs \"throttlekit_redis\", \"throttlekit_service\" or \"throttlekit_memory\""
conf_error "a missing memory policy file" "throttlekit_memory $dir/nope.yaml;" "" "" "nope.yaml"
write_conf "$C" "throttlekit_memory $dir/policies.yaml; throttlekit_namespace ns;" "" "$(free_port)"
if "$NGINX" -t -p "$C" -c "$C/nginx.conf" >"$C/t.log" 2>&1 \
   && grep -q "throttlekit_memory ignores throttlekit_namespace" "$C/t.log"; then
  ok "nginx -t accepts throttlekit_memory with throttlekit_namespace, warning that it is ignored"
else
  fail "throttlekit_memory with throttlekit_namespace: $(cat "$C/t.log")"
fi
conf_error "the memory door beside another" \
  "throttlekit_memory $dir/policies.yaml; throttlekit_service 127.0.0.1:1;" "" "" "is duplicate"
conf_error "the memory door after another" \
  "throttlekit_service 127.0.0.1:1; throttlekit_memory $dir/policies.yaml;" "" "" "is duplicate"
conf_error "an empty memory policy file" "throttlekit_memory \"\";" "" "" "needs a policy file"
conf_error "a missing policy file" "throttlekit_redis redis://127.0.0.1:1 $dir/nope.yaml;" "" "" \
  "nope.yaml"
conf_error "two doors" "throttlekit_redis redis://127.0.0.1:1 $dir/policies.yaml; throttlekit_service 127.0.0.1:1;" \
  "" "" "is duplicate"
conf_error "a rule without key=" "throttlekit_service 127.0.0.1:1;" "" "throttlekit api;" "key="
conf_error "a status out of range" "throttlekit_service 127.0.0.1:1;" "" "throttlekit_status 200;" \
  "between 400 and 599"

# unusable_worker name door library expected-log: nginx starts, the worker logs why it cannot
# check, and serves with the fail modes.
unusable_worker() {
  local D=$dir/$1 d_port
  write_conf "$D" "$2" "$3" "$(free_port)"
  d_port=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\);/\1/p' "$D/nginx.conf")
  "$NGINX" -p "$D" -c "$D/nginx.conf" 2>>"$D/stderr.log" &
  pids+=("$!")
  if ! wait_for 20 curl -sf "http://127.0.0.1:$d_port/free"; then
    fail "$1: nginx did not start: $(cat "$D/stderr.log" "$D/error.log")"
    return
  fi
  grep -F "[emerg]" "$D/error.log" | grep -qF "$4" && ok "$1: the worker says why" \
    || fail "$1: no '$4' in the error log: $(cat "$D/error.log")"
  check "$1: fail open serves" "$(req "$d_port" /open u)" "200"
  check "$1: ... logged as ERROR" "$(last_log "$D")" "/open 200 ERROR -"
  check "$1: fail closed rejects" "$(req "$d_port" /closed u)" "429"
  "$NGINX" -p "$D" -c "$D/nginx.conf" -s quit 2>>"$D/stderr.log"
}
unusable_worker nolib "throttlekit_service 127.0.0.1:$server_port;" \
  "throttlekit_library $dir/nope.so;" "throttlekit: dlopen(\"$dir/nope.so\") failed"
printf 'limiters:\n  api: { strategy: gcra, limit: 5, period: 1m, burts: 5 }\n' > "$dir/typo.yaml"
unusable_worker badpolicy "throttlekit_redis redis://127.0.0.1:$redis_port/0 $dir/typo.yaml;" \
  "throttlekit_library $lib;" "throttlekit: tk_open_redis failed"

# ---- Shutdown -----------------------------------------------------------------------------

for p in "$A" "$B"; do
  "$NGINX" -p "$p" -c "$p/nginx.conf" -s quit 2>>"$p/stderr.log"
done
wait_for 15 sh -c "! kill -0 $master_a" && ok "nginx -s quit stops cleanly" \
  || fail "nginx did not quit"
for p in "$A" "$B"; do
  bad=$(grep -E '\[(alert|crit|emerg)\]|signal (6|11)' "$p/error.log" | grep -v "exited on signal 9" || true)
  [ -z "$bad" ] || fail "$(basename "$p") error log: $bad"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
