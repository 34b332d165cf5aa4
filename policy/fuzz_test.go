package policy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleFile))
	f.Add([]byte("defaults: { prefix: p }\nlimiters:\n  a: { strategy: gcra, limit: 1.0, periodMs: \"1.5s\", prefix: \"\" }\n"))
	f.Add([]byte("limiters:\n  b: &b { strategy: slidingWindow, limit: 9, windowMs: 2m, buckets: 1000 }\n  c: { <<: *b, prefix: c2 }\n"))
	f.Add([]byte("limiters:\n  q: { federated: {} }\n  x: { concurrency: 1, prefix: x }\ncapture: {}\n"))
	f.Add([]byte("limiters: { a: { strategy: gcra, limit: -3, burst: .nan, period: 1.0005s } }\n"))
	f.Add([]byte("a: &a [*a]\nlimiters: *a\n"))
	f.Add([]byte("limiters:\n  x: { strategy: gcra, limit: 1, period: 1s }\n  y: { strategy: fixedWindow, limit: 1, period: 1s, prefix: \"x:y\" }\n"))
	f.Add([]byte("limiters:\n  a: { strategy: gcra, limit: 1, period: 1s, prefix: auth }\n  r: { prefix: \"\", tokenBudget: { budget: 9007199254740991, windowMs: 9007199254740991 } }\n"))
	f.Add([]byte("limiters:\n  u: { strategy: tokenBucket, capacity: 9007199254740991, refillPerSec: 2000, prefix: \"u:\" }\n  v: { strategy: slidingWindow, limit: 1, windowMs: 2251799813685248, buckets: 1, prefix: \"u::\" }\n"))
	f.Add([]byte("limiters:\n  m: { strategy: quota, limit: 5, resetCadence: calendar-week, offsetMinutes: -840, weekStartsOn: 0 }\n" +
		"  f: { strategy: quota, limit: 9, resetCadence: fixed, period: 1h, anchor: -4503599627370496, windowMs: 1 }\n" +
		"  r: { strategy: quota, limit: 9, resetCadence: rolling, periodMs: 2251799813685248, buckets: 1 }\n"))
	f.Add([]byte("limiters:\n  g: { strategy: gcra, limit: 2, period: 1ms, burst: 9007199254740991 }\n  l: { strategy: slidingWindowLog, limit: 10000, windowMs: 4503599627370496 }\n"))
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
	var live []*Policy
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
		if err := checkFormulas(p); err != nil {
			return fmt.Errorf("policy %q %+v: %v", name, *p, err)
		}
		live = append(live, p)
	}
	return checkKeys(live)
}

// checkKeys verifies that every key a policy builds belongs to that policy alone: no other
// policy of the set builds the same Redis key from any key of its own (a key is any byte
// string of at most MaxKeyBytes bytes without NUL). The keys tried are those that would
// reach into another policy's space: each tail of another prefix after a ":".
func checkKeys(live []*Policy) error {
	const ns = "ns"
	probes := []string{"", "K"}
	if len(live) <= 40 {
		for _, q := range live {
			if len(q.Prefix) > 200 {
				continue
			}
			space := q.Prefix + ":"
			for i := 0; i < len(space); i++ {
				if i == 0 || space[i-1] == ':' {
					probes = append(probes, space[i:]+"K")
				}
			}
		}
	}
	for _, p := range live {
		for _, key := range probes {
			full := p.RedisKey(ns, key)
			for _, q := range live {
				head := ns + ":"
				if q.Prefix != "" {
					head += q.Prefix + ":"
				}
				rest, ok := strings.CutPrefix(full, head)
				if !ok || len(rest) > MaxKeyBytes || strings.IndexByte(rest, 0) >= 0 {
					continue
				}
				if q != p {
					return fmt.Errorf("policy %q's key %q is policy %q's key %q (Redis key %q)", p.Name, key, q.Name, rest, full)
				}
				if rest != key {
					return fmt.Errorf("policy %q: Redis key %q does not give back key %q", p.Name, full, key)
				}
			}
		}
	}
	return nil
}

// checkFormulas evaluates, in doubles as the Lua scripts do, the largest values a policy's
// decisions, TTLs and stored integers can take at a clock of up to ClockHorizonMs, and
// requires each to be a finite number in [0, MaxSafeInteger]; for gcra, it also requires
// that one emission interval is not lost when added to a clock just below the horizon.
// value is one quantity checkFormulas bounds.
type value struct {
	name string
	v    float64
}

func checkFormulas(p *Policy) error {
	const now = float64(ClockHorizonMs)
	var vals []value
	switch p.Strategy {
	case GCRA:
		t := float64(p.PeriodMs) / float64(p.Limit)
		tau := t * float64(p.Burst)
		if (now-1)+t == now-1 {
			return fmt.Errorf("interval %g ms vanishes at the clock horizon", t)
		}
		vals = []value{{"tat", math.Ceil(now + tau + t)}, {"remaining", math.Floor(tau / t)}, {"retry", math.Ceil(tau + t)}}
	case TokenBucket:
		r := p.RefillPerSec / 1000
		full := math.Ceil(float64(p.Capacity) / r)
		vals = []value{{"ttl", full}, {"resetAt", now + full}, {"retry", math.Ceil(1 / r)}}
	case SlidingWindow:
		w := float64(p.WindowMs) / float64(p.Buckets)
		c := math.Floor(now / w)
		vals = []value{{"bucket index", c + 1}, {"resetAt", math.Ceil((c+1)*w + float64(p.WindowMs))}, {"ttl", math.Ceil(float64(p.WindowMs) + w)}}
	case SlidingWindowLog:
		vals = []value{{"resetAt", math.Ceil(now + float64(p.WindowMs))}}
	case FixedWindow, TokenBudget:
		w := float64(p.WindowMs)
		vals = []value{{"resetAt", math.Floor(now/w)*w + w}}
	case Quota:
		vals = quotaFormulas(p, now)
	}
	for _, v := range vals {
		if !(v.v >= 0 && v.v <= MaxSafeInteger) {
			return fmt.Errorf("%s reaches %g", v.name, v.v)
		}
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
	if p.Strategy == Quota {
		return checkQuota(p)
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
