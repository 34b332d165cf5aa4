# ThrottleKit Go client core. `make demo` shows it working; `make test` proves it.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
WITH_REDIS  := scripts/with-redis.sh

CC          ?= cc
CFLAGS_C    := -std=c11 -O2 -g -fPIC -Wall -Wextra -Werror
PREFIX      ?= /usr/local
VERSION     := $(shell sed -n 's/^\#define TK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/throttlekit.h | paste -sd.)
LIB         := build/lib
SHIM        := $(LIB)/libthrottlekit.so.0
CORE        := $(LIB)/libthrottlekit-core.so
GO_SOURCES  := $(shell find . -name '*.go' -not -path './bench/*' -not -name '*_test.go') $(wildcard luascripts/*.lua luascripts/manifest.json) $(wildcard *.c capi/core.h) go.mod go.sum

# Pinned protobuf generators (protoc itself is Debian's protobuf-compiler).
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
TOOLS              := build/tools

.PHONY: all deps test test-ruby test-ruby-run bench demo demo-go lint clean lib install proto proto-check server

all: lint test

## test: every test, Go and C, against a throwaway redis-server (or $THROTTLEKIT_REDIS_URL)
test: deps lib server proto-check
	$(WITH_REDIS) sh -c '$(GO) test -race -count=1 ./... \
	  && THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server) $(MAKE) -C tests/c run \
	  && THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server) $(MAKE) -C bindings/php test \
	  && $(MAKE) test-ruby-run'
	$(MAKE) test-faults
	$(MAKE) test-nginx

## test-faults: Redis and throttlekit-server killed, stalled and restarted mid-load, SCRIPT
## FLUSH, and a soak of SOAK_SECONDS (default 60), each with its own servers (tests/faults)
.PHONY: test-faults
test-faults: lib server
	THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server) $(MAKE) -C tests/faults run

## nginx-module: build/nginx/ngx_http_throttlekit_module.so, built against Debian's nginx-dev
## sources; it dlopen()s libthrottlekit at run time (bindings/nginx)
.PHONY: nginx-module test-nginx
nginx-module:
	bindings/nginx/build.sh

## test-nginx: the module in a real nginx, against its own redis-server and throttlekit-server
test-nginx: nginx-module lib server
	THROTTLEKIT_LIB=$(abspath $(LIB))/libthrottlekit.so \
	  THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server) tests/nginx/run.sh

RUBY_ENV = THROTTLEKIT_LIB=$(abspath $(LIB))/libthrottlekit.so THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server)

## test-ruby: the Ruby gem alone, against a real Redis and a real server
test-ruby: lib server
	$(WITH_REDIS) $(MAKE) test-ruby-run

test-ruby-run:
	cd bindings/ruby && $(RUBY_ENV) ruby -Ilib -Itest test/run_all.rb

## bench: Go benchmarks beside go-redis/redis_rate, then the C ABI beside the Go client,
## all on one local redis-server
bench: lib server build/capi_bench nginx-module
	REQUIRE_REDIS=1 $(WITH_REDIS) sh -c 'cd bench && $(GO) test -run "^$$" -bench . -benchmem . && $(GO) run ./capi -c ../build/capi_bench \
	  && cd .. && $(MAKE) -C bindings/php bench \
	  && $(RUBY_ENV) ruby -Ibindings/ruby/lib bindings/ruby/bench/bench.rb "$$THROTTLEKIT_REDIS_URL" 3 5 \
	  && THROTTLEKIT_LIB=$(abspath $(LIB))/libthrottlekit.so bindings/nginx/bench.sh'
	THROTTLEKIT_SERVER=$(abspath build/bin/throttlekit-server) $(MAKE) -C tests/faults run-soak SOAK_SECONDS=600

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
server:
	@mkdir -p build/bin
	$(GO) build -o build/bin/throttlekit-server ./cmd/throttlekit-server

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

$(CORE): $(GO_SOURCES)
	@mkdir -p $(LIB)
	$(GO) build -buildmode=c-shared -trimpath -o $@ .
	@rm -f $(LIB)/libthrottlekit-core.h

$(SHIM): capi/throttlekit.c capi/core.h capi/exports.map include/throttlekit.h
	@mkdir -p $(LIB)
	$(CC) $(CFLAGS_C) -Iinclude -Icapi -shared -Wl,-soname,libthrottlekit.so.0 \
		-Wl,--version-script=capi/exports.map -o $@ capi/throttlekit.c -ldl -lpthread

$(LIB)/libthrottlekit.so: $(SHIM)
	ln -sf libthrottlekit.so.0 $@

$(LIB)/pkgconfig/throttlekit.pc: capi/throttlekit.pc.in include/throttlekit.h
	@mkdir -p $(LIB)/pkgconfig
	sed -e 's|@PREFIX@|$(abspath build)|' -e 's|@VERSION@|$(VERSION)|' $< > $@
	@mkdir -p build/include && cp include/throttlekit.h build/include/

## install: header, libraries and pkg-config file under $(PREFIX)
install: $(SHIM) $(CORE)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/throttlekit.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(SHIM) $(CORE) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libthrottlekit.so.0 $(DESTDIR)$(PREFIX)/lib/libthrottlekit.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' capi/throttlekit.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/throttlekit.pc

## lint: go vet, gofmt and staticcheck over both modules
lint:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l found unformatted files:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	cd bench && $(GO) run $(STATICCHECK) ./...

clean:
	rm -rf build bindings/php/build
	$(MAKE) -C tests/c clean
	$(MAKE) -C tests/faults clean
	$(MAKE) -C tests/scaleout clean
	$(MAKE) -C bindings/c-example clean
	$(GO) clean -testcache
