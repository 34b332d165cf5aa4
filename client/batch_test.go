package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// keyState is a key's raw state: its DUMP payload and its PTTL.
type keyState struct {
	dump string
	pttl time.Duration
}

// A CheckMany that fails on one key (a key of the wrong type, a corrupt value) charges none
// of the keys: every key before the failing one, with or without earlier state, is left
// exactly as it was (value and TTL), and the ones after it are never touched.
func TestFailedCheckManyChargesNoKey(t *testing.T) {
	const now = 1_700_000_000_000
	// Long periods: a key's TTL runs in real time from what the explicit clock gives it, and
	// must outlive the test on a loaded machine.
	const policies = `limiters:
  gcra:   { strategy: gcra, limit: 10, period: 1h, burst: 5 }
  bucket: { strategy: tokenBucket, capacity: 10, refillPerSec: 0.001 }
  fixed:  { strategy: fixedWindow, limit: 1000, windowMs: 1h }
  slide:  { strategy: slidingWindow, limit: 10, windowMs: 1h, buckets: 10 }
  log:    { strategy: slidingWindowLog, limit: 5, windowMs: 1h }
`
	b, ns := openBackend(t, policies)
	rdb := testenv.Client(t)
	wrongType := func(key string) error { return rdb.SAdd(ctx, key, "x").Err() }
	cases := []struct {
		policy, name string
		write        func(key string) error
	}{
		{"gcra", "wrong type", wrongType},
		{"bucket", "wrong type", wrongType},
		{"fixed", "wrong type", wrongType},
		{"slide", "wrong type", wrongType},
		{"log", "wrong type", wrongType},
		{"gcra", "corrupt value", func(key string) error { return rdb.Set(ctx, key, "not a number", time.Minute).Err() }},
		{"bucket", "corrupt value", func(key string) error { return rdb.HSet(ctx, key, "t", "x", "l", "1").Err() }},
	}
	for _, c := range cases {
		p := c.policy
		t.Run(p+"/"+c.name, func(t *testing.T) {
			prefix := c.name[:5] + ":"
			if _, err := b.CheckAt(ctx, p, prefix+"seen", 1, now); err != nil {
				t.Fatal(err)
			}
			keys := []string{prefix + "seen", prefix + "new", prefix + "seen", prefix + "bad", prefix + "after"}
			if err := c.write(ns + ":" + p + ":" + prefix + "bad"); err != nil {
				t.Fatal(err)
			}
			before := map[string]keyState{}
			for _, k := range keys {
				before[k] = rawState(t, ns+":"+p+":"+k)
			}
			ds, err := b.CheckManyAt(ctx, p, keys, 1, now+10)
			if !errors.Is(err, client.ErrInternal) {
				t.Fatalf("CheckMany over a bad key: %v, %v; want ErrInternal", ds, err)
			}
			for _, k := range keys {
				after := rawState(t, ns+":"+p+":"+k)
				if after.dump != before[k].dump || before[k].pttl-after.pttl > 2*time.Second {
					t.Errorf("%s: %+v before the failed batch, %+v after", k, before[k], after)
				}
			}
		})
	}
}

func rawState(t *testing.T, key string) keyState {
	t.Helper()
	rdb := testenv.Client(t)
	dump, err := rdb.Dump(ctx, key).Result()
	if err != nil && err.Error() != "redis: nil" {
		t.Fatalf("DUMP %s: %v", key, err)
	}
	pttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return keyState{dump, pttl}
}

// CheckAll consumes every item or none, on the Redis door and the embedded engine alike: the
// state of a refused call's allowed items is left exactly as it was.
func TestCheckAllIsAllOrNothing(t *testing.T) {
	const now = 1_700_000_000_000
	const yaml = "limiters:\n  ip: { strategy: slidingWindowLog, limit: 100, windowMs: 1h }\n  day: { strategy: tokenBucket, capacity: 2, refillPerSec: 0.001 }\n"
	redisDoor, ns := openBackend(t, yaml)
	engineDoor, err := client.OpenEngine([]byte(yaml), client.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engineDoor.Close() })
	for name, l := range map[string]client.Limiter{"redis": redisDoor, "engine": engineDoor} {
		t.Run(name, func(t *testing.T) {
			items := []client.CheckItem{{Policy: "ip", Key: "1.2.3.4", Cost: 1}, {Policy: "day", Key: "alice", Cost: 1}}
			for i := range 2 {
				ds, all, err := l.CheckAllAt(ctx, items, now)
				if err != nil || !all || !ds[0].Allowed || !ds[1].Allowed || ds[1].Remaining != int64(1-i) {
					t.Fatalf("call %d: %v, %v, %v; want both allowed", i, ds, all, err)
				}
			}
			var before keyState
			if name == "redis" {
				before = rawState(t, ns+":ip:1.2.3.4")
			}
			ds, all, err := l.CheckAllAt(ctx, items, now)
			if err != nil || all || !ds[0].Allowed || ds[1].Allowed || ds[1].RetryAfterMs <= 0 {
				t.Fatalf("the third call: %v, %v, %v; want ip allowed, day denied, nothing consumed", ds, all, err)
			}
			if d, err := l.PeekAt(ctx, "ip", "1.2.3.4", now); err != nil || d.Remaining != 98 {
				t.Errorf("ip after a refused CheckAll: %v, %v; want 98 left", d, err)
			}
			if name == "redis" {
				if after := rawState(t, ns+":ip:1.2.3.4"); after.dump != before.dump {
					t.Errorf("ip's log changed under a refused CheckAll")
				}
			}
			if _, _, err := l.CheckAll(ctx, []client.CheckItem{{Policy: "ip", Key: "k"}, {Policy: "nope", Key: "k"}}); !errors.Is(err, client.ErrPolicyNotFound) || !strings.Contains(err.Error(), "items[1]") {
				t.Errorf("an unknown policy in items[1]: %v", err)
			}
			if ds, all, err := l.CheckAll(ctx, nil); err != nil || !all || len(ds) != 0 {
				t.Errorf("no items: %v, %v, %v", ds, all, err)
			}
		})
	}
}
