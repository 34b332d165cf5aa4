#!/usr/bin/env bash
# lint-sh.sh: parses (bash -n / sh -n, chosen by the shebang) every shell script git tracks:
# each file whose first line is a bash or sh shebang, and each *.sh file (sh -n without
# one). Prints each file; exits non-zero if any fails to parse.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0 n=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  first=$(head -n 1 "$f" | tr -d '\r')
  case $first in
    '#!'*bash*) shell=bash ;;
    '#!'*/sh | '#!'*/sh\ * | '#!'*[/\ ]dash* | '#!'*env\ sh*) shell=sh ;;
    *) case $f in *.sh) shell=sh ;; *) continue ;; esac ;;
  esac
  n=$((n + 1))
  echo "lint-sh: $shell -n $f"
  "$shell" -n "$f" || { failed=$((failed + 1)); echo "lint-sh: FAIL $f" >&2; }
done < <(git ls-files -z)
echo "lint-sh: $n scripts, $failed failed"
[ "$failed" -eq 0 ]
