package policy

import (
	"strings"
	"testing"
)

func TestTwoTierBlock(t *testing.T) {
	s := mustParse(t, `limiters:
  leased: { strategy: gcra, limit: 1000, period: 1m, burst: 100,
            twoTier: { mode: leased, batch: 50, windowCoupled: true, lowWater: 5, returnIdleAfterMs: 30s } }
  strict: { strategy: fixedWindow, limit: 10, period: 1s, twoTier: { mode: strict } }
  deny:   { strategy: tokenBucket, capacity: 5, refillPerSec: 1, twoTier: { mode: cached-deny } }
  plain:  { strategy: gcra, limit: 1, period: 1s }
`)
	got := *lookup(t, s, "leased").TwoTier
	want := TwoTier{Mode: ModeLeased, Batch: 50, LowWater: 5, WindowCoupled: true, ReturnIdleAfterMs: 30000}
	if got != want {
		t.Errorf("leased: %+v; want %+v", got, want)
	}
	if p := lookup(t, s, "leased"); p.Strategy != GCRA || p.Burst != 100 || p.Unsupported != "" {
		t.Errorf("leased strategy fields: %+v", *p)
	}
	if tt := lookup(t, s, "strict").TwoTier; tt.Mode != ModeStrict || tt.Local() {
		t.Errorf("strict: %+v local=%v", *tt, tt.Local())
	}
	if tt := lookup(t, s, "deny").TwoTier; tt.Mode != ModeCachedDeny || !tt.Local() {
		t.Errorf("cached-deny: %+v", *tt)
	}
	if lookup(t, s, "plain").TwoTier.Local() {
		t.Error("a plain policy is not local")
	}
}

func TestTwoTierBlockProblems(t *testing.T) {
	cases := []struct{ block, want string }{
		{`{ mode: lazy, batch: 1 }`, `config.limiters[x].twoTier.mode: must be strict, cached-deny or leased, got "lazy"`},
		{`{ mode: leased }`, `config.limiters[x].twoTier.batch: is required for mode leased`},
		{`{}`, `config.limiters[x].twoTier.batch: is required for mode leased`},
		{`{ batch: 0.5 }`, `config.limiters[x].twoTier.batch: must be a whole number >= 1, got 0.5`},
		{`{ batch: 2, lowWater: -1 }`, `config.limiters[x].twoTier.lowWater: must be a whole number in`},
		{`{ batch: 2, windowCoupled: "yes" }`, `config.limiters[x].twoTier.windowCoupled: must be true or false`},
		{`{ batch: 2, returnIdleAfterMs: 0 }`, `config.limiters[x].twoTier.returnIdleAfterMs:`},
		{`{ batch: 2, lease: { adaptive: true } }`, `config.limiters[x].twoTier.lease: unknown field in a twoTier block`},
		{`leased`, `config.limiters[x].twoTier: must be a mapping`},
	}
	for _, c := range cases {
		yaml := "limiters:\n  x: { strategy: fixedWindow, limit: 10, period: 1s, twoTier: " + c.block + " }\n"
		_, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.block, err, c.want)
		}
	}
}

func TestTwoTierBatchBeyondOneCheckWarns(t *testing.T) {
	s := mustParse(t, "limiters:\n  x: { strategy: gcra, limit: 100, period: 1s, burst: 10, twoTier: { batch: 11 } }\n")
	w := strings.Join(s.Warnings(), "\n")
	if !strings.Contains(w, "config.limiters[x].twoTier.batch: 11 is more than one check of this gcra policy can ever admit (10)") {
		t.Errorf("warnings = %q", w)
	}
}

func TestFederatedBlock(t *testing.T) {
	s := mustParse(t, `limiters:
  global: { strategy: fixedWindow, limit: 10000, period: 1m, federated: { batch: 8, region: eu-west } }
  sliding: { strategy: slidingWindow, limit: 10, period: 1s, federated: { prefix: fed2 } }
  monthly: { strategy: quota, limit: 10, resetCadence: fixed, period: 1h, federated: {} }
`)
	g := lookup(t, s, "global")
	if *g.Federated != (Federated{Batch: 8, Region: "eu-west", Prefix: "tk:fed"}) || g.FederationWindowMs() != 60000 {
		t.Errorf("global: %+v window %d", *g.Federated, g.FederationWindowMs())
	}
	if f := lookup(t, s, "sliding").Federated; *f != (Federated{Batch: 16, Prefix: "fed2"}) {
		t.Errorf("sliding: %+v", *f)
	}
	if p := lookup(t, s, "monthly"); p.FederationWindowMs() != 3_600_000 {
		t.Errorf("monthly window = %d", p.FederationWindowMs())
	}
	if w := strings.Join(s.Warnings(), "\n"); !strings.Contains(w, `policies "global" and "monthly" are both federated under prefix "tk:fed"`) {
		t.Errorf("warnings = %q; want the shared coordinator prefix named", w)
	}
}

func TestFederatedBlockProblems(t *testing.T) {
	cases := []struct{ policy, want string }{
		{`{ strategy: gcra, limit: 1, period: 1s, federated: {} }`, `config.limiters[x].federated: needs a windowed strategy`},
		{`{ strategy: quota, limit: 1, resetCadence: calendar-day, federated: {} }`, `config.limiters[x].federated: needs a windowed strategy`},
		{`{ strategy: fixedWindow, limit: 1, period: 1s, federated: { batch: 0 } }`, `config.limiters[x].federated.batch: must be a whole number >= 1`},
		{`{ strategy: fixedWindow, limit: 1, period: 1s, federated: { region: 3 } }`, `config.limiters[x].federated.region: must be a string`},
		{`{ strategy: fixedWindow, limit: 1, period: 1s, federated: { owner: me } }`, `config.limiters[x].federated.owner: unknown field in a federated block`},
		{`{ strategy: fixedWindow, limit: 1, period: 1s, federated: {}, twoTier: { batch: 1 } }`, `may declare at most one of`},
		{`{ federated: {} }`, `config.limiters[x]: needs a strategy`},
	}
	for _, c := range cases {
		_, err := Parse([]byte("limiters:\n  x: " + c.policy + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.policy, err, c.want)
		}
	}
}

func TestWindowMsAt(t *testing.T) {
	s := mustParse(t, `limiters:
  g: { strategy: gcra, limit: 10, period: 1m }
  tb: { strategy: tokenBucket, capacity: 10, refillPerSec: 3 }
  fw: { strategy: fixedWindow, limit: 1, windowMs: 5s }
  m: { strategy: quota, limit: 1, resetCadence: calendar-month }
  d: { strategy: quota, limit: 1, resetCadence: calendar-day }
  meter: { tokenBudget: { budget: 5, windowMs: 1h } }
`)
	march1 := int64(1_772_323_200_000) // 2026-03-01T00:00:00Z: February 2026 has 28 days
	for name, want := range map[string]int64{"g": 60000, "tb": 3334, "fw": 5000, "m": 28 * 86_400_000, "d": 86_400_000, "meter": 3_600_000} {
		if got := lookup(t, s, name).WindowMsAt(march1); got != want {
			t.Errorf("%s: %d; want %d", name, got, want)
		}
	}
}
