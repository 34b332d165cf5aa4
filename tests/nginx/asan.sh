#!/usr/bin/env bash
# tests/nginx/asan.sh - tests/nginx/run.sh again with the module built with AddressSanitizer:
# the module is compiled with -fsanitize=address (in build/nginx/asan/, a tree of its own) and
# Debian's nginx runs with the ASan runtime preloaded, so every memory access the module makes
# (request pools freed by a client that left, the cookie tree, the completion batch) is
# checked; the first report stops that process and fails the run. Leak checking is off: nginx
# frees its cycle's memory only at exit, by design. Not part of `make test` (it adds a build);
# run it by hand after changing the module: tests/nginx/asan.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
src=${NGINX_SRC:-/usr/share/nginx/src}
out=$root/build/nginx/asan
tree=$out/nginx-src
runtime=$(${CC:-cc} -print-file-name=libasan.so)
[ -f "$runtime" ] || { echo "asan: no libasan.so for ${CC:-cc}" >&2; exit 1; }

mkdir -p "$out"
if [ ! -f "$tree/configure" ] || ! cmp -s "$src/src/core/nginx.h" "$tree/src/core/nginx.h"; then
  rm -rf "$tree"
  cp -r "$src" "$tree"
fi
(
  cd "$tree"
  if [ ! -f objs/Makefile ] || [ "$root/bindings/nginx/config" -nt objs/Makefile ]; then
    ./configure --with-compat --with-cc-opt='-fsanitize=address -fno-omit-frame-pointer' \
      --with-ld-opt=-fsanitize=address --add-dynamic-module="$root/bindings/nginx" \
      > "$out/configure.log" 2>&1 || { cat "$out/configure.log" >&2; exit 1; }
  fi
  make -f objs/Makefile modules > "$out/make.log" 2>&1 || { cat "$out/make.log" >&2; exit 1; }
)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
cat > "$out/nginx" <<WRAP
#!/bin/sh
# Debian's nginx with the ASan runtime preloaded (for the ASan-built module)
export LD_PRELOAD=$runtime
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:log_path=\${TK_ASAN_LOGS:-/tmp}/asan
exec ${NGINX:-nginx} "\$@"
WRAP
chmod +x "$out/nginx"

status=0
TK_ASAN_LOGS=$logs NGINX="$out/nginx" NGINX_MODULE="$tree/objs/ngx_http_throttlekit_module.so" \
  "$root/tests/nginx/run.sh" || status=$?
if compgen -G "$logs/asan*" >/dev/null; then
  echo "FAIL - AddressSanitizer reports:"
  cat "$logs"/asan*
  exit 1
fi
echo "asan: no AddressSanitizer report"
exit "$status"
