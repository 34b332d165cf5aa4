#!/usr/bin/env bash
# tests/packages/run.sh - ThrottleKit installed the way each ecosystem installs things, then
# used with nothing from the build tree, then removed without a trace:
#
#   0. `make install` into a staging root (DESTDIR; PREFIX=/usr/local, the multiarch libdir),
#      what it wrote, then `make uninstall`: nothing left.
#   1. The .deb files of `make deb` (libthrottlekit0, libthrottlekit-dev, throttlekit-server,
#      libnginx-mod-http-throttlekit): their metadata, then `dpkg -i` on this machine.
#   2. C: bindings/c-example/example.c compiled in a scratch directory with
#      `pkg-config --cflags --libs throttlekit` only (no rpath anywhere), run against Redis
#      ($THROTTLEKIT_REDIS_URL, from scripts/with-redis.sh) with no environment variable.
#   3. throttlekit-server: `systemd-analyze verify` on the installed unit, then its
#      ExecStartPre and ExecStart run by hand as systemd would (no systemd runs here): its
#      EnvironmentFile, an unprivileged user with no new privileges (DynamicUser's and
#      NoNewPrivileges' effect), the C example through the service door, ExecReload's SIGHUP,
#      SIGTERM (exit 0).
#   4. nginx: `nginx -t` on Debian's own nginx.conf (it includes /etc/nginx/modules-enabled),
#      then a running nginx that loads the module through the packaged snippet, the library
#      found by its soname: 200, 200, then 429.
#   5. Ruby: the gem of `make gem` installed with `gem install` into a scratch GEM_HOME and used
#      from outside the repository (the library found as libthrottlekit.so.0).
#   6. PHP: a scratch Composer project requires throttlekit/throttlekit from a path repository
#      with every other repository off and the network disabled, then uses it; then the same
#      with ffi.preload of the package's throttlekit.preload.h; then PHP-FPM behind nginx
#      (ffi.enable=preload, clear_env, opcache.preload of the package, with and without
#      ffi.preload) serves a request that uses it.
#   7. `dpkg --purge`: no package, file, conffile directory, module link or ldconfig cache
#      entry is left. Then the platform gem (it carries the library) works with no system
#      library at all.
#
# The packages are purged on every way out (a trap), so no system-wide libthrottlekit
# outlives the suite; other suites pass THROTTLEKIT_LIB or an rpath to build/lib and never load
# it meanwhile. One run at a time on a machine (a lock); the suite refuses to touch a machine
# where a ThrottleKit package is already installed.
#
# Needs root and Debian (dpkg), systemd-analyze, nginx, composer, php-cli, php-fpm, ruby, a C compiler,
# pkg-config, curl, setpriv. What is missing skips the suite, or fails it under CI=true.
# Environment: THROTTLEKIT_REDIS_URL (required), KEEP_TMP=1 keeps the scratch directory.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
die()  { echo "FAIL - $*"; failed=$((failed + 1)); exit 1; }
check() { # check "description" command...: ok when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
skip() {
  if [ "${CI:-}" = true ]; then die "$* (CI=true: a missing prerequisite fails)"; fi
  echo "SKIP - $*"; exit 0
}

packages=(libthrottlekit0 libthrottlekit-dev throttlekit-server libnginx-mod-http-throttlekit)
version=$(sed -n 's/^#define TK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$root/include/throttlekit.h" | paste -sd.)

[ "$(id -u)" = 0 ] || skip "the packages suite installs .deb files: it needs root"
missing=()
for cmd in dpkg dpkg-deb systemd-analyze nginx composer php ruby gem cc pkg-config curl setpriv readelf flock; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] || skip "missing ${missing[*]} (scripts/install-deps.sh installs them)"
[ -n "${THROTTLEKIT_REDIS_URL:-}" ] || skip "THROTTLEKIT_REDIS_URL is not set (run under scripts/with-redis.sh)"
arch=$(dpkg --print-architecture)
multiarch=$(cc -print-multiarch)
libdir=/usr/lib/$multiarch
# ldconfig and ld.so may name the library by /lib/<multiarch> (merged /usr: the same files).
libdir_re="\\(/usr\\)\\?/lib/$multiarch"
debs=()
for p in "${packages[@]}"; do
  f=$root/build/deb/${p}_${version}_${arch}.deb
  [ -f "$f" ] || die "$f is missing: run make deb"
  debs+=("$f")
done
gem_file=$root/build/gem/throttlekit-$version.gem
native_gem=$(ls "$root"/build/gem/throttlekit-"$version"-*.gem 2>/dev/null | head -n1)
[ -f "$gem_file" ] && [ -n "$native_gem" ] || die "build/gem lacks the gems: run make gem"

# One run per machine: dpkg's database is the machine's.
exec 8>/run/lock/throttlekit-packages-test.lock
flock -w 900 8 || die "another packages suite holds /run/lock/throttlekit-packages-test.lock"
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
    die "$p is already on this machine (dpkg -l $p): this suite installs and purges it, so it leaves such a machine alone"
  fi
done

tmp=$(mktemp -d)
chmod 755 "$tmp" # the server's and nginx's unprivileged users read their files here
pids=()
# dpkg's lock may be held a while by apt elsewhere on the machine: retry for up to 3 minutes.
dpkg_locked() { # dpkg_locked LOG ARGS...: dpkg ARGS, again while the lock is what failed
  local log=$1; shift
  local deadline=$((SECONDS + 180))
  until dpkg "$@" >"$log" 2>&1; do
    grep -q "lock" "$log" && [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}
purge() { dpkg_locked "$tmp/purge.log" --purge "${packages[@]}"; }
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null
  # Whatever happened, no package stays installed.
  if dpkg-query -W "${packages[@]}" >/dev/null 2>&1; then purge || cat "$tmp/purge.log"; fi
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() { # a port nothing listens on now
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}
# Runs a command with only what a user's shell has: no THROTTLEKIT_*, no LD_LIBRARY_PATH,
# no PKG_CONFIG_PATH, no GEM_* unless given, from the scratch directory.
user_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp/home" LANG=C.UTF-8)
clean_env() { (cd "$tmp" && exec "${user_env[@]}" "$@"); }
mkdir -p "$tmp/home"

# ---- 0. make install / make uninstall into a staging root --------------------------------------
echo "# make install DESTDIR=... (PREFIX=/usr/local), make uninstall"
stage=$tmp/stage
mk() { env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -C "$root" "$@"; }
if mk install DESTDIR="$stage" >"$tmp/make-install.log" 2>&1; then
  ok "make install DESTDIR=$stage"
else
  cat "$tmp/make-install.log"; fail "make install DESTDIR=$stage"
fi
local_lib=$stage/usr/local/lib/$multiarch
for f in "$local_lib/libthrottlekit.so.0" "$local_lib/libthrottlekit-core.so" "$local_lib/pkgconfig/throttlekit.pc" \
  "$stage/usr/local/include/throttlekit.h" "$stage/usr/local/bin/throttlekit-server" \
  "$stage/etc/systemd/system/throttlekit-server.service" "$stage/usr/local/etc/throttlekit/policies.yaml" \
  "$stage/usr/local/lib/nginx/modules/ngx_http_throttlekit_module.so" \
  "$stage/usr/local/share/nginx/modules-available/mod-http-throttlekit.conf"; do
  check "make install wrote ${f#"$stage"}" test -f "$f"
done
check "the installed libthrottlekit.so links to libthrottlekit.so.0" test "$(readlink "$local_lib/libthrottlekit.so")" = libthrottlekit.so.0
check "the installed .pc names the multiarch libdir, no rpath" \
  sh -c "grep -qx 'libdir=/usr/local/lib/$multiarch' '$local_lib/pkgconfig/throttlekit.pc' && ! grep -q rpath '$local_lib/pkgconfig/throttlekit.pc'"
check "the installed unit runs /usr/local/bin/throttlekit-server" \
  grep -q '^ExecStart=/usr/local/bin/throttlekit-server -c /usr/local/etc/throttlekit/policies.yaml' "$stage/etc/systemd/system/throttlekit-server.service"
check "the installed nginx snippet loads the installed module" \
  grep -qx 'load_module /usr/local/lib/nginx/modules/ngx_http_throttlekit_module.so;' "$stage/usr/local/share/nginx/modules-available/mod-http-throttlekit.conf"
if mk uninstall DESTDIR="$stage" >"$tmp/make-uninstall.log" 2>&1; then
  left=$(find "$stage" -not -type d)
  check "make uninstall DESTDIR=$stage leaves no file${left:+: $left}" test -z "$left"
else
  cat "$tmp/make-uninstall.log"; fail "make uninstall DESTDIR=$stage"
fi

# ---- 1. The .deb files -----------------------------------------------------------------------
echo "# the .deb files ($version, $arch)"
for f in "${debs[@]}"; do
  name=$(dpkg-deb -f "$f" Package)
  check "$(basename "$f") is package $name, version $version, architecture $arch" \
    test "$(basename "$f")" = "${name}_$(dpkg-deb -f "$f" Version)_$(dpkg-deb -f "$f" Architecture).deb"
done
contents() { dpkg-deb -c "$root/build/deb/${1}_${version}_${arch}.deb" | awk '{print $6}' | sed 's|^\./|/|'; }
has() { grep -qxF "$2" <<<"$1"; } # has LIST LINE
lib0=$(contents libthrottlekit0)
dev=$(dpkg-deb -c "$root/build/deb/libthrottlekit-dev_${version}_$arch.deb")
check "libthrottlekit0 holds the shim in $libdir" has "$lib0" "$libdir/libthrottlekit.so.0"
check "libthrottlekit0 holds the core beside it" has "$lib0" "$libdir/libthrottlekit-core.so"
check "libthrottlekit-dev holds the header" grep -q ' \./usr/include/throttlekit.h$' <<<"$dev"
check "libthrottlekit-dev holds the .pc file" grep -q " \.$libdir/pkgconfig/throttlekit.pc\$" <<<"$dev"
check "libthrottlekit-dev holds the libthrottlekit.so link" grep -q " \.$libdir/libthrottlekit.so -> libthrottlekit.so.0\$" <<<"$dev"
check "throttlekit-server's conffiles are /etc/throttlekit/policies.yaml and /etc/default/throttlekit-server" \
  sh -c "dpkg-deb -e '$root/build/deb/throttlekit-server_${version}_$arch.deb' '$tmp/server-control' && sort '$tmp/server-control/conffiles' | tr '\n' ' ' | grep -qx '/etc/default/throttlekit-server /etc/throttlekit/policies.yaml '"
check "libnginx-mod-http-throttlekit depends on the nginx ABI it was built for and on libthrottlekit0" \
  sh -c "dpkg-deb -f '$root/build/deb/libnginx-mod-http-throttlekit_${version}_$arch.deb' Depends | grep -q 'nginx-abi-.*libthrottlekit0'"

echo "# dpkg -i"
dpkg_locked "$tmp/install.log" -i "${debs[@]}" || { cat "$tmp/install.log"; die "dpkg -i ${packages[*]}"; }
ok "dpkg -i ${packages[*]}"

# ---- 2. The library and C ----------------------------------------------------------------------
echo "# the library, pkg-config and the C example"
check "ldconfig's cache has libthrottlekit.so.0 in $libdir" \
  sh -c "ldconfig -p | grep -q 'libthrottlekit.so.0 .*=> $libdir_re/libthrottlekit.so.0'"
check "the core's soname is libthrottlekit-core.so" \
  sh -c "readelf -d '$libdir/libthrottlekit-core.so' | grep -q 'SONAME.*\\[libthrottlekit-core.so\\]'"
check "the shim's soname is libthrottlekit.so.0" \
  sh -c "readelf -d '$libdir/libthrottlekit.so.0' | grep -q 'SONAME.*\\[libthrottlekit.so.0\\]'"
pc_libs=$(clean_env pkg-config --libs throttlekit)
pc_cflags=$(clean_env pkg-config --cflags throttlekit)
check "pkg-config --libs throttlekit has no rpath ('$pc_libs')" sh -c "! grep -q rpath '$libdir/pkgconfig/throttlekit.pc' && [ '$(echo $pc_libs)' = -lthrottlekit ]"
check "pkg-config --modversion throttlekit is $version" test "$(clean_env pkg-config --modversion throttlekit)" = "$version"
mkdir -p "$tmp/c"
cp "$root/bindings/c-example/example.c" "$tmp/c/"
if clean_env sh -c "cd c && cc -std=c11 -Wall -Wextra -Werror $pc_cflags -o example example.c $pc_libs" >"$tmp/c/build.log" 2>&1; then
  ok "example.c compiles with \$(pkg-config --cflags --libs throttlekit) only"
else
  cat "$tmp/c/build.log"; fail "example.c compiles with pkg-config only"
fi
check "the example has no RUNPATH and loads $libdir/libthrottlekit.so.0" \
  sh -c "! readelf -d '$tmp/c/example' | grep -q 'RUNPATH\|RPATH' && ldd '$tmp/c/example' | grep -q 'libthrottlekit.so.0 => $libdir_re/libthrottlekit.so.0'"
cat >"$tmp/c/policies.yaml" <<'EOF'
version: 1
limiters:
  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }
  llm:
    tokenBudget: { budget: 1000, windowMs: 1m }
EOF
out=$(clean_env c/example "$THROTTLEKIT_REDIS_URL" c/policies.yaml 2>&1)
case $out in
  *"Redis door"*"request 5: allowed"*"request 6: denied"*"debited 400 tokens"*) ok "the example, Redis door, core found by the shim beside itself: 5 allowed, then denied" ;;
  *) echo "$out"; fail "the example against Redis" ;;
esac

# ---- 3. throttlekit-server under its unit's semantics ---------------------------------------------
echo "# throttlekit-server and its systemd unit"
unit=/usr/lib/systemd/system/throttlekit-server.service
[ -f "$unit" ] || die "$unit is not installed"
if systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1; then
  ok "systemd-analyze verify $unit"
else
  cat "$tmp/verify.log"; fail "systemd-analyze verify $unit"
fi
for setting in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes \
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'CapabilityBoundingSet=' \
  'ExecStartPre=/usr/bin/throttlekit-server --check -c /etc/throttlekit/policies.yaml' \
  'ExecReload=kill -HUP $MAINPID'; do
  check "the unit says $setting" grep -qxF "$setting" "$unit"
done
unit_value() { sed -n "s/^$1=//p" "$unit" | head -n1; }
env_file=$(unit_value EnvironmentFile); env_file=${env_file#-}
check "the unit's EnvironmentFile $env_file is installed" test -f "$env_file"
# systemd's EnvironmentFile: KEY="value" lines; $VAR in Exec lines splits into words.
THROTTLEKIT_SERVER_ARGS=$(sh -c ". '$env_file' && printf %s \"\$THROTTLEKIT_SERVER_ARGS\"")
# The unit's commands with its variables, as an unprivileged user without new privileges.
as_service=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs)
read -r -a pre <<<"$(unit_value ExecStartPre)"
if clean_env "${as_service[@]}" "${pre[@]}" >"$tmp/check.log" 2>&1; then
  ok "ExecStartPre (${pre[*]}) accepts the packaged policy file"
else
  cat "$tmp/check.log"; fail "ExecStartPre: ${pre[*]}"
fi
bad=$tmp/bad-policies.yaml
printf 'version: 1\nlimiters:\n  api: { strategy: nope }\n' >"$bad"
check "--check refuses a broken policy file" sh -c "! ${as_service[*]} /usr/bin/throttlekit-server --check -c '$bad' >/dev/null 2>&1"
start=$(unit_value ExecStart)
start=${start//\$THROTTLEKIT_SERVER_ARGS/$THROTTLEKIT_SERVER_ARGS}
read -r -a start_cmd <<<"$start"
mkdir -p "$tmp/run" && chown 65534:65534 "$tmp/run"
# A drop-in's extra flags: a free port (50051 may be taken on a shared machine) and a ready file.
(cd "$tmp" && exec "${user_env[@]}" "${as_service[@]}" "${start_cmd[@]}" --port 0 --ready-file "$tmp/run/ready") 2>"$tmp/server.log" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 200); do
  [ -s "$tmp/run/ready" ] || ! kill -0 "$server_pid" 2>/dev/null && break
  sleep 0.05
done
if [ -s "$tmp/run/ready" ]; then
  read -r addr <"$tmp/run/ready"
  ok "ExecStart (${start_cmd[*]}) listens on $addr as an unprivileged user"
  out=$(clean_env c/example "$addr" 2>&1)
  case $out in
    *"service door"*"request 7: allowed"*) ok "the example through the service door reaches it" ;;
    *) echo "$out"; fail "the example through the service door" ;;
  esac
  reload=$(unit_value ExecReload)
  reload=${reload//\$MAINPID/$server_pid}
  read -r -a reload_cmd <<<"$reload"
  "${reload_cmd[@]}"
  sleep 0.5
  check "ExecReload ($reload) rereads the policies and the server keeps serving" \
    sh -c "kill -0 $server_pid && grep -qi 'reload' '$tmp/server.log'"
  kill -TERM "$server_pid"
  wait "$server_pid"; rc=$?
  check "SIGTERM (KillSignal) stops it with status 0 (got $rc)" test "$rc" = 0
else
  cat "$tmp/server.log"; fail "ExecStart: the server wrote no ready file"
fi

# ---- 4. nginx --------------------------------------------------------------------------------
echo "# nginx and the packaged module snippet"
link=/etc/nginx/modules-enabled/50-mod-http-throttlekit.conf
check "$link -> /usr/share/nginx/modules-available/mod-http-throttlekit.conf" \
  test "$(readlink "$link")" = /usr/share/nginx/modules-available/mod-http-throttlekit.conf
if nginx -t >"$tmp/nginx-t-system.log" 2>&1; then
  ok "nginx -t on Debian's nginx.conf, which includes modules-enabled"
else
  cat "$tmp/nginx-t-system.log"; fail "nginx -t on /etc/nginx/nginx.conf"
fi
n=$tmp/nginx
mkdir -p "$n/logs" "$n/html"
echo ok >"$n/html/index.txt"
port=$(free_port)
cat >"$n/policies.yaml" <<'EOF'
version: 1
limiters:
  api: { strategy: gcra, limit: 2, period: 1m, burst: 2 }
EOF
cat >"$n/nginx.conf" <<EOF
# As Debian's nginx.conf: the enabled modules' snippets, nothing naming the library.
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $n/client_body;
    proxy_temp_path $n/proxy;
    fastcgi_temp_path $n/fastcgi;
    uwsgi_temp_path $n/uwsgi;
    scgi_temp_path $n/scgi;
    throttlekit_memory $n/policies.yaml;
    server {
        listen 127.0.0.1:$port;
        root $n/html;
        location / {
            throttlekit api key=everyone;
        }
    }
}
EOF
if nginx -t -p "$n" -c "$n/nginx.conf" >"$n/t.log" 2>&1; then
  ok "nginx -t loads the module through $link"
else
  cat "$n/t.log"; fail "nginx -t with the packaged snippet"
fi
if clean_env nginx -p "$n" -c "$n/nginx.conf" >"$n/start.log" 2>&1; then
  codes=""
  for _ in 1 2 3; do
    codes="$codes $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/index.txt")"
  done
  check "requests through the module: 200 200 429 (got$codes)" test "$codes" = " 200 200 429"
  nginx -p "$n" -c "$n/nginx.conf" -s quit 2>/dev/null
  for _ in $(seq 1 100); do [ -f "$n/nginx.pid" ] || break; sleep 0.05; done
  check "no worker error in nginx's log" sh -c "! grep -q '\\[\\(emerg\\|alert\\|crit\\)\\]' '$n/logs/error.log'"
else
  cat "$n/start.log" "$n/logs/error.log" 2>/dev/null; fail "nginx starts with the packaged module"
fi

# ---- 5. Ruby -----------------------------------------------------------------------------------
echo "# the gem"
gems=$tmp/gems
if clean_env GEM_HOME="$gems" gem install --local --no-document "$gem_file" >"$tmp/gem.log" 2>&1; then
  ok "gem install $(basename "$gem_file") into a scratch GEM_HOME"
else
  cat "$tmp/gem.log"; fail "gem install $(basename "$gem_file")"
fi
ruby_check='require "throttlekit"
c = ThrottleKit::Client.memory(policies: "version: 1\nlimiters:\n  api: { strategy: gcra, limit: 2, period: 1m, burst: 2 }\n")
d = Array.new(3) { c.check("api", "k").allowed? }
r = ThrottleKit::Client.redis(ARGV[0], policies: "version: 1\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1m, burst: 1 }\n", namespace: "pkg-#{Process.pid}")
e = Array.new(2) { r.check("api", "k").allowed? }
puts [ThrottleKit::Native.library_path, d, e].inspect'
out=$(clean_env GEM_HOME="$gems" ruby -e "$ruby_check" "$THROTTLEKIT_REDIS_URL" 2>&1)
check "the installed gem finds libthrottlekit.so.0 itself; memory and Redis doors ($out)" \
  test "$out" = '["libthrottlekit.so.0", [true, true, false], [true, false]]'

# ---- 6. PHP ------------------------------------------------------------------------------------
echo "# the Composer package"
app=$tmp/php-app
mkdir -p "$app"
cat >"$app/composer.json" <<EOF
{
    "name": "scratch/app",
    "repositories": [
        {"type": "path", "url": "$root/bindings/php",
         "options": {"symlink": false, "versions": {"throttlekit/throttlekit": "$version"}}}
    ]
}
EOF
composer_env=(COMPOSER_HOME="$tmp/composer-home" COMPOSER_CACHE_DIR="$tmp/composer-cache" COMPOSER_DISABLE_NETWORK=1 COMPOSER_NO_INTERACTION=1)
if clean_env "${composer_env[@]}" sh -c "cd php-app && composer config repo.packagist false && composer require --no-plugins --no-progress throttlekit/throttlekit:$version" >"$tmp/composer.log" 2>&1; then
  ok "composer require throttlekit/throttlekit:$version from a path repository, every other one off, no network"
else
  cat "$tmp/composer.log"; fail "composer require throttlekit/throttlekit"
fi
check "Composer installed the package with its committed FFI headers" \
  test -f "$app/vendor/throttlekit/throttlekit/throttlekit.ffi.h" -a -f "$app/vendor/throttlekit/throttlekit/throttlekit.preload.h"
cat >"$app/check.php" <<'EOF'
<?php
require __DIR__ . '/vendor/autoload.php';
$m = ThrottleKit\Client::memory("version: 1\nlimiters:\n  api: { strategy: gcra, limit: 2, period: 1m, burst: 2 }\n");
$d = [$m->check('api', 'k')->allowed, $m->check('api', 'k')->allowed, $m->check('api', 'k')->allowed];
$r = ThrottleKit\Client::redis($argv[1], "version: 1\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1m, burst: 1 }\n",
    ['key_namespace' => 'pkg-' . getmypid()]);
$e = [$r->check('api', 'k')->allowed, $r->check('api', 'k')->allowed];
echo json_encode([ThrottleKit\Native::source(), $d, $e]), "\n";
EOF
out=$(clean_env php -d ffi.enable=preload php-app/check.php "$THROTTLEKIT_REDIS_URL" 2>&1)
check "the Composer-installed package finds libthrottlekit.so.0 itself; memory and Redis doors ($out)" \
  test "$out" = '["libthrottlekit.so.0",[true,true,false],[true,false]]'
out=$(clean_env php -d ffi.enable=preload -d "ffi.preload=$app/vendor/throttlekit/throttlekit/throttlekit.preload.h" \
  php-app/check.php "$THROTTLEKIT_REDIS_URL" 2>&1)
check "with ffi.preload of the package's throttlekit.preload.h it uses FFI::scope (\$out: $out)" \
  test "$out" = '["scope THROTTLEKIT",[true,true,false],[true,false]]'

# PHP-FPM as a site runs it: ffi.enable=preload (the default: the FFI API only from preloaded
# code), the package preloaded, workers with a cleared environment (clear_env), reached
# through nginx's fastcgi_pass.
fpm_bin=$(command -v php-fpm8.2 php-fpm 2>/dev/null | head -n1)
if [ -n "$fpm_bin" ]; then
  f=$tmp/fpm
  mkdir -p "$f"
  cat >"$app/web.php" <<'EOF'
<?php
require __DIR__ . '/vendor/autoload.php';
$m = ThrottleKit\Client::memory("version: 1\nlimiters:\n  api: { strategy: gcra, limit: 2, period: 1m, burst: 2 }\n");
$d = [$m->check('api', 'k')->allowed, $m->check('api', 'k')->allowed, $m->check('api', 'k')->allowed];
echo json_encode([ThrottleKit\Native::source(), ini_get('ffi.enable'), getenv('THROTTLEKIT_LIB'), $d]), "\n";
EOF
  cat >"$f/fpm.conf" <<EOF
[global]
pid = $f/fpm.pid
error_log = $f/error.log
daemonize = no
[app]
user = nobody
group = nogroup
listen = $f/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 1
clear_env = yes
EOF
  fpm_port=$(free_port)
  cat >"$f/nginx.conf" <<EOF
worker_processes 1;
pid $f/nginx.pid;
error_log $f/nginx-error.log;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path $f/client_body;
    proxy_temp_path $f/proxy;
    fastcgi_temp_path $f/fastcgi;
    uwsgi_temp_path $f/uwsgi;
    scgi_temp_path $f/scgi;
    server {
        listen 127.0.0.1:$fpm_port;
        location = /web.php {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $app/web.php;
            fastcgi_pass unix:$f/fpm.sock;
        }
    }
}
EOF
  pkg=$app/vendor/throttlekit/throttlekit
  # fpm_request DESCRIPTION WANT PHP-FPM-FLAGS...: an FPM master with these flags, one request.
  fpm_request() {
    local what=$1 want=$2 out=""; shift 2
    rm -f "$f/error.log" "$f/nginx-error.log"
    (cd "$tmp" && exec "${user_env[@]}" "$fpm_bin" -F -y "$f/fpm.conf" "$@") >"$f/fpm.out" 2>&1 &
    fpm_pid=$!
    pids+=("$fpm_pid")
    for _ in $(seq 1 100); do [ -S "$f/fpm.sock" ] && break; sleep 0.05; done
    if nginx -p "$f" -c "$f/nginx.conf" >"$f/nginx.out" 2>&1; then
      out=$(curl -s --max-time 10 "http://127.0.0.1:$fpm_port/web.php")
      nginx -p "$f" -c "$f/nginx.conf" -s quit 2>/dev/null
      for _ in $(seq 1 100); do [ -f "$f/nginx.pid" ] || break; sleep 0.05; done
    else
      cat "$f/nginx.out"
    fi
    kill -QUIT "$fpm_pid" 2>/dev/null; wait "$fpm_pid" 2>/dev/null
    check "PHP-FPM, $what: $out" test "$out" = "$want"
    [ "$out" = "$want" ] || cat "$f/error.log" "$f/fpm.out" "$f/nginx-error.log" 2>/dev/null
  }
  # ffi.enable=preload lets only preloaded code call the FFI API: the package's classes are
  # preloaded (opcache.preload=preload.php); the library comes from ffi.preload's scope...
  fpm_request "opcache.preload + ffi.preload, clear_env: the library from FFI::scope" \
    '["scope THROTTLEKIT","preload",false,[true,true,false]]' \
    -d ffi.enable=preload -d opcache.enable=1 -d "opcache.preload=$pkg/preload.php" -d opcache.preload_user=nobody \
    -d "ffi.preload=$pkg/throttlekit.preload.h"
  # ... or from the system path, the package's throttlekit.ffi.h parsed by the client.
  fpm_request "opcache.preload alone, clear_env: the library by its soname" \
    '["libthrottlekit.so.0","preload",false,[true,true,false]]' \
    -d ffi.enable=preload -d opcache.enable=1 -d "opcache.preload=$pkg/preload.php" -d opcache.preload_user=nobody
else
  fail "php-fpm is not installed (apt-get install php-fpm)"
fi

# ---- 7. Purge ----------------------------------------------------------------------------------
echo "# dpkg --purge"
listed=$tmp/files.txt
for p in "${packages[@]}"; do contents "$p"; done | grep -v '/$' >"$listed"
if purge; then ok "dpkg --purge ${packages[*]}"; else cat "$tmp/purge.log"; fail "dpkg --purge"; fi
check "dpkg knows none of the packages any more" sh -c "! dpkg-query -W ${packages[*]} >/dev/null 2>&1"
left=$(while read -r f; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done <"$listed")
check "no file of the packages is left${left:+: $left}" test -z "$left"
for f in /etc/throttlekit /etc/default/throttlekit-server "$link" "$link.removed"; do
  check "$f is gone" sh -c "[ ! -e '$f' ] && [ ! -L '$f' ]"
done
check "ldconfig's cache has no libthrottlekit" sh -c "! ldconfig -p | grep -q throttlekit"

echo "# the platform gem, with no system library"
if clean_env GEM_HOME="$tmp/gems-native" gem install --local --no-document "$native_gem" >"$tmp/gem-native.log" 2>&1; then
  ok "gem install $(basename "$native_gem")"
else
  cat "$tmp/gem-native.log"; fail "gem install $(basename "$native_gem")"
fi
out=$(clean_env GEM_HOME="$tmp/gems-native" ruby -e "$ruby_check" "$THROTTLEKIT_REDIS_URL" 2>&1)
case $out in
  '["'"$tmp"'/gems-native/gems/throttlekit-'"$version"'-'*'/native/libthrottlekit.so.0", [true, true, false], [true, false]]')
    ok "the platform gem loads the library it carries ($out)" ;;
  *) fail "the platform gem: $out" ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
