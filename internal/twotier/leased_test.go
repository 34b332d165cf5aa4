package twotier

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// t0 is a whole second and minuteT0 a whole minute (epoch ms): fixed windows start there.
const (
	t0       = 1_700_000_000_000
	minuteT0 = 1_699_999_980_000
)

// The example of two-tier.md §2.3: upstream's own integration policy.
func TestLeasedUpstreamExample(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  leased: { strategy: gcra, limit: 5, period: 1h, burst: 5, twoTier: { mode: leased, batch: 5 } }\n", Options{})
	reset := int64(t0 + 3_600_000)
	same(t, "check 1 (served from a fresh lease)", check(t, d, "leased", "k", 1, t0),
		front.Decision{Allowed: true, Limit: 5, Remaining: 4, ResetAt: reset, WindowMs: 3_600_000})
	for i, want := range []int64{3, 2, 1, 0} {
		same(t, "local check", check(t, d, "leased", "k", 1, t0+int64(i)),
			front.Decision{Allowed: true, Limit: 5, Remaining: want, ResetAt: reset, Local: true, WindowMs: 3_600_000})
	}
	e := int64(60_000)
	same(t, "check 6 (the lease refused)", check(t, d, "leased", "k", 1, t0+e),
		front.Decision{Allowed: false, Limit: 5, Remaining: 0, ResetAt: reset, RetryAfterMs: 3_600_000 - e, WindowMs: 3_600_000})
	if n := l2.checks.Load(); n != 2 {
		t.Errorf("L2 calls = %d; want 2 (one lease granted, one refused)", n)
	}
}

// Concurrent misses on a key share one lease: 64 goroutines spending 3,200 units in
// batches of 100 make exactly 32 leases.
func TestLeasedSingleFlight(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  api: { strategy: fixedWindow, limit: 1000000, period: 1h, twoTier: { batch: 100 } }\n", Options{})
	var wg sync.WaitGroup
	var denied, failed, local sync.Map
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				dec, err := d.Decide(context.Background(), front.OpCheck, "api", "k", 1, 0)
				switch {
				case err != nil:
					failed.Store(g, err)
				case !dec.Allowed:
					denied.Store(g, dec)
				case dec.Local:
					local.Store(g, true)
				}
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("goroutine %v: %v", k, v); return false })
	denied.Range(func(k, v any) bool { t.Errorf("goroutine %v denied: %+v", k, v); return false })
	if n := l2.checks.Load(); n != 32 {
		t.Errorf("leases = %d; want exactly 32 for 3,200 units in batches of 100", n)
	}
}

// windowCoupled drops credits granted for a window once it has ended; without it they
// carry over and report the old window's reset.
func TestWindowCoupling(t *testing.T) {
	for _, coupled := range []bool{true, false} {
		yaml := "limiters:\n  fw: { strategy: fixedWindow, limit: 100, windowMs: 1000, twoTier: { batch: 10, windowCoupled: " +
			map[bool]string{true: "true", false: "false"}[coupled] + " } }\n"
		d, l2 := overEngine(t, yaml, Options{})
		base := int64(t0) // a multiple of the window
		same(t, "lease in window 0", check(t, d, "fw", "k", 1, base+500),
			front.Decision{Allowed: true, Limit: 100, Remaining: 9, ResetAt: base + 1000, WindowMs: 1000})
		got := check(t, d, "fw", "k", 1, base+1000)
		if coupled {
			same(t, "coupled: first check of window 1 leases again", got,
				front.Decision{Allowed: true, Limit: 100, Remaining: 9, ResetAt: base + 2000, WindowMs: 1000})
			if n := l2.checks.Load(); n != 2 {
				t.Errorf("coupled: leases = %d; want 2", n)
			}
		} else {
			same(t, "not coupled: old credits carry over", got,
				front.Decision{Allowed: true, Limit: 100, Remaining: 8, ResetAt: base + 1000, Local: true, WindowMs: 1000})
			if n := l2.checks.Load(); n != 1 {
				t.Errorf("not coupled: leases = %d; want 1", n)
			}
		}
	}
}

// A cost above the batch leases the cost itself; a short local balance spends nothing.
func TestLeasedCostAboveBatch(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 100, windowMs: 60000, twoTier: { batch: 10 } }\n", Options{})
	base := int64(minuteT0)
	same(t, "cost 4", check(t, d, "fw", "k", 4, base), front.Decision{Allowed: true, Limit: 100, Remaining: 6, ResetAt: base + 60000, WindowMs: 60000})
	same(t, "cost 25 > credits and batch", check(t, d, "fw", "k", 25, base),
		front.Decision{Allowed: true, Limit: 100, Remaining: 6, ResetAt: base + 60000, WindowMs: 60000})
	if n, u := l2.checks.Load(), l2.units.Load(); n != 2 || u != 35 {
		t.Errorf("L2 calls %d for %d units; want 2 for 35 (10, then max(10, 25))", n, u)
	}
}

// Low water refills in the background: nobody waits for it.
func TestLowWaterRefill(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 60000, twoTier: { batch: 10, lowWater: 3 } }\n", Options{})
	base := int64(minuteT0)
	for i := 0; i < 7; i++ { // the 7th leaves 3: the refill starts
		check(t, d, "fw", "k", 1, base)
	}
	waitFor(t, "the refill", func() bool { return l2.checks.Load() == 2 })
	time.Sleep(10 * time.Millisecond) // landing follows the call
	same(t, "after the refill", check(t, d, "fw", "k", 1, base),
		front.Decision{Allowed: true, Limit: 1000, Remaining: 12, ResetAt: base + 60000, Local: true, WindowMs: 60000})
	if n := l2.checks.Load(); n != 2 {
		t.Errorf("L2 calls = %d; want 2", n)
	}
}

// An idle key's credits are dropped (never given back), and L1 holds at most MaxKeys keys.
func TestIdleDropAndBound(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 100000, windowMs: 60000, twoTier: { batch: 10, returnIdleAfterMs: 20 } }\n", Options{MaxKeys: 8})
	lt := d.tier("fw").(*leased)
	for i := 0; i < 100; i++ {
		check(t, d, "fw", string(rune('a'+i%26))+string(rune('a'+i/26)), 1, 0)
	}
	if n := lt.keys.Len(); n > 8 || n == 0 {
		t.Errorf("L1 holds %d keys; want 1..8", n)
	}
	waitFor(t, "the idle drop", func() bool { return lt.keys.Len() == 0 })
	before := l2.checks.Load()
	check(t, d, "fw", "aa", 1, 0)
	if l2.checks.Load() != before+1 {
		t.Error("a dropped key's next check did not lease again")
	}
}

// Peek, forecast, all-or-nothing checks and refunds are refused on a leased policy; a
// reset forgets its credits; a strict policy is the plain one.
func TestLeasedRefusals(t *testing.T) {
	d, l2 := overEngine(t, `limiters:
  fw: { strategy: fixedWindow, limit: 100, windowMs: 60000, twoTier: { batch: 10 } }
  strict: { strategy: fixedWindow, limit: 100, windowMs: 60000, twoTier: { mode: strict } }
`, Options{})
	ctx := context.Background()
	wantRefusal := func(what string, err error, words string) {
		t.Helper()
		if !errors.Is(err, front.ErrUnsupported) || err.Error() != words {
			t.Errorf("%s: %v; want unsupported %q", what, err, words)
		}
	}
	_, err := d.Decide(ctx, front.OpPeek, "fw", "k", 1, 0)
	wantRefusal("peek", err, `policy "fw" does not support peek`)
	_, err = d.Foresee(ctx, "fw", "k", 1, 0)
	wantRefusal("forecast", err, `policy "fw" does not support forecast`)
	_, err = d.Decide(ctx, front.OpRefund, "fw", "k", 1, 0)
	wantRefusal("refund", err, `policy "fw" does not support refund (leased credits are never given back)`)
	_, err = d.DecideAll(ctx, []front.CheckItem{{Policy: "strict", Key: "k", Cost: 1}, {Policy: "fw", Key: "k", Cost: 1}}, 0)
	if !errors.Is(err, front.ErrUnsupported) {
		t.Errorf("check all: %v; want unsupported", err)
	}
	if _, err := d.Decide(ctx, front.OpPeek, "strict", "k", 1, 0); err != nil {
		t.Errorf("strict peek: %v", err)
	}
	check(t, d, "fw", "k", 1, 0)
	if _, err := d.Decide(ctx, front.OpReset, "fw", "k", 0, 0); err != nil {
		t.Fatal(err)
	}
	check(t, d, "fw", "k", 1, 0)
	if n := l2.checks.Load(); n != 2 {
		t.Errorf("L2 calls = %d; want 2 (a reset forgets the credits)", n)
	}
}

// Bad input is refused before L1 spends anything.
func TestLeasedInputs(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 100, windowMs: 60000, twoTier: { batch: 10 } }\n", Options{})
	ctx := context.Background()
	for _, c := range []struct {
		key         string
		cost, nowMs int64
	}{{"a\x00b", 1, 0}, {"k", -1, 0}, {"k", 1 << 60, 0}, {"k", 1, -5}} {
		if _, err := d.Decide(ctx, front.OpCheck, "fw", c.key, c.cost, c.nowMs); !errors.Is(err, front.ErrInvalidArgument) {
			t.Errorf("%+v: %v; want invalid argument", c, err)
		}
		var got error
		d.StartCheck(ctx, "fw", c.key, c.cost, c.nowMs, onDone(func(_ front.Decision, err error) { got = err }))
		if !errors.Is(got, front.ErrInvalidArgument) {
			t.Errorf("started %+v: %v; want invalid argument", c, got)
		}
	}
	if l2.checks.Load() != 0 {
		t.Error("bad input reached L2")
	}
}

// A shadow policy's refused lease is admitted, flagged, and grants nothing.
func TestLeasedShadow(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 5, windowMs: 60000, shadow: true, twoTier: { batch: 5 } }\n", Options{})
	base := int64(t0)
	for i := 0; i < 5; i++ {
		check(t, d, "fw", "k", 1, base)
	}
	got := check(t, d, "fw", "k", 1, base)
	if !got.Allowed || !got.Shadow || got.Local {
		t.Errorf("refused lease under shadow: %+v; want admitted, Shadow", got)
	}
	check(t, d, "fw", "k", 1, base)
	if n := l2.checks.Load(); n != 3 {
		t.Errorf("L2 calls = %d; want 3 (a shadowed refusal grants no credits)", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
