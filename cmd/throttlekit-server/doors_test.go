package main

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

const doorPolicies = `
limiters:
  api:   { strategy: gcra, limit: 5, period: 1m, burst: 5 } # slow refill: a loaded machine must not refill a cell mid-test
  slow:  { strategy: fixedWindow, limit: 6, windowMs: 1h }
  llm:
    tokenBudget: { budget: 100, windowMs: 1h }
`

// Every operation through the Go ServiceBackend against the binary, on both stores.
func TestServiceBackendAgainstTheServer(t *testing.T) {
	stores := map[string]func(t *testing.T) []string{
		"memory": func(*testing.T) []string { return nil },
		"redis": func(t *testing.T) []string {
			return []string{"--redis", testenv.URL(t), "--redis-prefix", testenv.Namespace(t)}
		},
	}
	for name, storeArgs := range stores {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0"}, storeArgs(t)...)
			p := launch(t, args...)
			b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := callCtx(t)

			// A cold burst admits exactly burst, then denies with a retry hint.
			for i := int64(1); i <= 5; i++ {
				d, err := b.Check(ctx, "api", "alice", 1)
				if err != nil || !d.Allowed || d.Remaining != 5-i || d.Limit != 5 || d.Synthesized {
					t.Fatalf("check %d: %+v, %v", i, d, err)
				}
			}
			d, err := b.Check(ctx, "api", "alice", 1)
			if err != nil || d.Allowed || d.RetryAfterMs <= 0 || d.ResetAt <= 0 {
				t.Fatalf("sixth check: %+v, %v", d, err)
			}
			if d, err := b.Check(ctx, "api", "bob", 0); err != nil || !d.Allowed || d.Remaining != 4 {
				t.Fatalf("an independent key, cost 0 = 1: %+v, %v", d, err)
			}

			// CheckMany: input order, duplicates in order, the empty list.
			ds, err := b.CheckMany(ctx, "slow", []string{"x", "y", "x", "x"}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := []int64{ds[0].Remaining, ds[1].Remaining, ds[2].Remaining, ds[3].Remaining}; !slices.Equal(got, []int64{4, 4, 2, 0}) {
				t.Fatalf("check many remaining %v, want [4 4 2 0]", got)
			}
			if ds, err := b.CheckMany(ctx, "slow", nil, 1); err != nil || len(ds) != 0 {
				t.Fatalf("empty check many: %v, %v", ds, err)
			}

			// Peek consumes nothing; Forecast.
			for i := 0; i < 2; i++ {
				if d, err := b.Peek(ctx, "slow", "y"); err != nil || d.Remaining != 4 {
					t.Fatalf("peek %d: %+v, %v", i, d, err)
				}
			}
			if f, err := b.Forecast(ctx, "slow", "y", 2); err != nil || f.SpendableNow != 2 || f.FullAt <= 0 {
				t.Fatalf("forecast: %+v, %v", f, err)
			}

			// A meter: Debit and Peek; the operations that do not apply.
			if d, err := b.Debit(ctx, "llm", "team", 30); err != nil || !d.Allowed || d.Remaining != 70 {
				t.Fatalf("debit: %+v, %v", d, err)
			}
			if d, err := b.Peek(ctx, "llm", "team"); err != nil || d.Remaining != 70 {
				t.Fatalf("budget peek: %+v, %v", d, err)
			}
			if _, err := b.Debit(ctx, "api", "alice", 1); !errors.Is(err, client.ErrUnsupported) {
				t.Fatalf("debit on a limiter: %v", err)
			}
			if _, err := b.Check(ctx, "llm", "team", 1); !errors.Is(err, client.ErrUnsupported) {
				t.Fatalf("check on a meter: %v", err)
			}
			if _, err := b.Check(ctx, "nope", "k", 1); !errors.Is(err, client.ErrPolicyNotFound) {
				t.Fatalf("unknown policy: %v", err)
			}
			if _, err := b.Check(ctx, "api", "k", 1<<53); !errors.Is(err, client.ErrInvalidArgument) {
				t.Fatalf("absurd cost: %v", err)
			}
			p.stop(t)
		})
	}
}

// One policy through the Redis door and the service door against one Redis, interleaved on
// one key: one limiter, as if a single client had made every call.
func TestBothDoorsShareOneLimiter(t *testing.T) {
	ns := testenv.Namespace(t)
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", testenv.URL(t), "--redis-prefix", ns)
	service, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	direct, err := client.OpenRedis(testenv.URL(t), []byte(doorPolicies), client.RedisOptions{Namespace: ns}, client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	ctx := callCtx(t)

	doors := []client.Limiter{service, direct}
	for i := int64(0); i < 8; i++ {
		d, err := doors[i%2].Check(ctx, "slow", "shared", 1)
		if err != nil {
			t.Fatal(err)
		}
		want := client.Decision{Allowed: i < 6, Limit: 6, Remaining: max(0, 5-i), ResetAt: d.ResetAt, RetryAfterMs: d.RetryAfterMs, WindowMs: 3_600_000}
		if d != want || (i >= 6) != (d.RetryAfterMs > 0) {
			t.Fatalf("call %d through door %d: %+v, want %+v", i, i%2, d, want)
		}
	}
	p.stop(t)
}

// The server's Redis store on a Redis Cluster, through the same URL grammar: a burst over
// keys that land on every master, and CheckMany across them, through the Go ServiceBackend.
func TestServerOnRedisCluster(t *testing.T) {
	cluster := rediscluster.StartCluster(t, 3, 0)
	cluster.WaitHealthy(t, 30*time.Second)
	ns := testenv.Namespace(t)
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", cluster.URL(), "--redis-prefix", ns)
	b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := callCtx(t)

	// Keys whose slots fall on each of the three masters.
	var keys []string
	owners := map[string]bool{}
	for i := 0; len(owners) < 3 && i < 1000; i++ {
		k := "user-" + strconv.Itoa(i)
		owner := cluster.Owner(t, rediscluster.Slot(ns+":slow:"+k)).Addr
		if !owners[owner] {
			owners[owner] = true
			keys = append(keys, k)
		}
	}
	if len(owners) != 3 {
		t.Fatalf("found keys on %d masters, want 3", len(owners))
	}
	for _, k := range keys {
		for i := int64(1); i <= 6; i++ {
			d, err := b.Check(ctx, "slow", k, 1)
			if err != nil || d.Allowed != (i <= 6) || d.Remaining != 6-i {
				t.Fatalf("%s check %d: %+v, %v", k, i, d, err)
			}
		}
	}
	ds, err := b.CheckMany(ctx, "slow", append(keys, keys...), 1)
	if err != nil || len(ds) != 2*len(keys) {
		t.Fatalf("check many across the masters: %v, %v", ds, err)
	}
	for i, d := range ds {
		if d.Allowed || d.Remaining != 0 {
			t.Fatalf("check many [%d]: %+v, want a denial (every key is spent)", i, d)
		}
	}
	p.stop(t)
}
