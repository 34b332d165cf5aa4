#!/usr/bin/env bash
# run.sh - runs every C ABI test program, plain then AddressSanitizer, then test_symbols.sh;
# prints each program's output and summary and a final "N passed, N failed" line; exits
# non-zero if anything failed. Called by `make run` (which builds first) with the test names;
# without names it runs every program the Makefile builds (make print-tests).
#
# Environment: THROTTLEKIT_REDIS_URL (the Redis the tests use; unset = the Redis tests skip,
# or fail when CI=true), THROTTLEKIT_SERVER (the server binary test_service starts; default
# <repo>/build/bin/throttlekit-server), LIBDIR, INCDIR, CC (for test_symbols.sh), TEST_TIMEOUT
# (seconds per program, default 300).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# No names: every test program, as the Makefile lists them.
[ $# -gt 0 ] || set -- $(make -s --no-print-directory -C "$here" print-tests)
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

# AddressSanitizer settings for the -asan programs. The Go core is loaded into them by dlopen;
# it needs no suppression and no signal-handling override on this toolchain (gcc 12, Go 1.2x):
# leak checking stays on for everything, the Go core included. Options:
#   detect_leaks=1            LeakSanitizer at exit (the x86-64 default, made explicit)
#   strict_string_checks=1    string interceptors check the whole argument is NUL-terminated
#   check_initialization_order=1, detect_stack_use_after_return=1: the stricter checks
#   halt_on_error=1, exitcode=66: stop at the first report, with a recognisable status
# LSAN_OPTIONS: report_objects=1 lists leaked objects' addresses, for a precise report.
# The caller's own ASAN_OPTIONS / LSAN_OPTIONS, if set, come after ours (theirs win).
asan_env=(
  "ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1:halt_on_error=1:exitcode=66${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  "LSAN_OPTIONS=report_objects=1${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
)

total_passed=0
total_failed=0
total_skipped=0
failed_programs=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary_re='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'

run_one() { # run_one label command...
  local label=$1; shift
  local t0 t1 rc p f s line
  t0=$(date +%s%N)
  timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1
  rc=$?
  t1=$(date +%s%N)
  printf '=== %s (%d.%01d s)\n' "$label" $(((t1 - t0) / 1000000000)) $((((t1 - t0) / 100000000) % 10))
  line=$(grep -E "$summary_re" "$log" | tail -n 1)
  # The program's own output; its summary line goes last.
  grep -vxF -- "$line" "$log" | sed 's/^/    /'
  if [[ $line =~ $summary_re ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
  else
    p=0 f=1 s=0
    line="0 passed, 1 failed (no summary: the program crashed or hung)"
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    line="$line (but exit status $rc: counted as 1 failure)"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    line="$line (killed after ${TEST_TIMEOUT}s)"
  fi
  echo "    $line"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  total_skipped=$((total_skipped + s))
  [ "$f" -eq 0 ] || failed_programs+=("$label")
}

start=$(date +%s)
for t in "$@"; do
  run_one "$t" "./bin/$t"
done
for t in "$@"; do
  run_one "$t-asan" env "${asan_env[@]}" "./bin/$t-asan"
done
run_one test_symbols.sh ./test_symbols.sh
elapsed=$(($(date +%s) - start))

echo
if [ "${#failed_programs[@]}" -gt 0 ]; then
  echo "tests/c: failures in: ${failed_programs[*]}"
fi
if [ "$total_skipped" -gt 0 ]; then
  echo "tests/c: ${elapsed}s; $total_skipped skipped"
else
  echo "tests/c: ${elapsed}s"
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
