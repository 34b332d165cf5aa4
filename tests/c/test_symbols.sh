#!/usr/bin/env bash
# test_symbols.sh - what libthrottlekit exports, and that the public header builds everywhere.
#
#   - nm -D --defined-only libthrottlekit.so lists only tk_* symbols, and exactly the functions
#     throttlekit.h declares;
#   - the shim's SONAME is libthrottlekit.so.0, libthrottlekit.so points to it, and the shim
#     does not link the Go core (it dlopens it on the first tk_open_*);
#   - the core exports the shim's private entry points (tkcore_*) and no tk_* of its own;
#   - throttlekit.h compiles as C99 and C11 with -pedantic, and as C++ (g++ -x c++), with
#     -Wall -Wextra -Werror; abi_layout.c pins values, offsets and signatures.
#
# Environment: LIBDIR (default ../../build/lib), INCDIR (default ../../include), CC, CXX.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
LIBDIR=${LIBDIR:-$here/../../build/lib}
INCDIR=${INCDIR:-$here/../../include}
CC=${CC:-cc}
CXX=${CXX:-g++}
passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "test_symbols.sh: FAIL: $*" >&2; }
check() { # check "what" command...
  local what=$1; shift
  if "$@" >"$work/out" 2>&1; then pass; else fail "$what"; sed 's/^/    /' "$work/out" >&2; fi
}

shim=$LIBDIR/libthrottlekit.so
core=$LIBDIR/libthrottlekit-core.so
header=$INCDIR/throttlekit.h
for f in "$shim" "$core" "$header"; do
  if [ -e "$f" ]; then pass; else fail "$f is missing (run make lib)"; fi
done

# ---- Exported symbols --------------------------------------------------------------------
if [ -e "$shim" ]; then
  nm -D --defined-only "$shim" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u >"$work/exported"
  others=$(grep -v '^tk_' "$work/exported" || true)
  if [ -z "$others" ]; then pass; else fail "libthrottlekit.so exports non-tk_ symbols: $(echo $others)"; fi

  # The functions the header declares (comments dropped by the preprocessor).
  "$CC" -E -P -I"$INCDIR" "$header" | grep -oE '\btk_[a-z0-9_]+[[:space:]]*\(' |
    sed 's/[[:space:]]*($//' | sort -u >"$work/declared"
  if [ "$(wc -l <"$work/declared")" -ge 20 ]; then pass; else fail "found only $(wc -l <"$work/declared") functions in $header"; fi
  missing=$(comm -23 "$work/declared" "$work/exported")
  extra=$(comm -13 "$work/declared" "$work/exported")
  if [ -z "$missing" ]; then pass; else fail "declared in the header, not exported: $(echo $missing)"; fi
  if [ -z "$extra" ]; then pass; else fail "exported, not declared in the header: $(echo $extra)"; fi
  for fn in tk_version tk_strerror tk_options_init tk_open_redis tk_open_service tk_free tk_check \
            tk_check_many tk_peek tk_forecast tk_debit tk_check_at tk_check_many_at tk_peek_at \
            tk_forecast_at tk_debit_at tk_completion_fd tk_check_async tk_poll tk_debug_goroutines \
            tk_admit tk_admit_at tk_release tk_release_at tk_heartbeat tk_heartbeat_at; do
    if grep -qx "$fn" "$work/exported"; then pass; else fail "$fn is not exported"; fi
  done

  soname=$(readelf -d "$shim" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  if [ "$soname" = libthrottlekit.so.0 ]; then pass; else fail "SONAME is '$soname', want libthrottlekit.so.0"; fi
  target=$(readlink "$shim" || true)
  if [ "$target" = libthrottlekit.so.0 ]; then pass; else fail "libthrottlekit.so -> '$target', want libthrottlekit.so.0"; fi
  needed=$(readelf -d "$shim" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  case "$needed" in
    *throttlekit*|*libgo*) fail "the shim links the core at load time (NEEDED: $needed)" ;;
    *) pass ;;
  esac
fi

if [ -e "$core" ]; then
  nm -D --defined-only "$core" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u >"$work/core"
  for fn in tkcore_open_redis tkcore_free tkcore_check tkcore_check_many tkcore_peek \
            tkcore_forecast tkcore_debit tkcore_check_async tkcore_completion_fd tkcore_poll \
            tkcore_debug_goroutines tkcore_submit tkcore_relay; do
    if grep -qx "$fn" "$work/core"; then pass; else fail "the core does not export $fn"; fi
  done
  clash=$(grep '^tk_' "$work/core" || true)
  if [ -z "$clash" ]; then pass; else fail "the core exports public names: $(echo $clash)"; fi
fi

# ---- The header in C and C++ ---------------------------------------------------------------
cat >"$work/use.c" <<'SRC'
#include <throttlekit.h>
#include <throttlekit.h> /* twice: the include guard holds */
int use_everything(void);
int use_everything(void) {
  tk_options_t o;
  tk_handle_t h = 0;
  tk_error_t err;
  tk_decision_t d;
  tk_forecast_t f;
  const char *keys[1] = {"k"};
  tk_options_init(&o);
  o.fail_mode = TK_FAIL_OPEN;
  int rc = tk_open_redis("redis://127.0.0.1:6379/0", "limiters: {}", &o, &h, &err);
  rc |= tk_open_service("127.0.0.1:7443", &o, &h, &err);
  rc |= tk_check(h, "api", "k", 1, &d, &err) | tk_check_many(h, "api", keys, 1, 1, &d, &err);
  rc |= tk_peek(h, "api", "k", &d, &err) | tk_forecast(h, "api", "k", 1, &f, &err);
  rc |= tk_debit(h, "llm", "k", 1, &d, &err) | tk_check_at(h, "api", "k", 1, 1, &d, &err);
  rc |= tk_check_many_at(h, "api", keys, 1, 1, 1, &d, &err) | tk_peek_at(h, "api", "k", 1, &d, &err);
  rc |= tk_forecast_at(h, "api", "k", 1, 1, &f, &err) | tk_debit_at(h, "llm", "k", 1, 1, &d, &err);
  tk_completion_t done[4];
  size_t n_done = 0;
  int fd = -1;
  rc |= tk_completion_fd(h, &fd, &err) | tk_check_async(h, "api", "k", 1, UINT64_C(42), &err);
  rc |= tk_poll(h, done, sizeof done / sizeof done[0], &n_done);
  rc |= (done[0].cookie == 42) + done[0].status + done[0].decision.allowed + done[0].message[0] + fd;
  rc |= tk_debug_goroutines() > 0;
  rc |= tk_free(h);
  tk_status_t s = TK_E_AUTH;
  int si = s;
  return rc + si + (tk_strerror(rc)[0] != 0) + (tk_version()[0] != 0) + TK_DECISION_SYNTHESIZED;
}
SRC
cwarn="-Wall -Wextra -Werror -pedantic"
check "header as C99 -pedantic" "$CC" -std=c99 $cwarn -Wstrict-prototypes -Wmissing-prototypes -I"$INCDIR" -c -o "$work/c99.o" "$work/use.c"
check "header as C11 -pedantic" "$CC" -std=c11 $cwarn -Wstrict-prototypes -I"$INCDIR" -c -o "$work/c11.o" "$work/use.c"
check "header as C++11 (g++ -x c++)" "$CXX" -x c++ -std=c++11 $cwarn -I"$INCDIR" -c -o "$work/cxx11.o" "$work/use.c"
check "header as C++17 (g++ -x c++)" "$CXX" -x c++ -std=c++17 $cwarn -Wold-style-cast -I"$INCDIR" -fsyntax-only "$work/use.c"
check "header alone, as C++ (g++ -x c++ throttlekit.h)" "$CXX" -x c++ -std=c++11 $cwarn -fsyntax-only "$header"
check "header alone, as C99" "$CC" -x c -std=c99 $cwarn -fsyntax-only "$header"
# The C++ object must reference the C names, unmangled (extern "C").
if [ -e "$work/cxx11.o" ]; then
  if nm "$work/cxx11.o" | grep -q ' U tk_open_redis$'; then pass; else fail "C++ sees mangled names (extern \"C\" missing?)"; fi
fi
# Linking the C object against the shim resolves every function.
if [ -e "$work/c99.o" ]; then
  printf 'int use_everything(void);\nint main(void) { return use_everything() == 12345; }\n' >"$work/main.c"
  check "link against libthrottlekit" "$CC" -o "$work/linked" "$work/main.c" "$work/c99.o" -L"$LIBDIR" -lthrottlekit
fi
check "ABI layout (abi_layout.c)" "$CC" -std=c11 $cwarn -I"$INCDIR" -fsyntax-only "$here/abi_layout.c"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
