// Package testenv is the one test environment of every Go test: the Redis that `make test`
// starts (scripts/with-redis.sh exports THROTTLEKIT_REDIS_URL), and Redis servers that
// misbehave on purpose. Without a Redis, a test is skipped on a developer's machine and
// fails under CI=true, where a missing dependency must never pass silently.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points tests at a Redis.
const EnvURL = "THROTTLEKIT_REDIS_URL"

// URL returns the test Redis URL, or stops the test (skip locally, fail in CI).
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		Require(tb, EnvURL+" is not set: run `make test`, which starts a throwaway redis-server")
	}
	return url
}

// Client returns a plain go-redis client on the test Redis, for inspecting state.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("test redis at %s does not answer: %v", opts.Addr, err)
	}
	return c
}

// Namespace returns a fresh key namespace, so tests sharing one Redis never see each
// other's keys.
func Namespace(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "tktest-" + hex.EncodeToString(b[:])
}

// Require skips the test (or fails it under CI=true) because a dependency is missing.
func Require(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("missing test dependency under CI: %s", why)
	}
	tb.Skipf("skipped: %s", why)
}
