package federation_test

import (
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/federation"
)

// The coordinator's HASH after each script, against two-tier.md §6.1.
func TestCoordinatorState(t *testing.T) {
	_, rdb := ownRedis(t)
	ctx := ctx5(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 40, period: 1s, federated: { prefix: tk:fedtest } }")
	c := federation.NewCoordinator(federation.RedisRunner(rdb))
	const key = "tk:fedtest:K"
	state := func() map[string]string {
		t.Helper()
		m, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	lease := func(tokens, now, wantGranted int64) {
		t.Helper()
		g, e, err := c.Lease(ctx, p, "K", tokens, now)
		if err != nil || g != wantGranted || e != now/1000*1000+1000 {
			t.Fatalf("LEASE(%d) at %d = %d, %d, %v; want %d, %d", tokens, now, g, e, err, wantGranted, now/1000*1000+1000)
		}
	}

	lease(16, 1_000_500, 16)
	if s := state(); s["budget"] != "24" || s["expiresAt"] != "1001000" || len(s) != 2 {
		t.Errorf("after one lease: %v", s)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 500*time.Millisecond {
		t.Errorf("PTTL %v, want (0, 500ms]: the window's end minus now", ttl)
	}
	lease(30, 1_000_600, 24) // a partial grant empties the window
	lease(5, 1_000_700, 0)
	if s := state(); s["budget"] != "0" {
		t.Errorf("after the window ran dry: %v", s)
	}

	lease(5, 1_001_200, 5) // a new window: the budget is whole again
	reconcile := func(leftover, windowStart, now int64, want bool) {
		t.Helper()
		ok, err := c.Reconcile(ctx, p, "K", leftover, windowStart, now)
		if err != nil || ok != want {
			t.Fatalf("RECONCILE(%d, %d) at %d = %v, %v; want %v", leftover, windowStart, now, ok, err, want)
		}
	}
	reconcile(3, 1_000_000, 1_001_300, true)
	if s := state(); s["budget"] != "38" || s["rec_1000000"] != "1" || s["expiresAt"] != "1002000" {
		t.Errorf("after RECONCILE of 3: %v", s)
	}
	reconcile(3, 1_000_000, 1_001_400, false) // once per window
	reconcile(10, 999_000, 1_001_500, true)   // capped at the full budget
	if s := state(); s["budget"] != "40" {
		t.Errorf("budget %s after a reconcile beyond the budget, want 40", s["budget"])
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 500*time.Millisecond {
		t.Errorf("PTTL %v after RECONCILE at 1001500, want (0, 500ms]", ttl)
	}
	reconcile(1, 1_001_000, 1_002_100, true) // rolls: old markers go with the old window
	if s := state(); s["budget"] != "40" || s["rec_1000000"] != "" || s["rec_1001000"] != "1" || s["expiresAt"] != "1003000" {
		t.Errorf("after a reconcile that rolled the window: %v", s)
	}
}

// now = 0 windows on Redis's own clock.
func TestCoordinatorRedisClock(t *testing.T) {
	_, rdb := ownRedis(t)
	ctx := ctx5(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 10, period: 1h, federated: {} }")
	c := federation.NewCoordinator(federation.RedisRunner(rdb))
	redisNow := rdb.Time(ctx).Val().UnixMilli()
	g, e, err := c.Lease(ctx, p, "K", 4, 0)
	if err != nil || g != 4 || e != redisNow/3_600_000*3_600_000+3_600_000 {
		t.Fatalf("LEASE at Redis's clock = %d, %d, %v; Redis's time %d", g, e, err, redisNow)
	}
	if got := rdb.HGet(ctx, "tk:fed:K", "budget").Val(); got != "6" {
		t.Errorf("budget %q under the default prefix, want 6", got)
	}
}

// A script cache flushed under the runner: EVAL takes over.
func TestCoordinatorAfterScriptFlush(t *testing.T) {
	_, rdb := ownRedis(t)
	ctx := ctx5(t)
	p := fedPolicy(t, "{ strategy: fixedWindow, limit: 10, period: 1h, federated: {} }")
	c := federation.NewCoordinator(federation.RedisRunner(rdb))
	for range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if g, _, err := c.Lease(ctx, p, "K", 1, 5000); err != nil || g != 1 {
			t.Fatalf("LEASE after SCRIPT FLUSH = %d, %v", g, err)
		}
	}
}
