#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages the tests and the demo need and the machine
# lacks. Needs root; says what is still missing and exits 1 when it cannot install.
set -euo pipefail

packages=(
  make gcc libc6-dev git   # the build, the C tests (ASan comes with gcc), make lint and test-build
  redis-server redis-tools # the Redis door's tests and demo
  pkgconf                  # the C example builds with pkg-config
  libcjson-dev             # the C conformance test reads the golden vectors
  protobuf-compiler        # make proto-check regenerates the gRPC stubs to compare
  php-cli phpunit          # the PHP package (FFI and pcntl ship with php-cli)
  php-fpm php-nyholm-psr7 php-psr-log php-psr-http-message php-psr-http-factory # ... its PSR-15 and php-fpm tests
  php-symfony-rate-limiter php-symfony-framework-bundle php-symfony-yaml # ... its Symfony app test
  php-laravel-framework    # ... its Laravel app test
  ruby ruby-ffi ruby-rack ruby-minitest # the Ruby gem
  ruby-railties ruby-actionpack ruby-activesupport puma # ... its Rails app test (Puma cluster mode)
  nginx nginx-dev libpcre2-dev zlib1g-dev # the nginx module: Debian's nginx and its sources
  curl wrk                 # ... its tests and its benchmark
  composer php-fpm         # the packages suite: composer require of the PHP package, offline; PHP-FPM
  systemd                  # ... systemd-analyze verify on the server's unit (nothing is started)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
