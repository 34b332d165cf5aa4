package client_test

import (
	"errors"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

// refundPolicies: one of each strategy, with periods long enough that nothing refills or
// rolls during a test, and a quota on a fixed cadence.
const refundPolicies = `limiters:
  gcra:   { strategy: gcra, limit: 10, period: 1h, burst: 4 }
  bucket: { strategy: tokenBucket, capacity: 4, refillPerSec: 0.0001 }
  fixed:  { strategy: fixedWindow, limit: 4, windowMs: 1h }
  slide:  { strategy: slidingWindow, limit: 4, windowMs: 1h, buckets: 4 }
  log:    { strategy: slidingWindowLog, limit: 4, windowMs: 1h }
  quota:  { strategy: quota, limit: 4, resetCadence: fixed, period: 1h }
  llm:
    tokenBudget: { budget: 4, windowMs: 1h }
`

// Refund gives back what a check consumed, never beyond full, and answers what Peek answers
// right after; Reset forgets the key. Every strategy, on the Redis door and the engine.
func TestRefundAndReset(t *testing.T) {
	const now = 1_700_000_000_000
	redisDoor, _ := openBackend(t, refundPolicies)
	engineDoor, err := client.OpenEngine([]byte(refundPolicies), client.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engineDoor.Close() })
	for name, l := range map[string]client.Limiter{"redis": redisDoor, "engine": engineDoor} {
		for _, p := range []string{"gcra", "bucket", "fixed", "slide", "log", "quota", "llm"} {
			t.Run(name+"/"+p, func(t *testing.T) {
				spend := func(n int64) {
					var err error
					if p == "llm" {
						_, err = l.DebitAt(ctx, p, "k", n, now)
					} else {
						_, err = l.CheckAt(ctx, p, "k", n, now)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				spend(3)
				d, err := l.RefundAt(ctx, p, "k", 2, now)
				if err != nil {
					t.Fatal(err)
				}
				peek, err := l.PeekAt(ctx, p, "k", now)
				if err != nil || d != peek {
					t.Fatalf("refund answered %+v, a peek right after %+v (%v)", d, peek, err)
				}
				if d.Remaining != 3 || !d.Allowed {
					t.Errorf("3 spent, 2 given back: %+v; want 3 of 4 left", d)
				}
				// Never beyond full.
				if d, err = l.RefundAt(ctx, p, "k", 100, now); err != nil || d.Remaining != 4 {
					t.Errorf("a refund past full: %+v, %v; want the limit, 4", d, err)
				}
				spend(4)
				if err := l.Reset(ctx, p, "k"); err != nil {
					t.Fatal(err)
				}
				if d, err = l.PeekAt(ctx, p, "k", now); err != nil || d.Remaining != 4 {
					t.Errorf("after Reset: %+v, %v; want full", d, err)
				}
				if err := l.Reset(ctx, p, "never-used"); err != nil {
					t.Errorf("Reset of a key with no state: %v", err)
				}
			})
		}
		if _, err := l.RefundAt(ctx, "nope", "k", 1, now); !errors.Is(err, client.ErrPolicyNotFound) {
			t.Errorf("%s: refund on an unknown policy: %v", name, err)
		}
		if _, err := l.RefundAt(ctx, "gcra", "k", -1, now); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%s: a negative refund: %v", name, err)
		}
	}
}

// A log refund drops the newest units by their numbers, so that later checks at the same
// instant, which name units by the count, never reuse a name still in the log (past 9
// units, names do not sort as numbers).
func TestLogRefundKeepsUnitNamesFree(t *testing.T) {
	const now = 1_700_000_000_000
	const yaml = "limiters:\n  log: { strategy: slidingWindowLog, limit: 20, windowMs: 1h }\n"
	redisDoor, ns := openBackend(t, yaml)
	engineDoor, err := client.OpenEngine([]byte(yaml), client.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engineDoor.Close() })
	for name, l := range map[string]client.Limiter{"redis": redisDoor, "engine": engineDoor} {
		if _, err := l.CheckAt(ctx, "log", "k", 12, now); err != nil {
			t.Fatal(err)
		}
		if _, err := l.RefundAt(ctx, "log", "k", 3, now); err != nil {
			t.Fatal(err)
		}
		d, err := l.CheckAt(ctx, "log", "k", 3, now)
		if err != nil || d.Remaining != 8 {
			t.Errorf("%s: 12 spent, 3 given back, 3 spent: %+v, %v; want 8 of 20 left", name, d, err)
		}
		if d, err := l.PeekAt(ctx, "log", "k", now); err != nil || d.Remaining != 8 {
			t.Errorf("%s: peek %+v, %v; want 8 left (a reused name would have lost a unit)", name, d, err)
		}
	}
	if n := testenvCount(t, ns+":log:k"); n != 12 {
		t.Errorf("the Redis log holds %d entries, want 12", n)
	}
}
