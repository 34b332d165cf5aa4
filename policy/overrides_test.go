package policy

import (
	"strings"
	"testing"
)

func TestOverridesBlock(t *testing.T) {
	s := mustParse(t, `limiters:
  tiers:
    strategy: fixedWindow
    limit: 2
    windowMs: 1h
    overrides:
      vip: unlimited        # never limited, never counted
      banned: deny          # always denied, never counted
      gold: { limit: 4 }    # the strategy's fields, replaced for this key
      silver: { period: 2h }
      "team-*": { limit: 3 }
      "*": { limit: 9 }
      "team-a": deny
  g:  { strategy: gcra, limit: 2, period: 1s, overrides: { a: { limit: 5 }, b: { burst: 7 }, c: { windowMs: 2s } } }
  gb: { strategy: gcra, limit: 2, period: 1s, burst: 3, overrides: { a: { limit: 5 } } }
  tb: { strategy: tokenBucket, capacity: 2, refillPerSec: 1, overrides: { a: { refillPerSec: 0.25 } } }
  sw: { strategy: slidingWindow, limit: 2, windowMs: 1s, overrides: { a: { buckets: 4 } } }
  e:  { strategy: slidingWindowLog, limit: 2, windowMs: 1s, overrides: {} }
  n:  { strategy: slidingWindowLog, limit: 2, windowMs: 1s, overrides: }
  plain: { strategy: fixedWindow, limit: 2, windowMs: 1h, prefix: pl }
`)
	tiers := lookup(t, s, "tiers")
	for key, want := range map[string]string{
		"vip": "unlimited", "banned": "deny", "gold": "limit=4", "silver": "windowMs=7200000",
		"team-x": "limit=3", "team-a": "deny", "x": "limit=9", "": "limit=9",
	} {
		if got := tiers.Overrides.For(key); got != want {
			t.Errorf("tiers %q: %q, want %q", key, got, want)
		}
	}
	for name, cases := range map[string]map[string]string{
		"g":  {"a": "limit=5,burst=5", "b": "burst=7", "c": "periodMs=2000", "z": ""},
		"gb": {"a": "limit=5"},
		"tb": {"a": "refillPerSec=0.25"},
		"sw": {"a": "buckets=4"},
		"e":  {"a": ""},
		"n":  {"a": ""},
	} {
		p := lookup(t, s, name)
		if !p.HasOverrides() {
			t.Errorf("%s: no overrides", name)
		}
		for key, want := range cases {
			if got := p.Overrides.For(key); got != want {
				t.Errorf("%s %q: %q, want %q", name, key, got, want)
			}
		}
	}
	if lookup(t, s, "plain").HasOverrides() {
		t.Error("plain has overrides")
	}
	for spec, want := range map[string]string{
		"unlimited": "unlimited", "deny": "deny", "limit=4": "limit=4", "windowMs=1h,limit=7": "limit=7,windowMs=3600000",
		"period=2h": "windowMs=7200000",
	} {
		if got, err := tiers.OverrideSpec(spec); err != nil || got != want {
			t.Errorf("OverrideSpec(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	if got, err := lookup(t, s, "g").OverrideSpec("limit=6"); err != nil || got != "limit=6,burst=6" {
		t.Errorf("gcra OverrideSpec(limit=6) = %q, %v; want the defaulted burst to follow", got, err)
	}
	for spec, want := range map[string]string{
		"":                 "an empty spec",
		"limit=0":          "limit: must be a whole number >= 1",
		"burst=3":          "name=value pairs of limit, period, windowMs",
		"limit=4,":         "want unlimited, deny, or name=value pairs",
		"limit=4}, a: {":   "want unlimited, deny, or name=value pairs",
		"limit=1,limit=2":  "duplicate key",
		"windowMs=1.0005s": "whole number of milliseconds",
		"prefix=x":         "want unlimited, deny",
	} {
		if _, err := tiers.OverrideSpec(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OverrideSpec(%q): %v; want %q", spec, err, want)
		}
	}
	if _, err := lookup(t, s, "plain").OverrideSpec("deny"); err == nil || !strings.Contains(err.Error(), "has no overrides block") {
		t.Errorf("OverrideSpec on a policy without the block: %v", err)
	}
}

func TestOverridesBlockProblems(t *testing.T) {
	cases := []struct{ policy, want string }{
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: { limit: 0 } } }`, `config.limiters[x].overrides.a.limit: must be a whole number >= 1`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: { burst: 3 } } }`, `config.limiters[x].overrides.a.burst: unknown field for a fixedWindow override`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: { prefix: b } } }`, `overrides.a.prefix: unknown field`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: {} } }`, `config.limiters[x].overrides.a: names no field`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: allow } }`, `config.limiters[x].overrides.a: must be unlimited, deny, or a mapping`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: [a] }`, `config.limiters[x].overrides: must be a mapping`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { a: { limit: 1, limit: 2 } } }`, `duplicate key`},
		{`{ strategy: slidingWindowLog, limit: 2, windowMs: 1h, overrides: { a: { limit: 20000 } } }`, `overrides.a.limit: must be at most 10,000`},
		{`{ strategy: slidingWindow, limit: 2, windowMs: 1h, overrides: { a: { buckets: 2000 } } }`, `overrides.a.buckets: must be at most 1,000`},
		{`{ strategy: gcra, limit: 2, period: 1s, burst: 3, overrides: { a: { period: 1s, windowMs: 2s } } }`, `give only one of`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, twoTier: { mode: strict }, overrides: {} }`, `config.limiters[x].overrides: cannot sit beside a twoTier block`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, federated: { batch: 2 }, overrides: {} }`, `cannot sit beside a federated block`},
		{`{ strategy: fixedWindow, limit: 2, windowMs: 1h, concurrency: { maxConcurrent: 2 }, overrides: {} }`, `config.limiters[x].overrides: cannot sit beside a concurrency block`},
		{`{ strategy: quota, limit: 2, resetCadence: calendar-month, overrides: {} }`, `a quota policy takes no overrides`},
		{`{ tokenBudget: { budget: 2, windowMs: 1h }, overrides: {} }`, `unknown field beside a tokenBudget block`},
	}
	for _, c := range cases {
		_, err := Parse([]byte("limiters:\n  x: " + c.policy + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.policy, err, c.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		glob, key string
		want      bool
	}{
		{"a*", "a", true}, {"a*", "ab", true}, {"a*", "ba", false}, {"*b", "ab", true}, {"*", "", true},
		{"a*b*c", "abc", true}, {"a*b*c", "axbyc", true}, {"a*b*c", "acb", false}, {"a*a", "a", false},
		{"a*a", "aa", true}, {"x", "x", true}, {"x", "xy", false}, {"**", "q", true}, {"a?", "ab", false},
	} {
		if got := globMatch(c.glob, c.key); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.glob, c.key, got)
		}
	}
}
