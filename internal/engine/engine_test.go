package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// fakeClock is an engine clock a test moves by hand.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(ms)
	return c
}

func (c *fakeClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// 16 goroutines race 20,000 checks into a fixed window of 1,000 at one instant: exactly
// 1,000 pass, and each admitted check saw a different count (remaining 999 down to 0), as
// Redis's single thread would have it.
func TestEngineConcurrentChecksAdmitExactlyTheLimit(t *testing.T) {
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 1000, windowMs: 3600000 }\n", engine.Options{})
	const workers, total = 16, 20_000
	const at = int64(1_700_000_010_000)
	var admitted atomic.Int64
	var seen [1000]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/workers; i++ {
				d, err := b.CheckAt(ctx, "p", "hot", 1, at)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
					seen[d.Remaining].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := admitted.Load(); n != 1000 {
		t.Fatalf("admitted %d checks, want exactly 1000", n)
	}
	for r := range seen {
		if n := seen[r].Load(); n != 1 {
			t.Fatalf("remaining=%d was reported %d times, want once", r, n)
		}
	}
}

// TTLs run on the engine's clock, not on the call's explicit now; an expired key reads as
// absent (and is reclaimed when touched), and the sweep reclaims keys nobody touches.
func TestEngineTTLsRunOnTheEngineClock(t *testing.T) {
	clock := newFakeClock(1_800_000_000_000)
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 2, windowMs: 1000 }\n",
		engine.Options{Clock: clock.now, SweepInterval: time.Hour})
	key := "p:k"
	// Explicit now 300 ms into a window: the script sets PEXPIRE ceil(R - N) = 700 ms.
	if d, err := b.CheckAt(ctx, "p", "k", 1, 1_700_000_000_300); err != nil || !d.Allowed {
		t.Fatalf("CheckAt: %+v %v", d, err)
	}
	if d := b.DumpForTest(key); d.Type != "hash" || d.TTLMs != 700 {
		t.Fatalf("after the check: %+v, want a hash with 700 ms to live on the engine clock", d)
	}
	clock.advance(700 * time.Millisecond)
	if d := b.DumpForTest(key); d.TTLMs != 0 {
		t.Fatalf("at its last millisecond the key lives on (Redis's rule): %+v", d)
	}
	clock.advance(time.Millisecond)
	if d := b.DumpForTest(key); d.Type != "none" {
		t.Fatalf("past its TTL: %+v, want none", d)
	}
	if s := b.Stats(); s.LiveKeys != 1 || s.Expired != 0 {
		t.Fatalf("before anyone touches it the expired key is still held: %+v", s)
	}
	// The same window, by the explicit clock: the expired state is gone, so the count restarts.
	d, err := b.CheckAt(ctx, "p", "k", 2, 1_700_000_000_400)
	if err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("CheckAt after expiry: %+v %v, want a fresh window", d, err)
	}
	if s := b.Stats(); s.LiveKeys != 1 || s.Expired != 1 {
		t.Fatalf("touching the expired key reclaims it: %+v", s)
	}

	// Keys nobody touches again: the sweep takes them.
	for i := 0; i < 500; i++ {
		if _, err := b.CheckAt(ctx, "p", fmt.Sprint("idle-", i), 1, 1_700_000_000_900); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(time.Second)
	b.SweepForTest(time.Second)
	if s := b.Stats(); s.LiveKeys != 0 || s.Expired != 502 {
		t.Fatalf("after a sweep: %+v, want no live key and 502 expired", s)
	}
}

// Without an explicit now, the scripts read TIME, which is the engine's clock.
func TestEngineClockServesTime(t *testing.T) {
	clock := newFakeClock(1_700_000_000_250)
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 2, windowMs: 1000 }\n",
		engine.Options{Clock: clock.now})
	d, err := b.Check(ctx, "p", "k", 1)
	if err != nil || !d.Allowed || d.ResetAt != 1_700_000_001_000 {
		t.Fatalf("Check: %+v %v, want resetAt 1700000001000", d, err)
	}
	clock.advance(time.Second)
	ds, err := b.CheckMany(ctx, "p", []string{"a", "b", "a"}, 1)
	if err != nil || len(ds) != 3 || ds[0].ResetAt != 1_700_000_002_000 || ds[2].Remaining != 0 {
		t.Fatalf("CheckMany: %+v %v", ds, err)
	}
	got, err := b.EvalForTest(ctx, `return redis.call('TIME')`, nil)
	if err != nil || fmt.Sprint(got) != "[1700000001 250000]" {
		t.Fatalf("TIME: %v %v", got, err)
	}
}

// Past MaxKeys the engine evicts: the live count never passes the cap after a call, and
// every eviction is counted.
func TestEngineMaxKeysEvicts(t *testing.T) {
	b := openEngine(t, "limiters:\n  p: { strategy: gcra, limit: 10, period: 1h }\n",
		engine.Options{MaxKeys: 100})
	for i := 0; i < 1000; i++ {
		if _, err := b.CheckAt(ctx, "p", fmt.Sprint("k", i), 1, 1_700_000_000_000+int64(i)); err != nil {
			t.Fatal(err)
		}
		if s := b.Stats(); s.LiveKeys > 100 {
			t.Fatalf("after %d keys: %+v, want at most 100 live", i+1, s)
		}
	}
	s := b.Stats()
	if s.LiveKeys != 100 || s.Evictions != 900 || s.Expired != 0 {
		t.Fatalf("stats %+v, want 100 live, 900 evictions", s)
	}
	if n := len(b.KeysForTest()); n != 100 {
		t.Fatalf("%d keys held, want 100", n)
	}
}

// What the shim does not implement fails loudly, by name, as front.ErrInternal; so do wrong
// types, a script touching another key than KEYS[1], and Lua errors.
func TestEngineShimErrors(t *testing.T) {
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 2, windowMs: 1000 }\n", engine.Options{})
	k := []string{"p:k"}
	cases := []struct {
		name, src string
		keys      []string
		want      string
	}{
		{"unsupported command", `return redis.call('FLUSHALL')`, k, `command "FLUSHALL" is not supported by the embedded engine`},
		{"unsupported lower case", `return redis.call('lpush', KEYS[1], 'x')`, k, `command "lpush" is not supported`},
		{"unsupported SET option", `return redis.call('SET', KEYS[1], 'v', 'NX')`, k, `option "NX" of SET is not supported`},
		{"unsupported ZADD option", `return redis.call('ZADD', KEYS[1], 'GT', 1, 'm')`, k, `option "GT" of ZADD is not supported`},
		{"unsupported PEXPIRE option", `return redis.call('PEXPIRE', KEYS[1], 10, 'XX')`, k, `option "XX" of PEXPIRE is not supported`},
		{"unsupported ZRANGE form", `return redis.call('ZRANGE', KEYS[1], 0, 1, 'BYSCORE')`, k, `option "BYSCORE" of ZRANGE is not supported`},
		{"another key", `return redis.call('GET', 'p:other')`, k, `may only touch its KEYS, one per command; GET named "p:other"`},
		{"another key in DEL", `return redis.call('DEL', KEYS[1], 'p:other')`, k, `DEL named "p:other"`},
		{"no key at all", `return redis.call('GET', 'p:k')`, nil, `may only touch its KEYS`},
		{"wrong type", `redis.call('SET', KEYS[1], 'v') return redis.call('HGET', KEYS[1], 'f')`, k,
			"WRONGTYPE Operation against a key holding the wrong kind of value"},
		{"arity", `return redis.call('GET')`, k, "Wrong number of args calling Redis command from script"},
		{"bad argument", `return redis.call('GET', {})`, k, "arguments must be strings or integers"},
		{"runtime error", `local t = nil return t.x`, k, "probe:1:"},
		{"error()", `error('boom')`, k, "probe:1: boom"},
		{"global write", `x = 1`, k, "Attempt to modify a readonly table"},
		{"missing global", `return os.time()`, k, "nonexistent global variable 'os'"},
		{"syntax", `return (`, k, "probe"},
		{"nil reply", `return nil`, k, "returned nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := b.EvalForTest(ctx, c.src, c.keys)
			if !errors.Is(err, front.ErrInternal) {
				t.Fatalf("got %v, %v; want front.ErrInternal", got, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
	// redis.pcall hands the error to the script instead.
	got, err := b.EvalForTest(ctx, `return redis.pcall('FLUSHALL').err`, k)
	if err != nil || !strings.Contains(fmt.Sprint(got), `"FLUSHALL" is not supported`) {
		t.Fatalf("pcall: %v %v", got, err)
	}
	// A raised redis.call error says where in the script it happened.
	_, err = b.EvalForTest(ctx, "local a = 1\nreturn redis.call('NOPE')", k)
	if err == nil || !strings.Contains(err.Error(), "(at probe:2)") {
		t.Fatalf("position: %v", err)
	}
	// Through the front: a decision on a key holding another type.
	if _, err := b.EvalForTest(ctx, `return redis.call('SET', KEYS[1], 'x')`, k); err != nil {
		t.Fatal(err)
	}
	_, err = b.CheckAt(ctx, "p", "k", 1, 1_700_000_000_000)
	if !errors.Is(err, front.ErrInternal) || !strings.Contains(err.Error(), "fixedWindow.check") ||
		!strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("CheckAt on a string key: %v", err)
	}
	// A failed run leaves the engine serving.
	if d, err := b.CheckAt(ctx, "p", "fresh", 1, 1_700_000_000_000); err != nil || !d.Allowed {
		t.Fatalf("after errors: %+v %v", d, err)
	}
}

// Contexts: done before the call, a timeout; a deadline stops a script that has not
// written yet, never one that has (Redis's rule for killing a script).
func TestEngineContexts(t *testing.T) {
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 2, windowMs: 1000 }\n", engine.Options{})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.CheckAt(canceled, "p", "k", 1, 1_700_000_000_000); !errors.Is(err, front.ErrTimeout) {
		t.Fatalf("canceled: %v", err)
	}
	past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, err := b.CheckManyAt(past, "p", []string{"a"}, 1, 1_700_000_000_000); !errors.Is(err, front.ErrTimeout) {
		t.Fatalf("deadline passed: %v", err)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.EvalForTest(short, `while true do end`, []string{"p:spin"})
	if !errors.Is(err, front.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("runaway script: %v after %v", err, time.Since(start))
	}

	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	got, err := b.EvalForTest(short2, `
redis.call('SET', KEYS[1], 'written')
local i = 0
while i < 2000000 do i = i + 1 end
redis.call('PEXPIRE', KEYS[1], 60000)
return i`, []string{"p:atomic"})
	if err != nil || got != int64(2000000) {
		t.Fatalf("a script that wrote must finish: %v %v", got, err)
	}
	if d := b.DumpForTest("p:atomic"); d.String != "written" || d.TTLMs <= 0 {
		t.Fatalf("state after the uninterrupted script: %+v", d)
	}
	// The engine keeps serving after an interrupted script.
	if d, err := b.CheckAt(ctx, "p", "k", 1, 1_700_000_000_000); err != nil || !d.Allowed {
		t.Fatalf("after the interruption: %+v %v", d, err)
	}
}

func TestEngineCloseAndOptions(t *testing.T) {
	eb, err := engine.Open([]byte("limiters:\n  p: { strategy: gcra, limit: 2, period: 1s }\n"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := wrap(eb)
	if _, err := b.CheckAt(ctx, "p", "k", 1, 1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.CheckAt(ctx, "p", "k", 1, 1_700_000_000_000); !errors.Is(err, front.ErrUnavailable) {
		t.Fatalf("after Close: %v", err)
	}
	if s := b.Stats(); s.LiveKeys != 0 {
		t.Fatalf("after Close: %+v", s)
	}

	if _, err := engine.Open([]byte("limiters:\n  p: { strategy: nope }\n"), engine.Options{}); !errors.Is(err, front.ErrConfig) {
		t.Fatalf("bad policies: %v", err)
	}
	if _, err := engine.Open([]byte("limiters:\n  p: { strategy: gcra, limit: 2, period: 1s }\n"), engine.Options{MaxKeys: -1}); !errors.Is(err, front.ErrInvalidArgument) {
		t.Fatalf("negative MaxKeys: %v", err)
	}
	if _, err := engine.New(nil, engine.Options{}); !errors.Is(err, front.ErrInvalidArgument) {
		t.Fatalf("nil policies: %v", err)
	}
	// The front's validation is the Redis door's.
	b2 := openEngine(t, "limiters:\n  p: { strategy: gcra, limit: 2, period: 1s }\n", engine.Options{})
	for _, c := range []struct {
		err  error
		kind error
	}{
		{func() error { _, e := b2.Check(ctx, "p", "k", -1); return e }(), front.ErrInvalidArgument},
		{func() error { _, e := b2.Check(ctx, "nope", "k", 1); return e }(), front.ErrPolicyNotFound},
		{func() error { _, e := b2.Debit(ctx, "p", "k", 1); return e }(), front.ErrUnsupported},
		{func() error { _, e := b2.CheckAt(ctx, "p", "k", 1, 0); return e }(), front.ErrInvalidArgument},
		{func() error { _, e := b2.Check(ctx, "p", strings.Repeat("k", 5000), 1); return e }(), front.ErrInvalidArgument},
	} {
		if !errors.Is(c.err, c.kind) {
			t.Errorf("got %v, want %v", c.err, c.kind)
		}
	}
}
