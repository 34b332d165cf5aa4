# ThrottleKit Go client core. `make demo` shows it working; `make test` proves it.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
WITH_REDIS  := scripts/with-redis.sh

.PHONY: all test bench demo lint clean

all: lint test

## test: every test, against a throwaway redis-server (or $THROTTLEKIT_REDIS_URL)
test:
	$(WITH_REDIS) $(GO) test -race -count=1 ./...

## bench: Go benchmarks beside go-redis/redis_rate on one local redis-server
bench:
	REQUIRE_REDIS=1 $(WITH_REDIS) sh -c 'cd bench && $(GO) test -run "^$$" -bench . -benchmem .'

## demo: a few decisions from a throwaway local redis-server, explained
demo:
	REQUIRE_REDIS=1 $(WITH_REDIS) $(GO) run ./examples/go-demo

## lint: go vet, gofmt and staticcheck over both modules
lint:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l found unformatted files:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	cd bench && $(GO) run $(STATICCHECK) ./...

clean:
	rm -rf build
	$(GO) clean -testcache
