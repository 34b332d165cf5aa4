#!/usr/bin/env bash
# make demo: throttlekit-server on the embedded store with examples/policies.yaml, the C
# example through the service door, then (when redis-server is available) through the Redis
# door; everything started here is stopped on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

server=build/bin/throttlekit-server
example=bindings/c-example/example
policies=examples/policies.yaml
tmp=$(mktemp -d)
log=$tmp/server.log
ready=$tmp/server.ready
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A free port of the server's own choosing; it writes the address to the ready file once it
# listens.
"$server" -c "$policies" --host 127.0.0.1 --port 0 --ready-file "$ready" 2>"$log" &
pid=$!
for _ in $(seq 1 200); do # up to 10 s
  if [ -s "$ready" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.05
done
if [ ! -s "$ready" ]; then
  why="wrote no ready file within 10 s"
  kill -0 "$pid" 2>/dev/null || why="exited before writing its ready file"
  echo "demo: throttlekit-server $why; its log, $log:" >&2
  cat "$log" >&2
  exit 1
fi
read -r addr < "$ready"

echo "== throttlekit-server on $addr (embedded store, $policies)"
"$example" "$addr"
echo

if command -v redis-server >/dev/null 2>&1; then
  echo "== the same policies, straight to Redis"
  scripts/with-redis.sh sh -c "$example \"\$THROTTLEKIT_REDIS_URL\" $policies"
else
  echo "== (redis-server is not installed: the Redis door part is skipped; apt-get install redis-server)"
fi
