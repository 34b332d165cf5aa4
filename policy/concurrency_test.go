package policy

import (
	"strings"
	"testing"
)

// The three shapes of admission.md §1: concurrency-only, pinned, and unified with a rate axis.
func TestConcurrencyBlocks(t *testing.T) {
	s := mustParse(t, `limiters:
  checkout:
    concurrency: { minLimit: 4, maxLimit: 200 }
  pinned:
    concurrency: { minLimit: 8, maxLimit: 8, scope: key }
  defaults:
    concurrency:
  api:
    strategy: gcra
    limit: 1000
    period: 1m
    burst: 100
    concurrency: { minLimit: 4, maxLimit: 64, algorithm: aimd, backoffRatio: 0.5, tolerance: 1.5 }
`)
	c := lookup(t, s, "checkout")
	if c.Strategy != "" || c.Concurrency == nil || c.Concurrency.MinLimit != 4 || c.Concurrency.MaxLimit != 200 ||
		c.Concurrency.InitialLimit != 4 || c.Concurrency.Algorithm != Gradient2 || c.Concurrency.ScopeKey {
		t.Errorf("checkout = %+v %+v", *c, c.Concurrency)
	}
	d := lookup(t, s, "defaults").Concurrency
	if d == nil || *d != (Concurrency{MinLimit: 4, MaxLimit: 512, InitialLimit: 4, Algorithm: Gradient2, RTTWindow: 100,
		Smoothing: 0.2, Tolerance: 2, BackoffRatio: 0.9}) {
		t.Errorf("defaults = %+v", d)
	}
	if p := lookup(t, s, "pinned"); !p.Concurrency.ScopeKey || p.GuardKey("ns", "k") != "ns:pinned:k\x00admission" {
		t.Errorf("pinned guard key %q", p.GuardKey("ns", "k"))
	}
	if got := lookup(t, s, "checkout").GuardKey("", "ignored"); got != "checkout\x00admission" {
		t.Errorf("checkout guard key %q", got)
	}
	api := lookup(t, s, "api")
	if api.Strategy != GCRA || api.Burst != 100 || api.Concurrency.Algorithm != AIMD || api.Concurrency.BackoffRatio != 0.5 {
		t.Errorf("api = %+v %+v", *api, api.Concurrency)
	}
	if v, ok := api.ConcurrencyArg("tolerance"); !ok || v != "1.5" {
		t.Errorf("ConcurrencyArg(tolerance) = %q, %v", v, ok)
	}
}

func TestConcurrencyBlockProblems(t *testing.T) {
	cases := []struct{ yaml, path, problem string }{
		{"c: { concurrency: { maxLimit: 2 } }", "config.limiters[c].concurrency.maxLimit", "must be a whole number >= minLimit (4), got 2"},
		{"c: { concurrency: { minLimit: 0 } }", "config.limiters[c].concurrency.minLimit", "must be a whole number >= 1"},
		{"c: { concurrency: { minLimit: 4, maxLimit: 8, initialLimit: 9 } }", "config.limiters[c].concurrency.initialLimit", "must be <= maxLimit (8), got 9"},
		{"c: { concurrency: { smoothing: 0 } }", "config.limiters[c].concurrency.smoothing", "in (0, 1]"},
		{"c: { concurrency: { backoffRatio: 1 } }", "config.limiters[c].concurrency.backoffRatio", "in [0.5, 1)"},
		{"c: { concurrency: { algorithm: vegas } }", "config.limiters[c].concurrency.algorithm", "gradient2 or aimd"},
		{"c: { concurrency: { max: 3 } }", "config.limiters[c].concurrency.max", "unknown field"},
		{"c: { concurrency: {}, limit: 3 }", "config.limiters[c].limit", "unknown field for a concurrency-only policy"},
		{"c: { concurrency: {}, tokenBudget: { budget: 1, windowMs: 1 } }", "config.limiters[c]", "may declare at most one of"},
		{"c: { strategy: gcra, period: 1s, concurrency: {} }", "config.limiters[c].limit", "is required"},
	}
	for _, c := range cases {
		_, err := Parse([]byte("limiters:\n  " + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.path+": ") || !strings.Contains(err.Error(), c.problem) {
			t.Errorf("%s: error %v; want %s: …%s…", c.yaml, err, c.path, c.problem)
		}
	}
}
