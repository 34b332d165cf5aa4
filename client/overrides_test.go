package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// The file form of issue 24, and policies that spell out what its overrides mean.
const overridePolicies = `limiters:
  tiers:
    strategy: fixedWindow
    limit: 2
    windowMs: 1h
    overrides:
      vip: unlimited        # never limited, never counted
      banned: deny          # always denied, never counted
      gold: { limit: 4 }    # the strategy's fields, replaced for this key
      "vip*": deny
      "*-gold": { limit: 4 }
      "team-*": { limit: 3 }
  plain: { strategy: fixedWindow, limit: 2, windowMs: 1h }
  four: { strategy: fixedWindow, limit: 4, windowMs: 1h }
`

const overrideNow = 1_700_000_000_000

// overrideDoor is a door under test with a way to read what its store holds.
type overrideDoor struct {
	l interface {
		client.Limiter
		SetOverride(ctx context.Context, policy, key, spec string, ttlMs int64) error
		ClearOverride(ctx context.Context, policy, key string) error
	}
	// state returns a fingerprint of every key the door's store holds for the test
	// (names with their DUMP on Redis; the key count and a peek of each key asked for on
	// the engine).
	state func(t *testing.T, keys ...string) string
}

func overrideDoors(t *testing.T, yaml string) map[string]overrideDoor {
	t.Helper()
	r, ns := openBackend(t, yaml)
	rdb := testenv.Client(t)
	e := openEngine(t, yaml, client.EngineOptions{})
	return map[string]overrideDoor{
		"redis": {l: r, state: func(t *testing.T, _ ...string) string {
			keys, err := rdb.Keys(ctx, ns+":*").Result()
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, k := range sortedCopy(keys) {
				dump, err := rdb.Dump(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s=%x;", k, dump)
			}
			return b.String()
		}},
		"engine": {l: e, state: func(t *testing.T, keys ...string) string {
			s := fmt.Sprintf("keys=%d;", e.Stats().LiveKeys)
			for _, k := range keys {
				d, err := e.PeekAt(ctx, "plain", k, overrideNow)
				if err != nil {
					t.Fatal(err)
				}
				s += fmt.Sprintf("%s=%d/%d;", k, d.Remaining, d.ResetAt)
			}
			return s
		}},
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// unlimited and deny, from the file or from a record, decide without reading or writing the
// state key: the store is byte for byte the same before and after.
func TestOverrideAllowAndDenyListsNeverTouchState(t *testing.T) {
	for name, d := range overrideDoors(t, overridePolicies) {
		t.Run(name, func(t *testing.T) {
			before := d.state(t, "vip", "banned")
			for i := range 5 {
				got, err := d.l.CheckAt(ctx, "tiers", "vip", 1, overrideNow+int64(i))
				want := client.Decision{Allowed: true, Limit: 2, Remaining: 2, ResetAt: overrideNow + int64(i), Override: true, WindowMs: 3_600_000}
				if err != nil || got != want {
					t.Fatalf("vip check %d: %+v, %v; want %+v", i, got, err, want)
				}
				got, err = d.l.CheckAt(ctx, "tiers", "banned", 1, overrideNow)
				want = client.Decision{Allowed: false, Limit: 2, Remaining: 0, ResetAt: overrideNow + 3_600_000, RetryAfterMs: 3_600_000, Override: true, WindowMs: 3_600_000}
				if err != nil || got != want {
					t.Fatalf("banned check %d: %+v, %v; want %+v", i, got, err, want)
				}
			}
			if after := d.state(t, "vip", "banned"); after != before {
				t.Fatalf("the store changed under unlimited and deny:\nbefore %s\nafter  %s", before, after)
			}

			// A key with state, then a record: the state stays as it was.
			if c, err := d.l.CheckAt(ctx, "tiers", "k", 1, overrideNow); err != nil || !c.Allowed || c.Override || c.Remaining != 1 {
				t.Fatalf("plain check: %+v, %v", c, err)
			}
			for _, spec := range []string{"unlimited", "deny"} {
				if err := d.l.SetOverride(ctx, "tiers", "k", spec, 0); err != nil {
					t.Fatal(err)
				}
				before := d.state(t, "k")
				for range 4 {
					c, err := d.l.CheckAt(ctx, "tiers", "k", 1, overrideNow)
					if err != nil || c.Allowed != (spec == "unlimited") || !c.Override {
						t.Fatalf("%s record: %+v, %v", spec, c, err)
					}
				}
				if after := d.state(t, "k"); after != before {
					t.Fatalf("%s record: the store changed:\nbefore %s\nafter  %s", spec, before, after)
				}
			}
			if err := d.l.ClearOverride(ctx, "tiers", "k"); err != nil {
				t.Fatal(err)
			}
			if c, err := d.l.CheckAt(ctx, "tiers", "k", 1, overrideNow); err != nil || !c.Allowed || c.Override || c.Remaining != 0 {
				t.Fatalf("after clearing, the key's own state decides: %+v, %v; want allowed with 0 left", c, err)
			}
		})
	}
}

// A field override decides exactly as a plain policy with those fields would, on the same
// state, for every strategy that takes overrides.
func TestOverrideFieldsDecideAsThePlainPolicy(t *testing.T) {
	cases := []struct{ base, override, plain string }{
		{"{ strategy: gcra, limit: 2, period: 1s }", "{ limit: 5 }", "{ strategy: gcra, limit: 5, period: 1s }"},
		{"{ strategy: gcra, limit: 2, period: 1s, burst: 3 }", "{ period: 2s }", "{ strategy: gcra, limit: 2, period: 2s, burst: 3 }"},
		{"{ strategy: tokenBucket, capacity: 2, refillPerSec: 1 }", "{ capacity: 5, refillPerSec: 0.5 }", "{ strategy: tokenBucket, capacity: 5, refillPerSec: 0.5 }"},
		{"{ strategy: fixedWindow, limit: 2, windowMs: 1s }", "{ limit: 4 }", "{ strategy: fixedWindow, limit: 4, windowMs: 1s }"},
		{"{ strategy: slidingWindow, limit: 2, windowMs: 1s }", "{ limit: 6, buckets: 4 }", "{ strategy: slidingWindow, limit: 6, windowMs: 1s, buckets: 4 }"},
		{"{ strategy: slidingWindowLog, limit: 2, windowMs: 1s }", "{ limit: 3, period: 2s }", "{ strategy: slidingWindowLog, limit: 3, windowMs: 2s }"},
	}
	for i, c := range cases {
		base := strings.Replace(c.base, " }", ", prefix: o, overrides: { k: "+c.override+", r: unlimited } }", 1)
		yaml := "limiters:\n  over: " + base + "\n  plain: " + strings.Replace(c.plain, " }", ", prefix: p }", 1) + "\n"
		for name, d := range overrideDoors(t, yaml) {
			t.Run(fmt.Sprintf("%d/%s", i, name), func(t *testing.T) {
				// The record on r says the same as the file's entry for k, in its spec form.
				spec := strings.NewReplacer("{ ", "", " }", "", ": ", "=", ", ", ",").Replace(c.override)
				if err := d.l.SetOverride(ctx, "over", "r", spec, 0); err != nil {
					t.Fatal(err)
				}
				for step := range 12 {
					now := int64(overrideNow + 170*step)
					want, err := d.l.CheckAt(ctx, "plain", "k", 1+int64(step%2), now)
					if err != nil {
						t.Fatal(err)
					}
					want.Override = true
					for _, key := range []string{"k", "r"} {
						got, err := d.l.CheckAt(ctx, "over", key, 1+int64(step%2), now)
						got.WindowMs = want.WindowMs // the base policy's window (docs/policies.md)
						if err != nil || got != want {
							t.Fatalf("step %d key %s: %+v, %v; want %+v", step, key, got, err, want)
						}
					}
				}
			})
		}
	}
}

// Exact keys first, then patterns in file order; the record beats the file's entry.
func TestOverridePrecedence(t *testing.T) {
	for name, d := range overrideDoors(t, overridePolicies) {
		t.Run(name, func(t *testing.T) {
			cases := map[string]string{ // key: unlimited, deny, 4, 3 or plain
				"vip": "unlimited", "vip2": "deny", "vip-gold": "deny", "a-gold": "4", "team-gold": "4",
				"team-x": "3", "gold": "4", "banned": "deny", "x": "plain", "vi": "plain", "gold-a": "plain",
			}
			for key, want := range cases {
				if got := classify(t, d.l, key); got != want {
					t.Errorf("key %q: %s, want %s", key, got, want)
				}
			}
			if err := d.l.SetOverride(ctx, "tiers", "vip", "deny", 0); err != nil {
				t.Fatal(err)
			}
			if err := d.l.SetOverride(ctx, "tiers", "banned", "limit=3", 0); err != nil {
				t.Fatal(err)
			}
			if err := d.l.SetOverride(ctx, "tiers", "y", "unlimited", 0); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{"vip": "deny", "banned": "3", "y": "unlimited"} {
				if got := classify(t, d.l, key); got != want {
					t.Errorf("key %q with a record: %s, want %s (the record wins)", key, got, want)
				}
			}
		})
	}
}

// classify tells what governs a key of tiers, from decisions at one instant.
func classify(t *testing.T, l client.Limiter, key string) string {
	t.Helper()
	d, err := l.CheckAt(ctx, "tiers", key, 1, overrideNow+10_000_000)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	switch {
	case !d.Override:
		return "plain"
	case d.Allowed && d.ResetAt == overrideNow+10_000_000:
		return "unlimited"
	case !d.Allowed && d.Remaining == 0 && d.RetryAfterMs == 3_600_000:
		return "deny"
	}
	return fmt.Sprint(d.Limit)
}

// A malformed record is an error naming its key, never a silent pass, on every check path.
func TestOverrideMalformedRecords(t *testing.T) {
	b, ns := openBackend(t, overridePolicies)
	rdb := testenv.Client(t)
	okKey := ns + ":tiers:fine"
	record := front.OverrideKey(ns + ":tiers:k")
	for _, bad := range []string{"limit=abc", "bogus", "", "limit=0", "limit=2.5", "windowMs=1h", "burst=3", "limit=4,"} {
		if err := rdb.Set(ctx, record, bad, 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := b.CheckAt(ctx, "tiers", "k", 1, overrideNow)
		if err == nil || !strings.Contains(err.Error(), record) {
			t.Errorf("record %q: %v; want an error naming %s", bad, err, record)
		}
		if _, err := b.CheckManyAt(ctx, "tiers", []string{"fine", "k"}, 1, overrideNow); err == nil || !strings.Contains(err.Error(), record) {
			t.Errorf("record %q, CheckMany: %v; want an error naming %s", bad, err, record)
		}
		if n, _ := rdb.Exists(ctx, okKey).Result(); n != 0 {
			t.Fatalf("record %q: the failed CheckMany left the other item's state behind", bad)
		}
	}
	rdb.Del(ctx, record)
	rdb.HSet(ctx, record, "a", "b")
	if _, err := b.CheckAt(ctx, "tiers", "k", 1, overrideNow); err == nil || !strings.Contains(err.Error(), record) {
		t.Errorf("a hash where the record goes: %v; want an error naming %s", err, record)
	}
	rdb.Del(ctx, record)
	// A record written by hand in the canonical form works.
	rdb.Set(ctx, record, "limit=1", 0)
	if d, err := b.CheckAt(ctx, "tiers", "k", 1, overrideNow); err != nil || !d.Override || d.Limit != 1 {
		t.Errorf("a record set by hand: %+v, %v", d, err)
	}

	// SetOverride validates as the file does and stores the canonical form.
	for _, bad := range []string{"limit=0", "limit=abc", "bogus", "", "shadow=true", "prefix=x", "burst=3", "windowMs=1.0005s", "limit=4,limit=5"} {
		if err := b.SetOverride(ctx, "tiers", "k", bad, 0); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("SetOverride(%q): %v; want an invalid-argument error", bad, err)
		}
	}
	if err := b.SetOverride(ctx, "tiers", "k", "windowMs=2h,limit=7", 0); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, record).Val(); got != "limit=7,windowMs=7200000" {
		t.Errorf("stored record %q, want the canonical limit=7,windowMs=7200000", got)
	}
	if err := b.SetOverride(ctx, "tiers", "k", "deny", 60_000); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, record).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("record ttl %v, want up to a minute", ttl)
	}
	if err := b.SetOverride(ctx, "tiers", "k", "deny", -1); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("negative ttl: %v", err)
	}
	if err := b.SetOverride(ctx, "plain", "k", "deny", 0); !errors.Is(err, client.ErrUnsupported) {
		t.Errorf("a policy without overrides: %v; want unsupported", err)
	}
	if err := b.ClearOverride(ctx, "plain", "k"); !errors.Is(err, client.ErrUnsupported) {
		t.Errorf("ClearOverride on a policy without overrides: %v; want unsupported", err)
	}
	if err := b.SetOverride(ctx, "nope", "k", "deny", 0); !errors.Is(err, client.ErrPolicyNotFound) {
		t.Errorf("an unknown policy: %v", err)
	}
	// A policy without the block reads no record, even one that exists.
	rdb.Set(ctx, front.OverrideKey(ns+":plain:k"), "deny", 0)
	if d, err := b.CheckAt(ctx, "plain", "k", 1, overrideNow); err != nil || !d.Allowed || d.Override {
		t.Errorf("plain policy with a record beside its key: %+v, %v; want the record ignored", d, err)
	}
}

// CheckMany and CheckAll honour overrides item by item; plain items decide as before.
func TestOverrideBatches(t *testing.T) {
	for name, d := range overrideDoors(t, overridePolicies) {
		t.Run(name, func(t *testing.T) {
			ds, err := d.l.CheckManyAt(ctx, "tiers", []string{"vip", "banned", "gold", "x", "gold"}, 1, overrideNow)
			if err != nil {
				t.Fatal(err)
			}
			want := []client.Decision{
				{Allowed: true, Limit: 2, Remaining: 2, ResetAt: overrideNow, Override: true},
				{Allowed: false, Limit: 2, ResetAt: overrideNow + 3_600_000, RetryAfterMs: 3_600_000, Override: true},
				{Allowed: true, Limit: 4, Remaining: 3, ResetAt: 1_700_000_000_000 - 1_700_000_000_000%3_600_000 + 3_600_000, Override: true},
				{Allowed: true, Limit: 2, Remaining: 1, ResetAt: 1_700_000_000_000 - 1_700_000_000_000%3_600_000 + 3_600_000},
				{Allowed: true, Limit: 4, Remaining: 2, ResetAt: 1_700_000_000_000 - 1_700_000_000_000%3_600_000 + 3_600_000, Override: true},
			}
			for i := range want {
				ds[i].WindowMs = 0
				if ds[i] != want[i] {
					t.Errorf("CheckMany item %d: %+v, want %+v", i, ds[i], want[i])
				}
			}
			plain, err := d.l.CheckManyAt(ctx, "plain", []string{"a", "b"}, 1, overrideNow)
			if err != nil || plain[0].Override || plain[1].Override || plain[0].Remaining != 1 {
				t.Fatalf("a plain CheckMany: %+v, %v", plain, err)
			}

			before := d.state(t, "x", "gold")
			all, ok, err := d.l.CheckAllAt(ctx, []client.CheckItem{{Policy: "tiers", Key: "x"}, {Policy: "tiers", Key: "gold"},
				{Policy: "plain", Key: "x"}, {Policy: "tiers", Key: "banned"}}, overrideNow)
			if err != nil || ok || !all[3].Override || all[3].Allowed || !all[1].Override || all[0].Override || all[2].Override {
				t.Fatalf("CheckAll with a banned item: %+v, %v, %v; want refused, flags per item", all, ok, err)
			}
			if after := d.state(t, "x", "gold"); after != before {
				t.Fatalf("a refused CheckAll spent units:\nbefore %s\nafter  %s", before, after)
			}
			all, ok, err = d.l.CheckAllAt(ctx, []client.CheckItem{{Policy: "tiers", Key: "gold"}, {Policy: "tiers", Key: "vip"},
				{Policy: "four", Key: "gold"}}, overrideNow)
			if err != nil || !ok || all[0].Remaining != 1 || !all[0].Override || !all[1].Override || all[2].Override || all[2].Remaining != 3 {
				t.Fatalf("CheckAll that passes: %+v, %v, %v", all, ok, err)
			}
			if err := d.l.SetOverride(ctx, "tiers", "x", "deny", 0); err != nil {
				t.Fatal(err)
			}
			ds, err = d.l.CheckManyAt(ctx, "tiers", []string{"x", "vip"}, 1, overrideNow)
			if err != nil || ds[0].Allowed || !ds[0].Override || !ds[1].Allowed {
				t.Fatalf("CheckMany after a record: %+v, %v", ds, err)
			}
		})
	}
}

// A record set while several goroutines on two backends check the key takes effect on the
// very next check each of them begins, and clearing it likewise.
func TestOverrideMidLoad(t *testing.T) {
	a, ns := openBackend(t, overridePolicies)
	b, err := client.OpenRedis(testenv.URL(t), []byte(overridePolicies), client.RedisOptions{Namespace: ns},
		client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	// 0: plain, 1: the deny record is set, 2: it is replaced by unlimited; 3: a record is
	// being written (either answer is right).
	var phase atomic.Int32
	var wrong atomic.Int64
	var checks [4]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		l := client.Limiter(a)
		if g%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := phase.Load()
				d, err := l.Check(ctx, "tiers", "hot", 1)
				if err != nil {
					if wrong.Add(1) == 1 {
						t.Errorf("phase %d: %v", p, err)
					}
					continue
				}
				if phase.Load() != p {
					continue // a record changed while this check was in flight: either is right
				}
				checks[p].Add(1)
				if (p == 1 && (d.Allowed || !d.Override)) || (p == 2 && (!d.Allowed || !d.Override)) {
					if wrong.Add(1) == 1 {
						t.Errorf("phase %d: %+v", p, d)
					}
				}
			}
		}()
	}
	wait := func(p int) {
		for checks[p].Load() < 200 {
			time.Sleep(time.Millisecond)
		}
	}
	wait(0)
	phase.Store(3)
	if err := a.SetOverride(ctx, "tiers", "hot", "deny", 0); err != nil {
		t.Fatal(err)
	}
	phase.Store(1)
	wait(1)
	phase.Store(3)
	if err := b.SetOverride(ctx, "tiers", "hot", "unlimited", 0); err != nil {
		t.Fatal(err)
	}
	phase.Store(2)
	wait(2)
	close(stop)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d checks begun after a record was set did not follow it (or failed)", wrong.Load())
	}
}

// A check started with StartCheck honours overrides like Check.
func TestOverrideStartCheck(t *testing.T) {
	for name, d := range overrideDoors(t, overridePolicies) {
		t.Run(name, func(t *testing.T) {
			starter, ok := d.l.(interface {
				StartCheck(context.Context, string, string, int64, int64, front.Waiter)
			})
			if !ok {
				t.Skip("no StartCheck")
			}
			for key, allowed := range map[string]bool{"vip": true, "banned": false} {
				w := overrideWaiter(make(chan overrideResult, 1))
				starter.StartCheck(ctx, "tiers", key, 1, overrideNow, w)
				r := <-w
				if r.err != nil || r.d.Allowed != allowed || !r.d.Override {
					t.Errorf("%s: %+v, %v", key, r.d, r.err)
				}
			}
		})
	}
}

type overrideResult struct {
	d   client.Decision
	err error
}

type overrideWaiter chan overrideResult

func (w overrideWaiter) Done(d front.Decision, err error) { w <- overrideResult{d, err} }
