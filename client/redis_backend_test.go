package client_test

import (
	"errors"
	"fmt"
	"math/rand"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

const allPolicies = `
limiters:
  gcra:   { strategy: gcra, limit: 10, period: 1s, burst: 5 }
  bucket: { strategy: tokenBucket, capacity: 10, refillPerSec: 5 }
  fixed:  { strategy: fixedWindow, limit: 1000, windowMs: 1m }
  slide:  { strategy: slidingWindow, limit: 10, windowMs: 1s, buckets: 10 }
  log:    { strategy: slidingWindowLog, limit: 5, windowMs: 1s }
  llm:
    tokenBudget: { budget: 100, windowMs: 1m }
  later:  { fairEscrow: { capacity: 100 } }
`

func TestBadInputGetsTypedErrors(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	const now = 1_700_000_000_000
	huge := strings.Repeat("k", 5*1024)
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"cost -1", func() error { _, err := b.CheckAt(ctx, "gcra", "k", -1, now); return err }, client.ErrInvalidArgument},
		{"cost 2^53", func() error { _, err := b.CheckAt(ctx, "gcra", "k", 1<<53, now); return err }, client.ErrInvalidArgument},
		{"cost max int64", func() error { _, err := b.Check(ctx, "gcra", "k", 1<<63-1); return err }, client.ErrInvalidArgument},
		{"tokens -5", func() error { _, err := b.DebitAt(ctx, "llm", "k", -5, now); return err }, client.ErrInvalidArgument},
		{"forecast cost -1", func() error { _, err := b.ForecastAt(ctx, "gcra", "k", -1, now); return err }, client.ErrInvalidArgument},
		{"explicit now 0", func() error { _, err := b.CheckAt(ctx, "gcra", "k", 1, 0); return err }, client.ErrInvalidArgument},
		{"explicit now -1", func() error { _, err := b.PeekAt(ctx, "gcra", "k", -1); return err }, client.ErrInvalidArgument},
		{"empty policy", func() error { _, err := b.Check(ctx, "", "k", 1); return err }, client.ErrInvalidArgument},
		{"unknown policy", func() error { _, err := b.Check(ctx, "nope", "k", 1); return err }, client.ErrPolicyNotFound},
		{"5 KB key", func() error { _, err := b.Check(ctx, "gcra", huge, 1); return err }, client.ErrInvalidArgument},
		{"NUL in key", func() error { _, err := b.Check(ctx, "gcra", "a\x00b", 1); return err }, client.ErrInvalidArgument},
		{"5 KB key in a batch", func() error { _, err := b.CheckMany(ctx, "gcra", []string{"a", huge}, 1); return err }, client.ErrInvalidArgument},
		{"debit on a limiter", func() error { _, err := b.Debit(ctx, "gcra", "k", 1); return err }, client.ErrUnsupported},
		{"check on a meter", func() error { _, err := b.Check(ctx, "llm", "k", 1); return err }, client.ErrUnsupported},
		{"check many on a meter", func() error { _, err := b.CheckMany(ctx, "llm", []string{"k"}, 1); return err }, client.ErrUnsupported},
		{"forecast on a meter", func() error { _, err := b.Forecast(ctx, "llm", "k", 1); return err }, client.ErrUnsupported},
		{"unsupported feature", func() error { _, err := b.Check(ctx, "later", "k", 1); return err }, client.ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error matching %v", err, c.want)
			}
			if len(err.Error()) == 0 || len(err.Error()) > 512 {
				t.Errorf("message of %d bytes: %.100q", len(err.Error()), err.Error())
			}
		})
	}
}

func TestErrorMessagesSayWhat(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	_, err := b.Check(ctx, "nope", "k", 1)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "gcra") {
		t.Errorf("unknown policy message should name it and list the configured ones: %v", err)
	}
	_, err = b.Check(ctx, "later", "k", 1)
	if err == nil || !strings.Contains(err.Error(), "fairEscrow") {
		t.Errorf("unsupported message should name the feature: %v", err)
	}
}

func TestBadPoliciesAreConfigErrors(t *testing.T) {
	for _, yaml := range []string{
		"limiters: {a: {strategy: gcra, limit: 10, period: 1s, burst: -3}}",
		"limiters: {a: {strategy: slidingWindow, limit: 10, windowMs: 1s, buckets: 1.5}}",
		"limiters: {a: {strategy: fixedWindow, limit: 10, period: 1.0005s}}",
		"limiters: {a: {strategy: fixedWindow, limit: 0, period: 1s}}",
		"limiters: [",
	} {
		_, err := client.OpenRedis(testenv.URL(t), []byte(yaml), client.RedisOptions{}, client.ConnectOptions{})
		if !errors.Is(err, client.ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", yaml, err)
		}
	}
}

func TestPeekAndDebitOnAMeter(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	const now = 1_700_000_000_000
	if _, err := b.DebitAt(ctx, "llm", "u", 30, now); err != nil {
		t.Fatal(err)
	}
	d, err := b.PeekAt(ctx, "llm", "u", now)
	if err != nil || !d.Allowed || d.Remaining != 70 || d.Limit != 100 {
		t.Fatalf("peek on a meter: %s, %v", show(d), err)
	}
}

// The default clock is Redis's own: decisions come back relative to its TIME.
func TestRedisClockByDefault(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	before, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.Check(ctx, "fixed", "clock", 1)
	if err != nil {
		t.Fatal(err)
	}
	windowEnd := (before.UnixMilli()/60000 + 1) * 60000
	if !d.Allowed || (d.ResetAt != windowEnd && d.ResetAt != windowEnd+60000) {
		t.Fatalf("check at the Redis clock %d: %s (window should end at %d)", before.UnixMilli(), show(d), windowEnd)
	}
	ds, err := b.CheckMany(ctx, "fixed", []string{"clock", "clock"}, 1)
	if err != nil || len(ds) != 2 || ds[1].Remaining != ds[0].Remaining-1 || ds[0].ResetAt != ds[1].ResetAt {
		t.Fatalf("check many at the Redis clock: %v, %v", ds, err)
	}
}

// After SCRIPT FLUSH (a restart or failover looks the same) the next call succeeds anyway.
func TestNoScriptRecovery(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	const now = 1_700_000_000_000
	if _, err := b.CheckAt(ctx, "gcra", "k", 1, now); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := b.CheckAt(ctx, "gcra", "k", 1, now)
	if err != nil || !d.Allowed || d.Remaining != 3 {
		t.Fatalf("check after SCRIPT FLUSH: %s, %v", show(d), err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ds, err := b.CheckManyAt(ctx, "gcra", []string{"k", "k", "other"}, 1, now)
	if err != nil {
		t.Fatalf("check many after SCRIPT FLUSH: %v", err)
	}
	if got := []int64{ds[0].Remaining, ds[1].Remaining, ds[2].Remaining}; !slices.Equal(got, []int64{2, 1, 4}) {
		t.Fatalf("check many after SCRIPT FLUSH: remaining %v, want [2 1 4]", got)
	}
}

// Every key a script writes carries a TTL: nothing a limiter stores lives forever.
func TestEveryWrittenKeyHasATTL(t *testing.T) {
	b, ns := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	now := int64(1_700_000_000_000)
	for i := 0; i < 30; i++ {
		now += int64(i * 37)
		for _, p := range []string{"gcra", "bucket", "fixed", "slide", "log"} {
			if _, err := b.CheckAt(ctx, p, "ttl", int64(1+i%3), now); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		if _, err := b.DebitAt(ctx, "llm", "ttl", 7, now); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, ns+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Fatalf("expected 6 keys, found %v", keys)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("%s: PTTL %v, %v", k, ttl, err)
		}
	}
}

// 16 goroutines race 20,000 checks into a fixedWindow of 1,000 at one instant: each script
// runs atomically in Redis, so exactly 1,000 pass.
func TestConcurrentChecksAdmitExactlyTheLimit(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	const now = 1_700_000_000_000
	var admitted, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000/16; i++ {
				d, err := b.CheckAt(ctx, "fixed", "race", 1, now)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					denied.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if admitted.Load() != 1000 || denied.Load() != 19000 {
		t.Fatalf("admitted %d, denied %d; want exactly 1000 and 19000", admitted.Load(), denied.Load())
	}
}

// CheckMany over 1,000 keys (duplicates included) equals the same checks made one by one at
// the same instant, for every strategy. The windows are long because Redis expires keys in
// real time even under an explicit clock: state must outlive the 1,000 one-by-one checks.
func TestCheckManyEqualsChecksOneByOne(t *testing.T) {
	const slowPolicies = `
limiters:
  gcra:   { strategy: gcra, limit: 10, period: 1h, burst: 5 }
  bucket: { strategy: tokenBucket, capacity: 10, refillPerSec: 0.01 }
  fixed:  { strategy: fixedWindow, limit: 7, windowMs: 1h }
  slide:  { strategy: slidingWindow, limit: 10, windowMs: 1h, buckets: 10 }
  log:    { strategy: slidingWindowLog, limit: 5, windowMs: 1h }
`
	batch, _ := openBackend(t, slowPolicies)
	single, _ := openBackend(t, slowPolicies)
	rng := rand.New(rand.NewSource(7))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", rng.Intn(300))
	}
	now := int64(1_700_000_000_000)
	for _, p := range []string{"gcra", "bucket", "fixed", "slide", "log"} {
		for round := 0; round < 3; round++ {
			at := now + int64(round*150)
			got, err := batch.CheckManyAt(ctx, p, keys, 2, at)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(got) != len(keys) {
				t.Fatalf("%s: %d decisions for %d keys", p, len(got), len(keys))
			}
			for i, k := range keys {
				want, err := single.CheckAt(ctx, p, k, 2, at)
				if err != nil {
					t.Fatal(err)
				}
				if got[i] != want {
					t.Fatalf("%s round %d, keys[%d]=%s: batch %s, one by one %s", p, round, i, k, show(got[i]), show(want))
				}
			}
		}
	}
	if ds, err := batch.CheckMany(ctx, "gcra", nil, 1); err != nil || len(ds) != 0 {
		t.Fatalf("empty batch: %v, %v", ds, err)
	}
}

// A logic fault in the store (a key of the wrong type) is internal, never "unavailable".
func TestWrongTypeIsInternal(t *testing.T) {
	b, ns := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	if err := rdb.Set(ctx, ns+":fixed:wrong", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := b.CheckAt(ctx, "fixed", "wrong", 1, 1_700_000_000_000)
	if !errors.Is(err, client.ErrInternal) {
		t.Fatalf("got %v, want ErrInternal", err)
	}
}

// A Redis that is not there costs at most the timeout and answers unavailable; open itself
// does not need it.
func TestDeadRedisIsUnavailableWithinTheTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now

	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("open must not need the backend: %v", err)
	}
	defer b.Close()
	start := time.Now()
	_, err = b.Check(ctx, "gcra", "k", 1)
	if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("got %v, want unavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a dead Redis took %v (timeout 200ms)", d)
	}
}

// A Redis that accepts but never answers is a timeout, bounded by the call's deadline.
func TestSilentRedisTimesOut(t *testing.T) {
	addr := testenv.SilentRedis(t)
	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	_, err = b.Check(ctx, "gcra", "k", 1)
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a silent Redis took %v (timeout 150ms)", d)
	}
}

func TestClosedBackend(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Check(ctx, "gcra", "k", 1); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("check after close: %v", err)
	}
}

// One round trip per check: each Check is exactly one EVALSHA (no EVAL, no extra command
// before it). Counted from Redis's own command statistics.
func TestOneRoundTripPerCheck(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	if _, err := b.Check(ctx, "gcra", "warm", 1); err != nil { // loads the script once
		t.Fatal(err)
	}
	before := scriptCalls(t, rdb)
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := b.Check(ctx, "gcra", fmt.Sprintf("rt-%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	after := scriptCalls(t, rdb)
	if got := after["evalsha"] - before["evalsha"]; got != n {
		t.Errorf("%d checks made %d EVALSHA calls", n, got)
	}
	if got := after["eval"] - before["eval"]; got != 0 {
		t.Errorf("%d checks sent the script text %d times", n, got)
	}
}

func scriptCalls(t *testing.T, rdb *redis.Client) map[string]int64 {
	t.Helper()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(n, 10, 64)
	}
	return calls
}

// A policy set swapped in takes effect for the next call; a bad one is refused whole.
func TestSetPolicies(t *testing.T) {
	b, _ := openBackend(t, allPolicies)
	next, err := client.ParsePolicies([]byte("limiters:\n  fresh: { strategy: fixedWindow, limit: 2, period: 1s }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetPolicies(next); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Check(ctx, "gcra", "k", 1); !errors.Is(err, client.ErrPolicyNotFound) {
		t.Fatalf("old policy after swap: %v", err)
	}
	if d, err := b.CheckAt(ctx, "fresh", "k", 1, 1_700_000_000_000); err != nil || !d.Allowed || d.Limit != 2 {
		t.Fatalf("new policy after swap: %s, %v", show(d), err)
	}
	if _, err := client.ParsePolicies([]byte("limiters: {x: {strategy: nope}}")); !errors.Is(err, client.ErrConfig) {
		t.Fatalf("bad set: %v", err)
	}
}
