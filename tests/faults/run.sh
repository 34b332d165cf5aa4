#!/usr/bin/env bash
# run.sh - runs the fault and soak test programs (bin/<name>, built by `make`), one after
# the other: each program's output, then its result (PASS/FAIL, its assertion counts, its
# time); at the end a "N passed, N failed" line counting test programs. Exits non-zero if any
# failed, crashed (no summary line) or hung (killed after TEST_TIMEOUT seconds, default 300;
# the soak gets SOAK_SECONDS + 180).
#
# Environment: SOAK_SECONDS (default 60), CI (true: a missing redis-server or server binary
# is a failure, not a skip), REDIS_SERVER, THROTTLEKIT_SERVER, FT_SLACK_MS (tk_fault.h).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# No names: every program, as the Makefile lists them.
[ $# -gt 0 ] || set -- $(make -s --no-print-directory -C "$(dirname "$0")" print-tests)
export SOAK_SECONDS=${SOAK_SECONDS:-60}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
summary_re='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
passed=0 failed=0
results=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
for t in "$@"; do
  limit=$TEST_TIMEOUT
  [ "$t" = soak ] && limit=$((SOAK_SECONDS + 180))
  echo "=== $t"
  t0=$(date +%s%N)
  # The output is shown as it comes (the soak prints progress) and kept for the summary.
  timeout --kill-after=10 "$limit" "./bin/$t" 2>&1 | tee "$log" | sed -u 's/^/    /'
  rc=${PIPESTATUS[0]}
  t1=$(date +%s%N)
  secs=$(printf '%d.%01d' $(((t1 - t0) / 1000000000)) $((((t1 - t0) / 100000000) % 10)))
  line=$(grep -E "$summary_re" "$log" | tail -n 1)
  verdict=PASS
  if [[ ! $line =~ $summary_re ]]; then
    verdict=FAIL line="no summary line: crashed or hung (exit status $rc)"
  elif [ "${BASH_REMATCH[2]}" -ne 0 ] || [ "$rc" -ne 0 ]; then
    verdict=FAIL line="$line, exit status $rc"
  elif [ -n "${BASH_REMATCH[4]:-}" ] && [ "${BASH_REMATCH[4]}" -ne 0 ]; then
    verdict="PASS (with skips)"
  fi
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && line="$line (killed after ${limit}s)"
  results+=("$(printf '%-20s %-18s %6ss  %s' "$t" "$verdict" "$secs" "$line")")
  if [ "${verdict%% *}" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo
echo "tests/faults: $(($(date +%s) - start))s"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
