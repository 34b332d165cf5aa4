package engine_test

import (
	"fmt"
	"math/rand"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/policy"
)

// admissionDoor is one door under test with a way to read its guard's stored estimate.
type admissionDoor struct {
	name     string
	door     front.Door
	estimate func(t *testing.T, guard string) float64
	pttl     func(guard string) int64 // ms until the guard's key expires
}

// admissionDoors opens the embedded engine and the Redis door on the same policies, so each
// test proves that both run the lease script to the same state.
func admissionDoors(t *testing.T, yaml string) []admissionDoor {
	t.Helper()
	set, err := policy.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(set, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	opts, err := redis.ParseURL(testenv.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ns := testenv.Namespace(t)
	rd, err := redisdoor.New(rdb, set, redisdoor.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rd.Close() })
	parse := func(t *testing.T, s string) float64 {
		if s == "" {
			return -1 // no guard yet
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("estimate %q: %v", s, err)
		}
		return f
	}
	return []admissionDoor{
		{"engine", eng, func(t *testing.T, guard string) float64 { return parse(t, eng.DumpForTest(guard).Hash["e"]) },
			func(guard string) int64 { return eng.DumpForTest(guard).TTLMs }},
		{"redis", rd, func(t *testing.T, guard string) float64 {
			s, err := rdb.HGet(ctx, ns+":"+guard, "e").Result()
			if err == redis.Nil {
				return -1
			}
			if err != nil {
				t.Fatalf("HGET e: %v", err)
			}
			return parse(t, s)
		}, func(guard string) int64 { return rdb.PTTL(ctx, ns+":"+guard).Val().Milliseconds() }},
	}
}

const t0 = int64(1_700_000_000_000)

// admitN admits n times at now and returns the lease ids, failing on any refusal.
func admitN(t *testing.T, d front.Door, policyName string, n int, now int64) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		a, err := d.Admit(ctx, policyName, "k", 1, now)
		if err != nil || !a.Decision.Allowed || len(a.LeaseID) != 32 {
			t.Fatalf("admit %d: %+v, %v", i+1, a, err)
		}
		ids = append(ids, a.LeaseID)
	}
	return ids
}

// admission.md §2's worked gradient2 example, estimate by estimate, on both doors.
func TestAdmissionGradient2WorkedExample(t *testing.T) {
	for _, d := range admissionDoors(t, "limiters:\n  g:\n    concurrency: {}\n") {
		t.Run(d.name, func(t *testing.T) {
			ids := admitN(t, d.door, "g", 4, t0)
			a, err := d.door.Admit(ctx, "g", "k", 1, t0)
			if err != nil || a.Decision.Allowed || a.BindingAxis != "concurrency" || a.Decision.Limit != 4 {
				t.Fatalf("fifth admit: %+v, %v", a, err)
			}
			steps := []struct {
				lease   int
				at      int64
				dropped bool
				want    float64
			}{{3, 10, false, 4.4}, {0, 12, false, 4.4}, {2, 50, false, 4.379523539268061}, {1, 30, true, 4.360117409276823}}
			for _, s := range steps {
				if err := d.door.Release(ctx, "g", "k", ids[s.lease], s.dropped, t0+s.at); err != nil {
					t.Fatal(err)
				}
				if got := d.estimate(t, "g\x00admission"); got != s.want {
					t.Fatalf("after releasing lease %d at +%d ms: estimate %.17g, want %.17g", s.lease+1, s.at, got, s.want)
				}
			}
		})
	}
}

// admission.md §2's worked AIMD example: 11, 9, 9, 8.
func TestAdmissionAIMDWorkedExample(t *testing.T) {
	yaml := "limiters:\n  a:\n    concurrency: { minLimit: 4, maxLimit: 64, initialLimit: 10, algorithm: aimd, tolerance: 2, backoffRatio: 0.9 }\n"
	for _, d := range admissionDoors(t, yaml) {
		t.Run(d.name, func(t *testing.T) {
			ids := admitN(t, d.door, "a", 6, t0)
			steps := []struct {
				lease   int
				at      int64
				dropped bool
				want    float64
			}{{5, 20, false, 11}, {4, 45, false, 9}, {3, 40, false, 9}, {0, 40, true, 8}}
			for _, s := range steps {
				if err := d.door.Release(ctx, "a", "k", ids[s.lease], s.dropped, t0+s.at); err != nil {
					t.Fatal(err)
				}
				if got := d.estimate(t, "a\x00admission"); got != s.want {
					t.Fatalf("after releasing lease %d: estimate %v, want %v", s.lease+1, got, s.want)
				}
			}
			// The ceiling a decision reports is the estimate's floor: 8, with 2 slots held.
			a, err := d.door.Admit(ctx, "a", "k", 1, t0+50)
			if err != nil || !a.Decision.Allowed || a.Decision.Limit != 8 || a.Decision.Remaining != 5 {
				t.Fatalf("admit after the example: %+v, %v", a, err)
			}
		})
	}
}

// admission.md §3's examples: the pinned policy cc and the unified policy, decision by
// decision; then release, idempotency, heartbeat and reclaim by the lease's expiry.
func TestAdmissionDecisions(t *testing.T) {
	yaml := `limiters:
  cc: { concurrency: { minLimit: 3, maxLimit: 3 } }
  unified: { strategy: gcra, limit: 5, period: 1h, burst: 5, concurrency: { minLimit: 2, maxLimit: 2 } }
  api: { strategy: gcra, limit: 5, period: 1h }
`
	for _, d := range admissionDoors(t, yaml) {
		t.Run(d.name, func(t *testing.T) {
			var ids []string
			for i, rem := range []int64{2, 1, 0} {
				a, err := d.door.Admit(ctx, "cc", "k", 1, t0)
				want := front.Decision{Allowed: true, Limit: 3, Remaining: rem, ResetAt: t0}
				if err != nil || a.Decision != want || a.LeaseExpiresAt != t0+2000 || a.BindingAxis != "" || len(a.LeaseID) != 32 {
					t.Fatalf("cc admit %d: %+v, %v", i+1, a, err)
				}
				ids = append(ids, a.LeaseID)
			}
			a, err := d.door.Admit(ctx, "cc", "k", 1, t0)
			if err != nil || a.Decision != (front.Decision{Limit: 3, ResetAt: t0, RetryAfterMs: 1}) || a.LeaseID != "" ||
				a.LeaseExpiresAt != 0 || a.BindingAxis != "concurrency" {
				t.Fatalf("cc admit 4: %+v, %v", a, err)
			}
			// Release is idempotent; an unknown id is success.
			for _, id := range []string{ids[0], ids[0], "0123456789abcdef0123456789abcdef", ""} {
				if err := d.door.Release(ctx, "cc", "k", id, false, t0+5); err != nil {
					t.Fatalf("release %q: %v", id, err)
				}
			}
			// lastRtt is 5 now: a refusal says retry after 5 ms.
			admitN(t, d.door, "cc", 1, t0+5)
			if a, _ := d.door.Admit(ctx, "cc", "k", 1, t0+5); a.Decision.Allowed || a.Decision.RetryAfterMs != 5 {
				t.Fatalf("cc admit when full again: %+v", a)
			}
			// A heartbeat renews the live lease ids[1] and reports the released one.
			hb, err := d.door.Heartbeat(ctx, "cc", "k", []string{ids[1], ids[0]}, t0+1500)
			if err != nil || len(hb.Live) != 1 || hb.Live[0] != ids[1] || len(hb.Reclaimed) != 1 || hb.Reclaimed[0] != ids[0] ||
				hb.NextDeadline != t0+3500 {
				t.Fatalf("heartbeat: %+v, %v", hb, err)
			}
			// At +2600 the leases not renewed (ids[2] and the one taken at +5) have expired;
			// an admit reclaims them and is allowed, ids[1] still holds one slot.
			a, err = d.door.Admit(ctx, "cc", "k", 1, t0+2600)
			if err != nil || !a.Decision.Allowed || a.Decision.Remaining != 1 {
				t.Fatalf("admit after expiry: %+v, %v", a, err)
			}
			hb, err = d.door.Heartbeat(ctx, "cc", "k", []string{ids[1], ids[2]}, t0+2600)
			if err != nil || len(hb.Live) != 1 || len(hb.Reclaimed) != 1 || hb.Reclaimed[0] != ids[2] {
				t.Fatalf("heartbeat after expiry: %+v, %v", hb, err)
			}

			// unified: admit 1 and 2 combine both axes; admit 3 is refused by concurrency.
			for i, want := range []front.Decision{{Allowed: true, Limit: 2, Remaining: 1, ResetAt: t0 + 720000}, {Allowed: true, Limit: 2, ResetAt: t0 + 1440000}} {
				a, err := d.door.Admit(ctx, "unified", "u", 1, t0)
				if err != nil || a.Decision != want || a.LeaseID == "" {
					t.Fatalf("unified admit %d: %+v, %v", i+1, a, err)
				}
			}
			a, err = d.door.Admit(ctx, "unified", "u", 1, t0)
			if err != nil || a.Decision != (front.Decision{Limit: 2, ResetAt: t0, RetryAfterMs: 1}) || a.BindingAxis != "concurrency" {
				t.Fatalf("unified admit 3: %+v, %v", a, err)
			}

			// Operations that do not fit the policy's kind.
			if _, err := d.door.Admit(ctx, "api", "k", 1, t0); err == nil || front.CodeOf(err).String() != "Unimplemented" ||
				err.Error() != `policy "api" does not support admit` {
				t.Errorf("admit on a rate limiter: %v", err)
			}
			if _, err := d.door.Decide(ctx, front.OpCheck, "cc", "k", 1, t0); err == nil || err.Error() != `policy "cc" does not support check` {
				t.Errorf("check on an admitter: %v", err)
			}
			if _, err := d.door.DecideMany(ctx, "cc", []string{"k"}, 1, t0); err == nil || err.Error() != `policy "cc" does not support checkMany` {
				t.Errorf("checkMany on an admitter: %v", err)
			}
			if err := d.door.Release(ctx, "nope", "k", ids[1], false, t0); err == nil || front.CodeOf(err).String() != "NotFound" {
				t.Errorf("release on an unknown policy: %v", err)
			}
		})
	}
}

// The embedded engine runs the lease script exactly as Redis does: random runs of admits,
// releases (some dropped) and heartbeats, with the clock moving by random steps so that
// leases expire and are reclaimed, give the same replies and the same estimate on both.
func TestAdmissionEngineMatchesRedisOnRandomRuns(t *testing.T) {
	yaml := `limiters:
  g: { concurrency: { minLimit: 2, maxLimit: 12, initialLimit: 5, rttWindow: 4 } }
  a: { concurrency: { minLimit: 2, maxLimit: 12, initialLimit: 5, algorithm: aimd, rttWindow: 3, tolerance: 1.5 } }
  u: { strategy: fixedWindow, limit: 7, windowMs: 1s, concurrency: { minLimit: 3, maxLimit: 3 } }
`
	doors := admissionDoors(t, yaml)
	eng, red := doors[0], doors[1]
	guards := map[string]string{"g": "g\x00admission", "a": "a\x00admission", "u": "u\x00admission"}
	for seed := int64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewSource(seed))
		now := t0 + seed*100_000_000
		held := map[string][][2]string{} // per policy: the lease ids on the engine and on Redis
		for step := 0; step < 250; step++ {
			now += int64(rng.Intn(400))
			p := []string{"g", "a", "u"}[rng.Intn(3)]
			where := fmt.Sprintf("seed %d step %d (%s, +%d)", seed, step, p, now-t0)
			switch op := rng.Intn(10); {
			case op < 5:
				ae, err1 := eng.door.Admit(ctx, p, "k", 1, now)
				ar, err2 := red.door.Admit(ctx, p, "k", 1, now)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: admit: %v / %v", where, err1, err2)
				}
				if ae.Decision != ar.Decision || ae.LeaseExpiresAt != ar.LeaseExpiresAt || ae.BindingAxis != ar.BindingAxis ||
					(ae.LeaseID == "") != (ar.LeaseID == "") {
					t.Fatalf("%s: admit differs:\nengine %+v\nredis  %+v", where, ae, ar)
				}
				if ae.LeaseID != "" {
					held[p] = append(held[p], [2]string{ae.LeaseID, ar.LeaseID})
				}
			case op < 8 && len(held[p]) > 0:
				i := rng.Intn(len(held[p]))
				ids := held[p][i]
				held[p] = append(held[p][:i], held[p][i+1:]...)
				dropped := rng.Intn(4) == 0
				if err1, err2 := eng.door.Release(ctx, p, "k", ids[0], dropped, now), red.door.Release(ctx, p, "k", ids[1], dropped, now); err1 != nil || err2 != nil {
					t.Fatalf("%s: release: %v / %v", where, err1, err2)
				}
			default:
				var ie, ir []string
				for _, ids := range held[p] {
					if rng.Intn(2) == 0 {
						ie, ir = append(ie, ids[0]), append(ir, ids[1])
					}
				}
				he, err1 := eng.door.Heartbeat(ctx, p, "k", ie, now)
				hr, err2 := red.door.Heartbeat(ctx, p, "k", ir, now)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: heartbeat: %v / %v", where, err1, err2)
				}
				if he.NextDeadline != hr.NextDeadline || len(he.Live) != len(hr.Live) || len(he.Reclaimed) != len(hr.Reclaimed) {
					t.Fatalf("%s: heartbeat differs:\nengine %+v\nredis  %+v", where, he, hr)
				}
			}
			if ee, er := eng.estimate(t, guards[p]), red.estimate(t, guards[p]); ee != er {
				t.Fatalf("%s: estimate %.17g on the engine, %.17g on Redis", where, ee, er)
			}
		}
		for p, list := range held {
			for _, ids := range list {
				_ = eng.door.Release(ctx, p, "k", ids[0], false, now)
				_ = red.door.Release(ctx, p, "k", ids[1], false, now)
			}
		}
	}
}

// A guard's key expires on both stores: a day after its last write for an adaptive estimate,
// a minute (plus the lease TTL) for a pinned ceiling, so that per-key guards do not pile up.
func TestAdmissionGuardsExpire(t *testing.T) {
	yaml := "limiters:\n  g: { concurrency: {} }\n  p: { concurrency: { minLimit: 2, maxLimit: 2, scope: key } }\n"
	doors := admissionDoors(t, yaml)
	for _, d := range doors {
		for _, p := range []string{"g", "p"} {
			if _, err := d.door.Admit(ctx, p, "k", 1, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range doors {
		for guard, want := range map[string]int64{"g\x00admission": 2000 + 86_400_000, "p:k\x00admission": 2000 + 60_000} {
			if ttl := d.pttl(guard); ttl <= want-5000 || ttl > want {
				t.Errorf("%s: %q expires in %d ms, want about %d", d.name, guard, ttl, want)
			}
		}
	}
}
