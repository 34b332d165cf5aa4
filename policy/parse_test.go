package policy

import (
	"slices"
	"strings"
	"testing"
)

// exampleFile is the schema example of policies.md, verbatim.
const exampleFile = `version: 1                 # optional, informational
limiters:
  api:    { strategy: gcra, limit: 100, period: 1m, burst: 20 }
  login:  { strategy: slidingWindowLog, limit: 5, windowMs: 15m, prefix: auth }
  upload: { strategy: tokenBucket, capacity: 10, refillPerSec: 2 }
  hourly: { strategy: fixedWindow, limit: 1000, period: 1h }
  search: { strategy: slidingWindow, limit: 50, windowMs: 10s, buckets: 10 }
  llm:
    tokenBudget:
      budget: 100000
      windowMs: 3600000
`

func TestParseSpecExample(t *testing.T) {
	s := mustParse(t, exampleFile)
	want := []Policy{
		{Name: "api", Strategy: GCRA, Limit: 100, Burst: 20, PeriodMs: 60000, Prefix: "api"},
		{Name: "login", Strategy: SlidingWindowLog, Limit: 5, WindowMs: 900000, Prefix: "auth"},
		{Name: "upload", Strategy: TokenBucket, Capacity: 10, RefillPerSec: 2, Prefix: "upload"},
		{Name: "hourly", Strategy: FixedWindow, Limit: 1000, WindowMs: 3600000, Prefix: "hourly"},
		{Name: "search", Strategy: SlidingWindow, Limit: 50, WindowMs: 10000, Buckets: 10, Prefix: "search"},
		{Name: "llm", Strategy: TokenBudget, Budget: 100000, WindowMs: 3600000, MaxKeys: 100000, Prefix: "llm"},
	}
	for _, w := range want {
		if got := lookup(t, s, w.Name); *got != w {
			t.Errorf("policy %s:\n got %+v\nwant %+v", w.Name, *got, w)
		}
	}
	if got := s.Names(); !slices.Equal(got, []string{"api", "hourly", "llm", "login", "search", "upload"}) {
		t.Errorf("Names() = %v", got)
	}
	if s.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(want))
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("unexpected warnings %q", w)
	}
	if p, ok := s.Lookup("nope"); ok || p != nil {
		t.Errorf("Lookup of an unknown name = %v, %v", p, ok)
	}
	if !lookup(t, s, "llm").IsMeter() || lookup(t, s, "api").IsMeter() {
		t.Error("IsMeter wrong")
	}
}

func TestDefaultsFilledIn(t *testing.T) {
	s := mustParse(t, `limiters:
  g: { strategy: gcra, limit: 7, periodMs: 1000 }
  g2: { strategy: gcra, limit: 7, windowMs: "2s" }
  sw: { strategy: slidingWindow, limit: 3, period: 1s }
`)
	if p := lookup(t, s, "g"); p.Burst != 7 || p.PeriodMs != 1000 || p.WindowMs != 0 {
		t.Errorf("g = %+v; want burst defaulting to limit and periodMs 1000", *p)
	}
	if p := lookup(t, s, "g2"); p.PeriodMs != 2000 {
		t.Errorf("g2 = %+v; want gcra windowMs read as the period", *p)
	}
	if p := lookup(t, s, "sw"); p.Buckets != 10 || p.WindowMs != 1000 {
		t.Errorf("sw = %+v; want buckets 10 by default", *p)
	}
}

func TestNumberSpellings(t *testing.T) {
	s := mustParse(t, `limiters:
  a: { strategy: gcra, limit: 10.0, period: 1000.0, burst: 0x10 }
  b: { strategy: tokenBucket, capacity: 1_000, refillPerSec: 0.5 }
`)
	if p := lookup(t, s, "a"); p.Limit != 10 || p.PeriodMs != 1000 || p.Burst != 16 {
		t.Errorf("a = %+v", *p)
	}
	if p := lookup(t, s, "b"); p.Capacity != 1000 || p.RefillPerSec != 0.5 {
		t.Errorf("b = %+v", *p)
	}
}

func TestIgnoredBlocksWarn(t *testing.T) {
	s := mustParse(t, `capture: { sink: file }
limiters:
  a: { strategy: fixedWindow, limit: 1, windowMs: 1000 }
replay:
  - anything
`)
	w := s.Warnings()
	if len(w) != 2 || !strings.HasPrefix(w[0], "config.capture: ignored") || !strings.HasPrefix(w[1], "config.replay: ignored") {
		t.Errorf("warnings = %q", w)
	}
	if s.Len() != 1 {
		t.Errorf("Len() = %d", s.Len())
	}
}

func TestUnsupportedFeaturesLoad(t *testing.T) {
	s := mustParse(t, `limiters:
  api: { strategy: gcra, limit: 5, period: 1s }
  pool:
    distributedConcurrency: { max: 3, whatever: [1, 2] }
  fleet: { federatedFairEscrow: { anything: goes }, prefix: api }
  tiers: { fairEscrow: {} }
`)
	cases := []struct{ name, feature string }{{"pool", "distributedConcurrency"}, {"fleet", "federatedFairEscrow"}, {"tiers", "fairEscrow"}}
	for _, c := range cases {
		p := lookup(t, s, c.name)
		if p.Unsupported != c.feature || p.Strategy != "" {
			t.Errorf("%s: Unsupported=%q Strategy=%q; want %q and no strategy", c.name, p.Unsupported, p.Strategy, c.feature)
		}
		if _, ok := p.Arg("limit"); ok {
			t.Errorf("%s: Arg(limit) ok on an unsupported policy", c.name)
		}
	}
	if p := lookup(t, s, "api"); p.Unsupported != "" || p.Limit != 5 {
		t.Errorf("api = %+v", *p)
	}
	w := s.Warnings()
	if len(w) != 3 {
		t.Fatalf("warnings = %q; want one per unsupported policy", w)
	}
	for i, c := range cases {
		if !strings.Contains(w[i], `"`+c.name+`"`) || !strings.Contains(w[i], c.feature) {
			t.Errorf("warning %d = %q; want it to name %s and %s", i, w[i], c.name, c.feature)
		}
	}
}

func TestMergeKeysAndAliases(t *testing.T) {
	s := mustParse(t, `limiters:
  base: &base { strategy: gcra, limit: 10, period: 1s }
  more: { <<: *base, limit: 20, prefix: more2 }
  copy: *base
`)
	if p := lookup(t, s, "more"); p.Limit != 20 || p.PeriodMs != 1000 || p.Burst != 20 || p.Prefix != "more2" {
		t.Errorf("more = %+v; want own limit to win over the merged one", *p)
	}
	if p := lookup(t, s, "copy"); p.Limit != 10 || p.Prefix != "copy" {
		t.Errorf("copy = %+v", *p)
	}
}

func TestMultipleDocuments(t *testing.T) {
	ok := "limiters: { a: { strategy: gcra, limit: 1, period: 1s } }\n"
	mustParse(t, ok+"---\n")
	got := mustFail(t, ok+"---\nlimiters: { b: { strategy: gcra, limit: 1, period: 1s } }\n")
	if !hasProblem(got, "config", "more than one YAML document") {
		t.Errorf("got %v", got)
	}
}

func TestSetAccessorsAreCopies(t *testing.T) {
	s := mustParse(t, exampleFile)
	n := s.Names()
	n[0] = "zzz"
	if s.Names()[0] != "api" {
		t.Error("Names() exposes the Set's own slice")
	}
	var nilSet *Set
	if nilSet.Len() != 0 || nilSet.Names() != nil || nilSet.Warnings() != nil {
		t.Error("nil Set accessors")
	}
	if _, ok := nilSet.Lookup("api"); ok {
		t.Error("nil Set Lookup found something")
	}
}
