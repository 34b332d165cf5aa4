package policy

import (
	"reflect"
	"strings"
	"testing"
)

// A fleetBudget is a token budget (the same state and scripts) whose prefix sits inside the
// block and is always joined with ":", as upstream's is.
func TestFleetBudget(t *testing.T) {
	s := mustParse(t, `defaults: { prefix: "" }
limiters:
  completions:
    fleetBudget: { budget: 1000000.7, windowMs: 60000, maxKeys: 5000, prefix: completions }
  bare:
    fleetBudget: { budget: 10, windowMs: 1m }
    prefix: not-used
`)
	want := map[string]struct {
		p   Policy
		key string
	}{
		"completions": {Policy{Name: "completions", Strategy: TokenBudget, Budget: 1000000, WindowMs: 60000,
			MaxKeys: 5000, Prefix: "completions", JoinAlways: true}, "ns:completions:K"},
		"bare": {Policy{Name: "bare", Strategy: TokenBudget, Budget: 10, WindowMs: 60000, MaxKeys: 100000,
			JoinAlways: true}, "ns::K"},
	}
	for name, w := range want {
		p := lookup(t, s, name)
		if !reflect.DeepEqual(*p, w.p) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, *p, w.p)
		}
		if got := p.RedisKey("ns", "K"); got != w.key {
			t.Errorf("%s: key %q, want %q", name, got, w.key)
		}
		if v, ok := p.Arg("budget"); !ok || v != itoa(w.p.Budget) {
			t.Errorf("%s: Arg(budget) = %q, %v", name, v, ok)
		}
	}
	if w := s.Warnings(); len(w) != 1 || !strings.Contains(w[0], "config.limiters[bare].prefix: ignored") {
		t.Errorf("warnings %q; want the policy-level prefix of bare reported as ignored", w)
	}
	expectProblems(t, "limiters:\n  f:\n    fleetBudget: { budget: 10 }\n", []string{
		"config.limiters[f].fleetBudget: both `budget` and `windowMs` are required"})
	expectProblems(t, "limiters:\n  f:\n    fleetBudget: { budget: 0.5, windowMs: 10, size: 3, maxKeys: 0 }\n", []string{
		"config.limiters[f].fleetBudget.budget: must be a number >= 1, got 0.5",
		"config.limiters[f].fleetBudget.size: unknown field in a fleetBudget block; allowed: budget, windowMs, maxKeys, prefix",
		"config.limiters[f].fleetBudget.maxKeys: must be a whole number >= 1, got 0"})
	// Its keys clash like any other policy's: an empty prefix is ":" + key, which a policy
	// with an empty prefix also addresses.
	if got := mustFail(t, "limiters:\n  f:\n    fleetBudget: { budget: 1, windowMs: 10, prefix: \"\" }\n  raw: { strategy: gcra, limit: 1, period: 1s, prefix: \"\" }\n"); !hasProblem(got, "config.limiters[raw].prefix", "") {
		t.Errorf("a fleetBudget with prefix \"\" beside a raw-key policy: %v", got)
	}
}

// tokenBudget.maxKeys is accepted (upstream's per-process cache size), 100,000 by default.
func TestTokenBudgetMaxKeys(t *testing.T) {
	s := mustParse(t, "limiters:\n  a:\n    tokenBudget: { budget: 5, windowMs: 1m, maxKeys: 7 }\n  b:\n    tokenBudget: { budget: 5, windowMs: 1m }\n")
	if a, b := lookup(t, s, "a"), lookup(t, s, "b"); a.MaxKeys != 7 || b.MaxKeys != 100000 {
		t.Errorf("maxKeys %d and %d, want 7 and the default 100000", a.MaxKeys, b.MaxKeys)
	}
	expectProblems(t, "limiters:\n  a:\n    tokenBudget: { budget: 5, windowMs: 1m, maxKeys: -1 }\n", []string{
		"config.limiters[a].tokenBudget.maxKeys: must be a whole number >= 1, got -1"})
}

// Upstream blocks this project does not serve load with a warning, whatever their fields, and
// answer "unsupported"; a policy carrying two kind blocks is an error naming them.
func TestUpstreamBlocksNeverStopAFile(t *testing.T) {
	s := mustParse(t, `limiters:
  api: { strategy: gcra, limit: 5, period: 1s }
  escrow:
    fairEscrow: { tenants: { a: 1, b: 2 }, anything: [goes] }
  fed:
    federatedFairEscrow: { nodes: 3 }
  pool:
    distributedConcurrency: { max: 10, leaseMs: 2000 }
`)
	for name, feature := range map[string]string{"escrow": "fairEscrow", "fed": "federatedFairEscrow", "pool": "distributedConcurrency"} {
		if p := lookup(t, s, name); p.Unsupported != feature || p.Strategy != "" {
			t.Errorf("%s: Unsupported %q Strategy %q; want %q", name, p.Unsupported, p.Strategy, feature)
		}
	}
	if len(s.Warnings()) != 3 {
		t.Errorf("warnings %q, want one per unsupported policy", s.Warnings())
	}
	expectProblems(t, "limiters:\n  x:\n    tokenBudget: { budget: 1, windowMs: 1 }\n    twoTier: {}\n", []string{
		"config.limiters[x]: a policy may declare at most one of tokenBudget, fleetBudget, fairEscrow, federatedFairEscrow, concurrency, distributedConcurrency, twoTier or federated; this one declares tokenBudget and twoTier"})
	expectProblems(t, "limiters:\n  x:\n    fleetBudget: { budget: 1, windowMs: 1 }\n    fairEscrow: {}\n", []string{
		"config.limiters[x]: a policy may declare at most one of tokenBudget, fleetBudget, fairEscrow, federatedFairEscrow, concurrency, distributedConcurrency, twoTier or federated; this one declares fleetBudget and fairEscrow"})
}
