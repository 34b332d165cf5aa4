#!/usr/bin/env bash
# lint-c.sh CC STD FLAGS...: compiles (-c, no link: no library needed) every C file git
# tracks with the given compiler and flags (make lint-c passes -Wall -Wextra -Werror), each
# with its own directory and every directory holding a tracked header on the include path.
# The C standard is STD (e.g. -std=c11, as the Makefiles build the shim and the tests), except
# for the C files of Go packages, which get the compiler's default, as cgo builds them. Files
# that include nginx's headers are left to bindings/nginx/build.sh, which builds them with
# nginx's own flags (-Werror among them). Prints each file; exits non-zero if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 CC STD [FLAGS...]" >&2; exit 2; }
cc=$1 std=$2; shift 2

# The C files cgo compiles: those of every package in the module (go list, wherever they are).
cgo_files=$(scripts/go-files.sh ./... | sed -n "s|^$(pwd -P)/||p; s|^$(pwd)/||p" | grep '\.c$' || true)

incs=()
while IFS= read -r d; do incs+=("-I$d"); done < <(git ls-files '*.h' | xargs -r -n1 dirname | sort -u)

failed=0 n=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  if grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]ngx_' "$f"; then
    echo "lint-c: $f: nginx's headers (built by bindings/nginx/build.sh)"
    continue
  fi
  flags=("$std" "$@")
  if grep -qxF -- "$f" <<<"$cgo_files"; then flags=("$@"); fi
  n=$((n + 1))
  echo "lint-c: $cc ${flags[*]} -c $f"
  "$cc" "${flags[@]}" "-I$(dirname "$f")" "${incs[@]}" -c -o /dev/null "$f" ||
    { failed=$((failed + 1)); echo "lint-c: FAIL $f" >&2; }
done < <(git ls-files '*.c')
echo "lint-c: $n files, $failed failed"
[ "$failed" -eq 0 ]
