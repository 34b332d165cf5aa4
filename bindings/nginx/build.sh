#!/usr/bin/env bash
# Builds build/nginx/ngx_http_throttlekit_module.so against the nginx sources Debian ships in
# nginx-dev (/usr/share/nginx/src, or $NGINX_SRC): a copy of the tree under build/nginx/,
# configured with --with-compat (the module loads into Debian's nginx of the same version),
# then `make -f objs/Makefile modules`. Incremental: the copy is remade when the nginx
# version changes, configure runs again when the module's config file changes.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
module_dir=$root/bindings/nginx
src=${NGINX_SRC:-/usr/share/nginx/src}
out=$root/build/nginx
tree=$out/nginx-src

if [ ! -x "$src/configure" ]; then
  echo "nginx-module: no nginx sources at $src (apt-get install nginx-dev, or set NGINX_SRC)" >&2
  exit 1
fi

mkdir -p "$out"
if [ ! -f "$tree/configure" ] || ! cmp -s "$src/src/core/nginx.h" "$tree/src/core/nginx.h"; then
  rm -rf "$tree"
  cp -r "$src" "$tree"
fi

cd "$tree"
if [ ! -f objs/Makefile ] || [ "$module_dir/config" -nt objs/Makefile ]; then
  ./configure --with-compat --add-dynamic-module="$module_dir" > "$out/configure.log" 2>&1 || {
    cat "$out/configure.log" >&2
    echo "nginx-module: configure failed (full log: $out/configure.log)" >&2
    exit 1
  }
fi
make -f objs/Makefile modules
# Replaced only when it changed, and by a rename: an nginx (a test, make deb's staging) that
# has the current file open or mapped never sees it rewritten under it.
if ! cmp -s objs/ngx_http_throttlekit_module.so "$out/ngx_http_throttlekit_module.so"; then
  cp objs/ngx_http_throttlekit_module.so "$out/ngx_http_throttlekit_module.so.tmp"
  mv -f "$out/ngx_http_throttlekit_module.so.tmp" "$out/ngx_http_throttlekit_module.so"
else
  touch "$out/ngx_http_throttlekit_module.so" # current: newer than its sources, for make
fi
echo "nginx-module: $out/ngx_http_throttlekit_module.so (for $(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/nginx \1/p' src/core/nginx.h))"
