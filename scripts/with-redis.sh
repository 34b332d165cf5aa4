#!/usr/bin/env bash
# Runs a command with a throwaway redis-server on a free loopback port, exported as
# THROTTLEKIT_REDIS_URL, and stops the server afterwards. Each call has its own server, so
# commands run side by side never share one. An existing THROTTLEKIT_REDIS_URL is
# used as it is. A missing redis-server is installed with apt-get when running as root; if it
# is still missing, that is an error under CI=true or REQUIRE_REDIS=1, and otherwise the
# command runs without Redis (the tests that need it skip and say so).
set -euo pipefail

if [ -n "${THROTTLEKIT_REDIS_URL:-}" ]; then
  exec "$@"
fi

if ! "$(dirname "$0")/install-deps.sh"; then
  if [ "${CI:-}" = "true" ] || [ "${REQUIRE_REDIS:-}" = 1 ]; then
    echo "with-redis: redis-server is not installed (apt-get install redis-server)" >&2
    exit 1
  fi
  echo "with-redis: redis-server not found; tests needing Redis will be skipped (apt-get install redis-server)" >&2
  exec "$@"
fi

dir=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

for attempt in 1 2 3 4 5; do
  # A random high port; a taken one makes redis-server exit at once and we try another.
  port=$((20000 + RANDOM % 40000))
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
  pid=$!
  for _ in $(seq 1 100); do
    # Ours, not another suite's server that took the port first (make test runs suites in
    # parallel, each with its own redis-server): it must answer with our process id.
    if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"; then
      break 2
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
  echo "with-redis: redis-server did not start on port $port (attempt $attempt)" >&2
done
if [ -z "$pid" ]; then
  cat "$dir/redis.log" >&2 || true
  exit 1
fi

export THROTTLEKIT_REDIS_URL="redis://127.0.0.1:$port/0"
echo "with-redis: redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
