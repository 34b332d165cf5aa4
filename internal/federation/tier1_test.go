package federation_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/federation"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

const minute = 60_000

// Tier-1 checks up to the limit, then the denial of §6.2; the first check of a lease is not
// Local, the ones spent from its balance are.
func TestTier1SpendsThenDenies(t *testing.T) {
	_, rdb := ownRedis(t)
	ctx := ctx5(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 10, period: 1m, federated: { batch: 4 } }")
	tier := newTier1(rdb, federation.Options{})
	now := int64(100*minute + 15_000)
	end := int64(101 * minute)
	for i := range 10 {
		d, err := tier.Check(ctx, p, "K", 1, now)
		want := front.Decision{Allowed: true, Limit: 10, Remaining: int64(3 - i%4), ResetAt: end, Local: i%4 != 0}
		if i >= 8 { // the last lease is a partial grant of 2
			want.Remaining, want.Local = int64(9-i), i != 8
		}
		if err != nil || d != want {
			t.Fatalf("check %d = %+v, %v; want %+v", i, d, err, want)
		}
	}
	d, err := tier.Check(ctx, p, "K", 1, now+1)
	want := front.Decision{Allowed: false, Limit: 10, Remaining: 0, ResetAt: end, RetryAfterMs: end - now - 1}
	if err != nil || d != want {
		t.Fatalf("check 11 = %+v, %v; want %+v", d, err, want)
	}
}

// Several processes (a Tier1 and a client each) on one Redis never grant more than the limit
// in a window, however their checks interleave; all of it is granted.
func TestTier1ProcessesShareOneBudget(t *testing.T) {
	r, _ := ownRedis(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 500, period: 1m, federated: { batch: 7 } }")
	const processes, workers, checks = 4, 8, 40
	for window := int64(200); window < 203; window++ {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range processes {
			rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
			defer rdb.Close()
			tier := newTier1(rdb, federation.Options{})
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range checks {
						d, err := tier.Check(context.Background(), p, "shared", 1, window*minute+int64(w*checks+i))
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						}
					}
				}()
			}
		}
		wg.Wait()
		// 4·8·40 = 1280 asked; a unit left in a process's balance is granted yet unspent.
		if got := allowed.Load(); got > 500 || got < 500-processes*6 {
			t.Errorf("window %d: %d allowed, want at most 500 and at least %d", window, got, 500-processes*6)
		}
	}
}

// Concurrent misses on one key share one LEASE: 50 checks, one script call.
func TestTier1SingleFlight(t *testing.T) {
	_, rdb := ownRedis(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 1000, period: 1m, federated: { batch: 100 } }")
	tier := newTier1(rdb, federation.Options{})
	// Another key first, so that the script is cached (a NOSCRIPT miss counts as a call).
	if _, err := tier.Check(ctx5(t), p, "warm", 1, 300*minute); err != nil {
		t.Fatal(err)
	}
	before := scriptCalls(t, rdb)
	var wg sync.WaitGroup
	var local atomic.Int64
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := tier.Check(context.Background(), p, "K", 1, 300*minute)
			if err != nil || !d.Allowed {
				t.Errorf("%+v, %v", d, err)
			}
			if d.Local {
				local.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := scriptCalls(t, rdb) - before; n != 1 {
		t.Errorf("%d script calls for 50 concurrent checks of one key, want 1 LEASE", n)
	}
	if local.Load() == 50 {
		t.Error("every check flagged Local, though one LEASE was needed")
	}
}

// A dead coordinator grants 0: the check is denied, not failed (fail closed).
func TestTier1FailsClosed(t *testing.T) {
	r, rdb := ownRedis(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 10, period: 1m, federated: {} }")
	tier := newTier1(rdb, federation.Options{})
	r.Kill()
	now := int64(400*minute + 1000)
	d, err := tier.Check(ctx5(t), p, "K", 1, now)
	want := front.Decision{Allowed: false, Limit: 10, ResetAt: 401 * minute, RetryAfterMs: minute - 1000}
	if err != nil || d != want {
		t.Fatalf("check on a dead Redis = %+v, %v; want %+v", d, err, want)
	}
}

// A window's leftover goes back to the coordinator, once, at the first check of the next.
func TestTier1ReconcilesTheLeftover(t *testing.T) {
	_, rdb := ownRedis(t)
	ctx := ctx5(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 100, period: 1m, federated: { batch: 10 } }")
	tier := newTier1(rdb, federation.Options{})
	if _, err := tier.Check(ctx, p, "K", 3, 500*minute); err != nil { // leases 10, keeps 7
		t.Fatal(err)
	}
	if _, err := tier.Check(ctx, p, "K", 1, 501*minute); err != nil { // rolls: RECONCILE 7, LEASE 10
		t.Fatal(err)
	}
	marker := fmt.Sprintf("rec_%d", 500*minute)
	for range 100 {
		if rdb.HGet(ctx, "tk:fed:K", marker).Val() == "1" {
			break
		}
		waitABit()
	}
	s := rdb.HGetAll(ctx, "tk:fed:K").Val()
	// 97 when the new window's LEASE of 10 came first; 90 when RECONCILE did (capped at 100).
	if s[marker] != "1" || (s["budget"] != "97" && s["budget"] != "90") {
		t.Errorf("after the roll: %v; want the marker and the budget credited 7 (capped at 100)", s)
	}
}

// The entries of a policy are bounded, oldest out.
func TestTier1BoundsItsKeys(t *testing.T) {
	_, rdb := ownRedis(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 100, period: 1m, federated: {} }")
	tier := newTier1(rdb, federation.Options{MaxKeys: 3})
	for i := range 5 {
		if _, err := tier.Check(ctx5(t), p, fmt.Sprint("k", i), 1, 600*minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := tier.Keys("p"); n != 3 {
		t.Errorf("%d keys held, want 3", n)
	}
}
