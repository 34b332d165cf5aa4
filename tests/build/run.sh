#!/usr/bin/env bash
# tests/build/run.sh (make test-build) - a header change reaches the Go core. The core's cgo
# code includes include/ and capi/ headers from outside its package directory, which Go's
# build cache does not hash; the Makefile puts their checksum into CGO_CFLAGS and lists them
# among the core's prerequisites. This checks both, in a scratch copy of the work tree (the
# files git tracks or would track, not build/) that shares the Go build cache:
#
#   1. TK_CORE_ABI in capi/core.h bumped (shim and core both read it), make lib: the new core
#      reports the new ABI; the new shim refuses this tree's core (the old ABI) with the
#      mismatch error and opens a handle on the new core.
#   2. Bumped again, make lib without make clean: the core is rebuilt and reports the second
#      value; the shim opens a handle on it.
#   3. make lib once more: nothing is rebuilt.
#   4. include/throttlekit.h changed (a comment): the core is rebuilt.
#   5. A Go file of a package the core depends on (found with scripts/go-files.sh) changed:
#      make runs the core's build.
#
# Needs this tree's build/lib (make lib; make test-build builds it), git, make, a C compiler.
# Environment: MAKE (default make), CC (default cc), GO (default go), KEEP_TMP=1 keeps the
# scratch copy.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
MAKE=${MAKE:-make}
CC=${CC:-cc}
old_core=$root/build/lib/libthrottlekit-core.so
passed=0 failed=0

ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check "description" actual expected
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}
die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

[ -f "$old_core" ] || die "$old_core is missing: run make lib"
abi=$(sed -n 's/^#define TK_CORE_ABI \([0-9][0-9]*\).*/\1/p' "$root/capi/core.h")
[ -n "$abi" ] || die "no '#define TK_CORE_ABI <n>' in capi/core.h"

work=$(mktemp -d)
cleanup() { if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 1' INT TERM
scratch=$work/tree
mkdir -p "$scratch"

# The work tree as it is now (uncommitted changes included), without what git ignores.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && while IFS= read -r -d '' f; do if [ -f "$f" ]; then printf '%s\0' "$f"; fi; done) |
  (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$scratch" ||
  die "copying the work tree to $scratch"
echo "# scratch copy: $scratch ($(cd "$scratch" && find . -type f | wc -l) files)"

lib=$scratch/build/lib
core=$lib/libthrottlekit-core.so

build() { # build what: make lib in the scratch copy, its output indented
  echo "# make lib ($1)"
  # A make of its own: not a job of the make that runs this test (its jobserver, its flags).
  if ! (cd "$scratch" && env -u MAKEFLAGS -u MAKELEVEL "$MAKE" --no-print-directory lib) 2>&1 |
    sed 's/^/    /'; then
    die "make lib ($1) failed"
  fi
}
set_abi() {
  sed -i "s/^#define TK_CORE_ABI [0-9][0-9]*/#define TK_CORE_ABI $1/" "$scratch/capi/core.h"
  grep -q "^#define TK_CORE_ABI $1\$" "$scratch/capi/core.h" || die "could not set TK_CORE_ABI $1"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
core_abi() { "$probe" core "$core" 2>&1; }

# 1. First bump.
abi1=$((abi + 1))
set_abi "$abi1"
build "TK_CORE_ABI $abi1"
probe=$work/abi_probe
"$CC" -std=c11 -O1 -Wall -Wextra -Werror -I"$scratch/include" -o "$probe" \
  "$root/tests/build/abi_probe.c" -L"$lib" -Wl,-rpath,"$lib" -lthrottlekit -ldl ||
  die "building abi_probe"
check "this tree's core reports TK_CORE_ABI $abi" "$("$probe" core "$old_core" 2>&1)" "$abi"
check "the rebuilt core reports TK_CORE_ABI $abi1" "$(core_abi)" "$abi1"
out=$(THROTTLEKIT_CORE=$old_core "$probe" open 2>&1)
case $out in
  *"speaks ABI $abi, this libthrottlekit needs $abi1"*)
    ok "the new shim refuses the old core (ABI $abi): $out" ;;
  *) fail "the new shim with the old core: got '$out', want the ABI $abi/$abi1 mismatch" ;;
esac
check "the new shim opens a handle on the new core" "$("$probe" open 2>&1)" ok

# 2. Second bump, only the header changed, no make clean.
before=$(sum "$core")
abi2=$((abi + 2))
set_abi "$abi2"
build "TK_CORE_ABI $abi2, no make clean"
if [ "$(sum "$core")" != "$before" ]; then ok "the core was rebuilt"; else fail "the core was not rebuilt"; fi
check "the rebuilt core reports TK_CORE_ABI $abi2" "$(core_abi)" "$abi2"
check "the shim opens a handle on it" "$("$probe" open 2>&1)" ok

# 3. Nothing changed: nothing to do.
before=$(stat -c %y "$core")
build "nothing changed"
check "make lib left the core alone" "$(stat -c %y "$core")" "$before"

# 4. The public header, a comment only.
before=$(sum "$core")
echo "/* tests/build: a change to the header alone */" >> "$scratch/include/throttlekit.h"
build "include/throttlekit.h changed"
if [ "$(sum "$core")" != "$before" ]; then ok "include/throttlekit.h changed: the core was rebuilt"
else fail "include/throttlekit.h changed: the core was not rebuilt"; fi

# 5. A Go file of a package the core imports, outside the core's own package directory.
core_pkg=$(sed -n 's/^CORE_PKG *:= *//p' "$scratch/Makefile")
core_dir=$(cd "$scratch" && "${GO:-go}" list -f '{{.Dir}}' "$core_pkg")
dep=$(cd "$scratch" && scripts/go-files.sh "$core_pkg" |
  grep '\.go$' | grep -v "^$core_dir/[^/]*\$" | head -n 1)
if [ -z "$dep" ]; then
  fail "scripts/go-files.sh lists no Go file outside the core's package"
else
  # A comment compiles to the same core (Go then leaves the file as it was): what counts is
  # that make ran the build, which touches the core.
  before=$(stat -c %y "$core")
  echo "// tests/build: a change to a dependency" >> "$dep"
  build "${dep#"$scratch"/} changed"
  if [ "$(stat -c %y "$core")" != "$before" ]; then ok "${dep#"$scratch"/} changed: make rebuilt the core"
  else fail "${dep#"$scratch"/} changed: make did not rebuild the core"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
