package policy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleFile))
	f.Add([]byte("defaults: { prefix: p }\nlimiters:\n  a: { strategy: gcra, limit: 1.0, periodMs: \"1.5s\", prefix: \"\" }\n"))
	f.Add([]byte("limiters:\n  b: &b { strategy: slidingWindow, limit: 9, windowMs: 2m, buckets: 1000 }\n  c: { <<: *b, prefix: c2 }\n"))
	f.Add([]byte("limiters:\n  q: { strategy: quota }\n  x: { concurrency: 1, prefix: x }\ncapture: {}\n"))
	f.Add([]byte("limiters: { a: { strategy: gcra, limit: -3, burst: .nan, period: 1.0005s } }\n"))
	f.Add([]byte("a: &a [*a]\nlimiters: *a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse(src)
		if err != nil {
			if s != nil {
				t.Fatalf("Set returned along with error %v", err)
			}
			problemsOf(t, err)
			return
		}
		if err := checkSet(s); err != nil {
			t.Fatalf("%v\nfile:\n%s", err, src)
		}
	})
}

// checkSet verifies what any successfully parsed Set promises.
func checkSet(s *Set) error {
	names := s.Names()
	if len(names) == 0 || len(names) != s.Len() || !slices.IsSorted(names) {
		return fmt.Errorf("names %q, Len %d", names, s.Len())
	}
	prefixes := make(map[string]string)
	for _, name := range names {
		p, ok := s.Lookup(name)
		if !ok || p.Name != name || name == "" {
			return fmt.Errorf("Lookup(%q) = %+v, %v", name, p, ok)
		}
		if err := checkPolicy(p); err != nil {
			return fmt.Errorf("policy %q %+v: %v", name, *p, err)
		}
		if p.Unsupported != "" {
			continue
		}
		if other, taken := prefixes[p.Prefix]; taken {
			return fmt.Errorf("policies %q and %q share prefix %q", other, name, p.Prefix)
		}
		prefixes[p.Prefix] = name
	}
	return nil
}

func checkPolicy(p *Policy) error {
	if p.Unsupported != "" {
		if p.Strategy != "" || !laterCore[p.Unsupported] {
			return fmt.Errorf("unsupported policy with strategy %q", p.Strategy)
		}
		return nil
	}
	want := map[Strategy][]string{
		GCRA:             {"periodMs", "limit", "burst"},
		TokenBucket:      {"capacity", "refillPerSec"},
		FixedWindow:      {"limit", "windowMs"},
		SlidingWindow:    {"limit", "windowMs", "buckets"},
		SlidingWindowLog: {"limit", "windowMs"},
		TokenBudget:      {"budget", "windowMs"},
	}[p.Strategy]
	if want == nil {
		return fmt.Errorf("strategy %q", p.Strategy)
	}
	for _, name := range argNames {
		text, ok := p.Arg(name)
		if ok != slices.Contains(want, name) {
			return fmt.Errorf("Arg(%q) ok=%v", name, ok)
		}
		if !ok {
			continue
		}
		if name == "refillPerSec" {
			v, err := strconv.ParseFloat(text, 64)
			if err != nil || v != p.RefillPerSec || !(v > 0) || math.IsInf(v, 0) {
				return fmt.Errorf("refillPerSec %q", text)
			}
			continue
		}
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v < 1 || v > MaxSafeInteger {
			return fmt.Errorf("Arg(%q) = %q", name, text)
		}
	}
	if p.Strategy == SlidingWindowLog && p.Limit > 10000 || p.Strategy == SlidingWindow && p.Buckets > 1000 {
		return fmt.Errorf("safety cap exceeded")
	}
	if p.ReportedLimit() < 1 {
		return fmt.Errorf("ReportedLimit %d", p.ReportedLimit())
	}
	return nil
}
