#!/usr/bin/env bash
# make demo: throttlekit-server on the embedded store with examples/policies.yaml, the C
# example through the service door, then (when redis-server is available) through the Redis
# door; everything started here is stopped on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

server=build/bin/throttlekit-server
example=bindings/c-example/example
policies=examples/policies.yaml
log=$(mktemp)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$log"
}
trap cleanup EXIT INT TERM

for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  "$server" -c "$policies" --host 127.0.0.1 --port "$port" 2>"$log" &
  pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break 2; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
  pid=""
done
if [ -z "$pid" ]; then
  echo "demo: throttlekit-server did not start:" >&2
  cat "$log" >&2
  exit 1
fi

echo "== throttlekit-server on 127.0.0.1:$port (embedded store, $policies)"
"$example" "127.0.0.1:$port"
echo

if command -v redis-server >/dev/null 2>&1; then
  echo "== the same policies, straight to Redis"
  scripts/with-redis.sh sh -c "$example \"\$THROTTLEKIT_REDIS_URL\" $policies"
else
  echo "== (redis-server is not installed: the Redis door part is skipped; apt-get install redis-server)"
fi
