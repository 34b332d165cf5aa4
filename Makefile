# ThrottleKit Go client core. `make demo` shows it working; `make test` proves it.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
WITH_REDIS  := scripts/with-redis.sh

CC          ?= cc
CFLAGS_C    := -std=c11 -O2 -g -fPIC -Wall -Wextra -Werror
# Where `make install` puts things: PREFIX, the multiarch libdir Debian's dynamic linker
# searches (/usr/local/lib/x86_64-linux-gnu), DESTDIR for staging (packages).
PREFIX      ?= /usr/local
MULTIARCH   ?= $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR      ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
INCLUDEDIR  ?= $(PREFIX)/include
BINDIR      ?= $(PREFIX)/bin
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR     ?= $(if $(filter /usr/local,$(PREFIX)),/etc/systemd/system,$(PREFIX)/lib/systemd/system)
NGINX_MODULES_DIR ?= $(PREFIX)/lib/nginx/modules
NGINX_CONF_DIR    ?= $(PREFIX)/share/nginx/modules-available
VERSION     := $(shell sed -n 's/^\#define TK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/throttlekit.h | paste -sd.)
LIB         := build/lib
SHIM        := $(LIB)/libthrottlekit.so.0
CORE        := $(LIB)/libthrottlekit-core.so
# The core's soname is its file name: only the shim loads it (by path, from its own
# directory), and TK_CORE_ABI, checked at load, is what pairs the two.
CORE_SONAME := libthrottlekit-core.so
NGINX_MODULE := build/nginx/ngx_http_throttlekit_module.so
SERVER_BIN  := build/bin/throttlekit-server
# The Go packages the core and the server are built from (main packages).
CORE_PKG    := .
SERVER_PKG  := ./cmd/throttlekit-server
# The C headers: the core's cgo code includes them from outside its package directory, where
# Go's build cache does not look, so their checksum goes into the core's CGO_CFLAGS (below).
C_HEADERS   := $(wildcard include/*.h capi/*.h)

# Every file `go build` reads for a package, derived with `go list -deps` (scripts/go-files.sh)
# when make first needs it; when go list fails, FORCE makes the build run and say why.
go_files = $(shell GO='$(GO)' scripts/go-files.sh $(1) || echo FORCE) go.mod go.sum
# Go's default CGO_CFLAGS (or the caller's) plus the headers' checksum: a changed header is
# a new build cache key. Expanded when the recipe runs.
CORE_CGO_CFLAGS = $(shell $(GO) env CGO_CFLAGS) -DTK_HEADERS_SUM=$(firstword $(shell sha256sum $(C_HEADERS) | sha256sum))

# Pinned protobuf generators (protoc itself is Debian's protobuf-compiler).
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
TOOLS              := build/tools

.PHONY: all deps test bench demo demo-go lint lint-go lint-c lint-sh clean lib proto proto-check server FORCE
.SECONDEXPANSION:

all: lint test

# The suites of `make test`, each runnable alone. TEST_SIDE_BY_SIDE run two at a time (make -j2
# starts them in this order: test-go, the longest, first; the others follow one another beside
# it); none keeps both cores busy for long. TEST_ALONE run afterwards, one at a time: the faults suite loads both
# cores for two minutes and bounds every call to its timeout + 200 ms, so it gets the machine.
TEST_SIDE_BY_SIDE := test-go test-nginx test-c test-build test-php test-ruby test-fuzz test-packages
TEST_ALONE        := test-faults
TEST_SUITES       := $(TEST_SIDE_BY_SIDE) $(TEST_ALONE)
# Each suite has its own redis-server. One Redis given through THROTTLEKIT_REDIS_URL is shared
# by every suite, and some tests send SCRIPT FLUSH: then one suite at a time.
TEST_JOBS   ?= $(if $(THROTTLEKIT_REDIS_URL),1,2)
TEST_LOGS   := build/test-logs
SERVER_ENV  := THROTTLEKIT_SERVER=$(abspath $(SERVER_BIN))
LIB_ENV     := THROTTLEKIT_LIB=$(abspath $(LIB))/libthrottlekit.so
# Runs a suite: its output streams, or, under make test, goes to $(TEST_LOGS)/<suite>.log and
# is printed in one piece when the suite ends (scripts/run-suite.sh).
suite       = scripts/run-suite.sh $@
TEST_MAKE   = SUITE_LOGS=$(abspath $(TEST_LOGS)) $(MAKE) --no-print-directory -k

## test: every suite below: TEST_SIDE_BY_SIDE two at a time (TEST_JOBS), then TEST_ALONE;
## each against its own throwaway redis-server (or all, one at a time, against
## $THROTTLEKIT_REDIS_URL); every suite runs even when one fails; a summary line per suite
.PHONY: $(TEST_SUITES)
test: deps lib server nginx-module proto-check
	@rm -rf $(TEST_LOGS) && mkdir -p $(TEST_LOGS)
	@status=0; \
	  $(TEST_MAKE) -j$(TEST_JOBS) $(TEST_SIDE_BY_SIDE) || status=1; \
	  $(TEST_MAKE) -j1 $(TEST_ALONE) || status=1; \
	  scripts/run-suite.sh --summary $(abspath $(TEST_LOGS)) $(TEST_SUITES) || status=1; \
	  exit $$status

## test-build: a header change reaches the core: in a scratch copy of the tree, TK_CORE_ABI
## bumped, make lib, the shim refuses the old core and takes the new one; bumped again
## without make clean, the core is rebuilt (tests/build)
test-build: lib
	$(suite) tests/build/run.sh

## test-go: go test -race over the module (tests/scaleout needs make lib); go test runs the
## packages' test binaries side by side, each through with-redis.sh: one Redis per package,
## since some tests count Redis's own command statistics or send SCRIPT FLUSH
test-go: lib
	$(suite) env -u MAKEFLAGS -u MAKELEVEL $(GO) test -race -count=1 -exec $(abspath $(WITH_REDIS)) ./...

## test-fuzz: each fuzz target over outside bytes (the policy YAML parser, Redis URLs, the
## server's request bodies) for FUZZ_TIME, one worker each, from its committed corpus
FUZZ_TIME    ?= 15s
FUZZ_TARGETS := ./policy:FuzzParse ./internal/redisdoor:FuzzParseRedisURL ./server:FuzzRequestBody
test-fuzz:
	$(suite) sh -c 'for t in $(FUZZ_TARGETS); do \
	  $(GO) test -run "^$$" -fuzz "^$${t#*:}$$" -fuzztime $(FUZZ_TIME) -parallel 1 "$${t%%:*}" || exit 1; done'

## test-c: the C ABI's tests, plain and under AddressSanitizer (tests/c)
test-c: lib server
	$(suite) $(WITH_REDIS) $(MAKE) -C tests/c run $(SERVER_ENV)

## test-php: the PHP package's phpunit tests (bindings/php)
test-php: lib server
	$(suite) $(WITH_REDIS) $(MAKE) -C bindings/php test $(SERVER_ENV)

## test-ruby: the Ruby gem's tests (bindings/ruby)
test-ruby: lib server
	$(suite) $(WITH_REDIS) env -C bindings/ruby $(LIB_ENV) $(SERVER_ENV) ruby -Ilib -Itest test/run_all.rb

## test-faults: Redis and throttlekit-server killed, stalled and restarted mid-load, SCRIPT
## FLUSH, and a soak of SOAK_SECONDS (default 60), each with its own servers (tests/faults)
test-faults: lib server
	$(suite) $(MAKE) -C tests/faults run $(SERVER_ENV)

## nginx-module: build/nginx/ngx_http_throttlekit_module.so, built against Debian's nginx-dev
## sources; it dlopen()s libthrottlekit at run time (bindings/nginx)
.PHONY: nginx-module
nginx-module:
	bindings/nginx/build.sh

# The module as a file, for install: built when missing or older than its sources, never
# copied over while it is current (a running test's nginx may have it loaded).
$(NGINX_MODULE): $(wildcard bindings/nginx/*.c bindings/nginx/*.h) bindings/nginx/config
	bindings/nginx/build.sh

## test-packages: make deb and make gem, then the packages installed as users install them
## (dpkg -i, gem install, composer require from a path repository) and used with nothing
## from the build tree: the C example via pkg-config, the server by its systemd unit, nginx
## through the packaged snippet (a 429), Ruby, PHP (with ffi.preload); then dpkg --purge and
## nothing left; needs root (tests/packages)
test-packages: deb gem
	$(suite) $(WITH_REDIS) tests/packages/run.sh

## test-nginx: the module in a real nginx, against its own redis-server and throttlekit-server
test-nginx: nginx-module lib server
	$(suite) env $(LIB_ENV) $(SERVER_ENV) tests/nginx/run.sh

RUBY_ENV = $(LIB_ENV) $(SERVER_ENV)

## bench: Go benchmarks beside go-redis/redis_rate, then the C ABI beside the Go client,
## all on one local redis-server
bench: lib server build/capi_bench nginx-module
	REQUIRE_REDIS=1 $(WITH_REDIS) sh -c 'cd bench && $(GO) test -run "^$$" -bench . -benchmem . && $(GO) run ./capi -c ../build/capi_bench \
	  && cd .. && $(MAKE) -C bindings/php bench \
	  && $(RUBY_ENV) ruby -Ibindings/ruby/lib bindings/ruby/bench/bench.rb "$$THROTTLEKIT_REDIS_URL" 3 5 \
	  && THROTTLEKIT_LIB=$(abspath $(LIB))/libthrottlekit.so bindings/nginx/bench.sh'
	$(SERVER_ENV) $(MAKE) -C tests/faults run-soak SOAK_SECONDS=600

build/capi_bench: bench/c/capi_bench.c $(SHIM)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o $@ $< -L$(LIB) -Wl,-rpath,$(abspath $(LIB)) -lthrottlekit -lpthread

## deps: install, with apt-get, the Debian packages the tests and the demo need (as root)
deps:
	scripts/install-deps.sh

## demo: throttlekit-server and the C example, through the service door and the Redis door
demo: deps lib server
	$(MAKE) -C bindings/c-example
	scripts/demo.sh

## server: build/bin/throttlekit-server, the gRPC service door
server: $(SERVER_BIN)

# go build leaves an up-to-date binary untouched: touch it so make sees it is.
$(SERVER_BIN): $$(call go_files,$(SERVER_PKG))
	@mkdir -p $(@D)
	$(GO) build -o $@ $(SERVER_PKG)
	@touch $@

## demo-go: the same kind of tour from Go
demo-go:
	REQUIRE_REDIS=1 $(WITH_REDIS) $(GO) run ./examples/go-demo

## proto: regenerate contract/*.pb.go from contract/throttlekit.proto with the pinned generators
proto: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	$(call protoc,contract)

## proto-check: fail when the committed stubs differ from what `make proto` would write
proto-check: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	@rm -rf build/proto-check && mkdir -p build/proto-check
	$(call protoc,build/proto-check)
	@for f in throttlekit.pb.go throttlekit_grpc.pb.go; do \
	  diff -u -I '^// .*protoc' contract/$$f build/proto-check/$$f || \
	    { echo "contract/$$f is stale: run make proto and commit the result"; exit 1; }; \
	done
	@echo "proto-check: the committed stubs are current"

protoc = protoc -I contract \
	--plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go --go_out=$(1) --go_opt=paths=source_relative \
	--plugin=protoc-gen-go-grpc=$(TOOLS)/protoc-gen-go-grpc --go-grpc_out=$(1) --go-grpc_opt=paths=source_relative \
	contract/throttlekit.proto

$(TOOLS)/protoc-gen-go:
	GOBIN=$(abspath $(TOOLS)) $(GO) install $(PROTOC_GEN_GO)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(abspath $(TOOLS)) $(GO) install $(PROTOC_GEN_GO_GRPC)

## lib: build/lib/libthrottlekit.so (the C shim) and libthrottlekit-core.so (the Go core)
lib: $(SHIM) $(CORE) $(LIB)/libthrottlekit.so $(LIB)/pkgconfig/throttlekit.pc

$(CORE): $$(call go_files,$(CORE_PKG)) $(C_HEADERS)
	@mkdir -p $(LIB)
	CGO_CFLAGS="$(CORE_CGO_CFLAGS)" $(GO) build -buildmode=c-shared -trimpath \
		-ldflags='-extldflags=-Wl,-soname,$(CORE_SONAME)' -o $@ $(CORE_PKG)
	@rm -f $(LIB)/libthrottlekit-core.h
	@touch $@

$(SHIM): capi/throttlekit.c capi/headers.c capi/exports.map $(C_HEADERS)
	@mkdir -p $(LIB)
	$(CC) $(CFLAGS_C) -Iinclude -Icapi -shared -Wl,-soname,libthrottlekit.so.0 \
		-Wl,--version-script=capi/exports.map -o $@ capi/throttlekit.c capi/headers.c -ldl -lpthread

$(LIB)/libthrottlekit.so: $(SHIM)
	ln -sf libthrottlekit.so.0 $@

$(LIB)/pkgconfig/throttlekit.pc: capi/throttlekit.pc.in include/throttlekit.h
	@mkdir -p $(LIB)/pkgconfig
	$(call pc_file,$(abspath build),$(abspath build/include),$(abspath $(LIB))) > $@
	@mkdir -p build/include && cp include/throttlekit.h build/include/

# The pkg-config file for PREFIX, INCLUDEDIR, LIBDIR: -L and -l, never an rpath.
pc_file = sed -e 's|@PREFIX@|$(1)|' -e 's|@INCLUDEDIR@|$(2)|' -e 's|@LIBDIR@|$(3)|' -e 's|@VERSION@|$(VERSION)|' capi/throttlekit.pc.in

## install: the libraries (LIBDIR, the multiarch one by default), the header and the .pc
## file, throttlekit-server with its systemd unit, policy file and flags (SYSCONFDIR, kept
## when they exist), the nginx module and its load_module snippet, under
## $(DESTDIR)$(PREFIX); ldconfig runs when installing to the live root (no DESTDIR).
## WITH_NGINX=0 leaves the nginx module out (it needs Debian's nginx-dev to build)
WITH_NGINX  ?= 1
.PHONY: install uninstall
install: $(SHIM) $(CORE) $(SERVER_BIN) $(if $(filter 1,$(WITH_NGINX)),$(NGINX_MODULE))
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/throttlekit $(DESTDIR)$(SYSCONFDIR)/default \
	  $(if $(filter 1,$(WITH_NGINX)),$(DESTDIR)$(NGINX_MODULES_DIR) $(DESTDIR)$(NGINX_CONF_DIR))
	install -m 644 $(SHIM) $(CORE) $(DESTDIR)$(LIBDIR)/
	ln -sfn libthrottlekit.so.0 $(DESTDIR)$(LIBDIR)/libthrottlekit.so
	install -m 644 include/throttlekit.h $(DESTDIR)$(INCLUDEDIR)/
	$(call pc_file,$(PREFIX),$(INCLUDEDIR),$(LIBDIR)) > $(DESTDIR)$(LIBDIR)/pkgconfig/throttlekit.pc
	install -m 755 $(SERVER_BIN) $(DESTDIR)$(BINDIR)/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' packaging/systemd/throttlekit-server.service.in \
	  > $(DESTDIR)$(UNITDIR)/throttlekit-server.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/throttlekit/policies.yaml ] || \
	  install -m 644 packaging/etc/policies.yaml $(DESTDIR)$(SYSCONFDIR)/throttlekit/policies.yaml
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/throttlekit-server ] || \
	  install -m 644 packaging/etc/throttlekit-server.default $(DESTDIR)$(SYSCONFDIR)/default/throttlekit-server
ifeq ($(WITH_NGINX),1)
	install -m 644 $(NGINX_MODULE) $(DESTDIR)$(NGINX_MODULES_DIR)/
	sed -e 's|@NGINX_MODULES_DIR@|$(NGINX_MODULES_DIR)|' packaging/nginx/mod-http-throttlekit.conf.in \
	  > $(DESTDIR)$(NGINX_CONF_DIR)/mod-http-throttlekit.conf
endif
	$(if $(DESTDIR),,ldconfig)

## uninstall: what install put there, but a policy file or flags file that was edited
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libthrottlekit.so.0 $(DESTDIR)$(LIBDIR)/libthrottlekit-core.so \
	  $(DESTDIR)$(LIBDIR)/libthrottlekit.so $(DESTDIR)$(LIBDIR)/pkgconfig/throttlekit.pc \
	  $(DESTDIR)$(INCLUDEDIR)/throttlekit.h $(DESTDIR)$(BINDIR)/throttlekit-server \
	  $(DESTDIR)$(UNITDIR)/throttlekit-server.service \
	  $(DESTDIR)$(NGINX_MODULES_DIR)/ngx_http_throttlekit_module.so \
	  $(DESTDIR)$(NGINX_CONF_DIR)/mod-http-throttlekit.conf
	! cmp -s packaging/etc/policies.yaml $(DESTDIR)$(SYSCONFDIR)/throttlekit/policies.yaml || \
	  rm -f $(DESTDIR)$(SYSCONFDIR)/throttlekit/policies.yaml
	! cmp -s packaging/etc/throttlekit-server.default $(DESTDIR)$(SYSCONFDIR)/default/throttlekit-server || \
	  rm -f $(DESTDIR)$(SYSCONFDIR)/default/throttlekit-server
	-rmdir $(DESTDIR)$(SYSCONFDIR)/throttlekit 2>/dev/null
	$(if $(DESTDIR),,ldconfig)

# ---- Packages -----------------------------------------------------------------------------

# nfpm, pinned, installed under build/tools like the protoc generators.
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
DEB_ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || $(GO) env GOARCH)
DEB_DIR     := build/deb
DEB_STAGE   := build/pkgroot
# The ABI of the nginx the module is built against (Debian's nginx-dev sources say it).
NGINX_ABI   = $(shell sed -n 's/^nginx:abi=//p' $${NGINX_SRC:-/usr/share/nginx/src}/debian/libnginx-mod.abisubstvars 2>/dev/null)
DEB_PACKAGES := libthrottlekit0 libthrottlekit-dev throttlekit-server libnginx-mod-http-throttlekit
DEBS        := $(foreach p,$(DEB_PACKAGES),$(DEB_DIR)/$(p)_$(VERSION)_$(DEB_ARCH).deb)

## deb: build/deb/<package>_<version>_<arch>.deb for libthrottlekit0, libthrottlekit-dev,
## throttlekit-server and libnginx-mod-http-throttlekit (nfpm, packaging/nfpm/*.yaml), from
## `make install PREFIX=/usr DESTDIR=build/pkgroot`
.PHONY: deb deb-stage
deb: $(TOOLS)/nfpm deb-stage
	@[ -n "$(NGINX_ABI)" ] || { echo "deb: no nginx:abi= in Debian's nginx sources (apt-get install nginx-dev)"; exit 1; }
	@mkdir -p $(DEB_DIR)
	@rm -f $(DEB_DIR)/*.deb
	@for p in $(DEB_PACKAGES); do \
	  STAGE=$(abspath $(DEB_STAGE)) LIBDIR=/usr/lib/$(MULTIARCH) VERSION=$(VERSION) DEB_ARCH=$(DEB_ARCH) \
	  NGINX_ABI=$(NGINX_ABI) $(TOOLS)/nfpm pkg -p deb -f packaging/nfpm/$$p.yaml \
	    -t $(DEB_DIR)/$${p}_$(VERSION)_$(DEB_ARCH).deb >/dev/null || exit 1; \
	  echo "deb: $(DEB_DIR)/$${p}_$(VERSION)_$(DEB_ARCH).deb"; \
	done

deb-stage: $(SHIM) $(CORE) $(SERVER_BIN) $(NGINX_MODULE)
	rm -rf $(DEB_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_STAGE)) PREFIX=/usr SYSCONFDIR=/etc \
	  LIBDIR=/usr/lib/$(MULTIARCH) UNITDIR=/usr/lib/systemd/system >/dev/null
	strip --strip-unneeded $(DEB_STAGE)/usr/lib/$(MULTIARCH)/libthrottlekit.so.0 \
	  $(DEB_STAGE)/usr/lib/$(MULTIARCH)/libthrottlekit-core.so $(DEB_STAGE)/usr/bin/throttlekit-server \
	  $(DEB_STAGE)/usr/lib/nginx/modules/ngx_http_throttlekit_module.so

RPM_DIR      := build/rpm
RPM_STAGE    := build/pkgroot-rpm
RPM_PACKAGES := libthrottlekit0 libthrottlekit-dev throttlekit-server
## rpm: build/rpm/*.rpm of libthrottlekit0, libthrottlekit-dev and throttlekit-server from the
## same nfpm descriptions (LIBDIR=/usr/lib64; the nginx module is Debian's nginx ABI only)
.PHONY: rpm
rpm: $(TOOLS)/nfpm $(SHIM) $(CORE) $(SERVER_BIN)
	rm -rf $(RPM_STAGE) $(RPM_DIR) && mkdir -p $(RPM_DIR)
	$(MAKE) --no-print-directory install WITH_NGINX=0 DESTDIR=$(abspath $(RPM_STAGE)) PREFIX=/usr \
	  SYSCONFDIR=/etc LIBDIR=/usr/lib64 UNITDIR=/usr/lib/systemd/system >/dev/null
	strip --strip-unneeded $(RPM_STAGE)/usr/lib64/libthrottlekit.so.0 $(RPM_STAGE)/usr/lib64/libthrottlekit-core.so \
	  $(RPM_STAGE)/usr/bin/throttlekit-server
	@for p in $(RPM_PACKAGES); do \
	  STAGE=$(abspath $(RPM_STAGE)) LIBDIR=/usr/lib64 VERSION=$(VERSION) DEB_ARCH=$(DEB_ARCH) \
	  $(TOOLS)/nfpm pkg -p rpm -f packaging/nfpm/$$p.yaml -t $(RPM_DIR)/ >/dev/null || exit 1; \
	done
	@ls $(RPM_DIR)/*.rpm

$(TOOLS)/nfpm:
	GOBIN=$(abspath $(TOOLS)) $(GO) install $(NFPM)

GEM_DIR     := build/gem
## gem: build/gem/throttlekit-<version>.gem (any platform: it loads the system's
## libthrottlekit.so.0) and build/gem/throttlekit-<version>-<platform>.gem (it carries this
## build's libthrottlekit.so.0 and core in native/), from bindings/ruby
.PHONY: gem
gem: $(SHIM) $(CORE)
	@grep -q '"$(VERSION)"' bindings/ruby/lib/throttlekit/version.rb || \
	  { echo "gem: bindings/ruby/lib/throttlekit/version.rb is not $(VERSION) (include/throttlekit.h)"; exit 1; }
	rm -rf $(GEM_DIR) && mkdir -p $(GEM_DIR)/src/native
	cp -r bindings/ruby/lib bindings/ruby/README.md bindings/ruby/throttlekit.gemspec $(GEM_DIR)/src/
	cd $(GEM_DIR)/src && gem build --quiet throttlekit.gemspec && mv throttlekit-*.gem ..
	cp $(SHIM) $(CORE) $(GEM_DIR)/src/native/
	strip --strip-unneeded $(GEM_DIR)/src/native/*.so*
	cd $(GEM_DIR)/src && THROTTLEKIT_GEM_NATIVE=1 gem build --quiet throttlekit.gemspec && mv throttlekit-*.gem ..
	@ls $(GEM_DIR)/*.gem

## lint: lint-go, lint-c and lint-sh
lint: lint-go lint-c lint-sh

## lint-go: go vet, gofmt and staticcheck over both modules
lint-go:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l found unformatted files:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	cd bench && $(GO) run $(STATICCHECK) ./...

## lint-c: every tracked C file compiled (not linked) with -Wall -Wextra -Werror, but the nginx
## module's (bindings/nginx/build.sh builds it with nginx's flags, -Werror among them)
LINT_CFLAGS := -O2 -Wall -Wextra -Werror
lint-c:
	@scripts/lint-c.sh $(CC) -std=c11 $(LINT_CFLAGS)

## lint-sh: bash -n or sh -n, by shebang, on every tracked shell script
lint-sh:
	@scripts/lint-sh.sh

FORCE:

clean:
	rm -rf build bindings/php/build
	$(MAKE) -C tests/c clean
	$(MAKE) -C tests/faults clean
	$(MAKE) -C tests/scaleout clean
	$(MAKE) -C bindings/c-example clean
	$(GO) clean -testcache
