package twotier

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// After a denial, the key's checks are answered here until its retry time; allows always
// reach L2, so allowed traffic is exact.
func TestCachedDeny(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 2, windowMs: 10000, twoTier: { mode: cached-deny } }\n", Options{})
	base := int64(t0) // a whole window start
	for i := int64(0); i < 2; i++ {
		same(t, "allowed", check(t, d, "fw", "k", 1, base+i),
			front.Decision{Allowed: true, Limit: 2, Remaining: 1 - i, ResetAt: base + 10000, WindowMs: 10000})
	}
	same(t, "L2's denial", check(t, d, "fw", "k", 1, base+1000),
		front.Decision{Allowed: false, Limit: 2, ResetAt: base + 10000, RetryAfterMs: 9000, WindowMs: 10000})
	for i := int64(0); i < 100; i++ {
		now := base + 1000 + i*50
		same(t, "cached denial", check(t, d, "fw", "k", 1, now),
			front.Decision{Allowed: false, Limit: 2, ResetAt: base + 10000, RetryAfterMs: base + 10000 - now, Local: true, WindowMs: 10000})
	}
	if n := l2.checks.Load(); n != 3 {
		t.Errorf("L2 calls = %d; want 3: the flood after the denial stays local", n)
	}
	same(t, "other keys are not blocked", check(t, d, "fw", "other", 1, base+2000),
		front.Decision{Allowed: true, Limit: 2, Remaining: 1, ResetAt: base + 10000, WindowMs: 10000})
	same(t, "at the retry time L2 decides again", check(t, d, "fw", "k", 1, base+10000),
		front.Decision{Allowed: true, Limit: 2, Remaining: 1, ResetAt: base + 20000, WindowMs: 10000})
	if n := l2.checks.Load(); n != 5 {
		t.Errorf("L2 calls = %d; want 5", n)
	}
}

// A reset clears L2 and the cached denial with it.
func TestCachedDenyReset(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 1, windowMs: 10000, twoTier: { mode: cached-deny } }\n", Options{})
	base := int64(t0)
	check(t, d, "fw", "k", 1, base)
	if check(t, d, "fw", "k", 1, base).Allowed {
		t.Fatal("second check allowed")
	}
	if _, err := d.Decide(t.Context(), front.OpReset, "fw", "k", 0, base); err != nil {
		t.Fatal(err)
	}
	if got := check(t, d, "fw", "k", 1, base); !got.Allowed || got.Local {
		t.Errorf("after reset: %+v; want L2's allow", got)
	}
	if n := l2.checks.Load(); n != 3 {
		t.Errorf("L2 calls = %d; want 3", n)
	}
}
