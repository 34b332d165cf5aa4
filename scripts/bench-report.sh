#!/bin/sh
# Turns a saved `make bench` log into the markdown tables of BENCHMARKS.md. It runs nothing:
#
#   make bench 2>&1 | tee build/bench.log
#   scripts/bench-report.sh build/bench.log > build/bench-tables.md
#
# Every bench prints, beside its own lines, each summary again as a "#### title" line followed
# by a markdown table (bench/report_test.go, bench/capi/main.go, bindings/php/bench/bench.php,
# bindings/ruby/bench/bench.rb, bindings/nginx/bench.sh). This prints those blocks, in the
# order of the log, and nothing else; it fails when the log holds none.
set -eu

if [ $# -gt 1 ]; then
  echo "usage: $0 [make-bench.log]   (default: standard input)" >&2
  exit 2
fi
log=${1:--}
if [ "$log" != - ] && [ ! -r "$log" ]; then
  echo "$0: cannot read $log" >&2
  exit 2
fi

awk -v src="$log" '
  { sub(/\r$/, "") }                      # logs saved from a terminal
  /^#### / {
    if (!blocks++) printf "<!-- tables from %s, by scripts/bench-report.sh -->\n", (src == "-" ? "standard input" : src)
    printf "\n%s\n\n", $0
    inblock = 1
    next
  }
  inblock && /^\|/ { print; next }
  inblock && /^[ \t]*$/ { next }         # the blank line between a heading and its table
  { inblock = 0 }
  END {
    if (!blocks) {
      print "bench-report: no \"#### \" tables in the log: was it saved from make bench?" > "/dev/stderr"
      exit 1
    }
  }
' "$log"
