#!/usr/bin/env bash
# run-suite.sh NAME COMMAND...: runs one test suite of `make test` (the Makefile's test-*
# targets call it).
#   SUITE_LOGS unset: the command runs as it is, its output streaming (make test-c alone).
#   SUITE_LOGS=DIR (make test, suites in parallel): the output goes to DIR/NAME.log, and is
#     printed in one piece, under a header with the suite's result and time, when the suite
#     ends (one suite's output at a time); DIR/NAME.result keeps "status seconds".
# run-suite.sh --summary DIR NAME...: one line per suite from DIR/NAME.result (a suite with
#   none did not run: make stopped first); exits non-zero unless every suite passed.
set -uo pipefail

if [ "${1:-}" = --summary ]; then
  dir=$2; shift 2
  bad=0 passed=0
  echo
  echo "==== make test: one line per suite (logs in $dir)"
  for name in "$@"; do
    if read -r rc secs 2>/dev/null < "$dir/$name.result"; then
      if [ "$rc" -eq 0 ]; then verdict=PASS; passed=$((passed + 1)); else verdict="FAIL (exit status $rc)"; bad=$((bad + 1)); fi
      printf '  %-12s %5ss  %s\n' "$name" "$secs" "$verdict"
    else
      printf '  %-12s %5s   %s\n' "$name" - "FAIL (did not run)"; bad=$((bad + 1))
    fi
  done
  echo "suites: $passed passed, $bad failed"
  exit $((bad > 0))
fi

[ $# -ge 2 ] || { echo "usage: $0 NAME COMMAND... | $0 --summary DIR NAME..." >&2; exit 2; }
name=$1; shift
if [ -z "${SUITE_LOGS:-}" ]; then
  exec "$@"
fi

log=$SUITE_LOGS/$name.log
echo "---- $name: started $(date +%T) (output in $log when it ends)"
start=$(date +%s)
"$@" > "$log" 2>&1 < /dev/null
rc=$?
secs=$(($(date +%s) - start))
echo "$rc $secs" > "$SUITE_LOGS/$name.result"
if [ "$rc" -eq 0 ]; then verdict=PASS; else verdict="FAIL (exit status $rc)"; fi
{
  # One suite prints at a time: the lock is held until the whole log is out.
  flock 9
  echo "==== $name: output"
  cat "$log"
  echo "==== $name: $verdict in ${secs}s (ended $(date +%T))"
} 9> "$SUITE_LOGS/.print.lock"
exit "$rc"
