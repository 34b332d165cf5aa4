package policy

import (
	"strings"
	"testing"
)

// Admitters whose guards could be one Redis key are an error naming both; guards that can
// never meet load.
func TestGuardClashes(t *testing.T) {
	clash := []struct{ name, yaml, second string }{
		{"one prefix", "a: { concurrency: {}, prefix: p }\n  b: { concurrency: {}, prefix: p }", "b"},
		{"a guard inside a key space", "k: { concurrency: { scope: key }, prefix: api }\n  p: { concurrency: {}, prefix: \"api:x\" }", "p"},
		{"the empty key space", "k: { concurrency: { scope: key }, prefix: \"\" }\n  p: { concurrency: {}, prefix: q }", "p"},
		{"nested key spaces", "k: { concurrency: { scope: key }, prefix: a }\n  m: { concurrency: { scope: key }, prefix: \"a:b\" }", "m"},
		{"a unified policy's guard", "u: { strategy: gcra, limit: 5, period: 1s, concurrency: {}, prefix: g }\n  c: { concurrency: {}, prefix: g }", "c"},
	}
	for _, c := range clash {
		t.Run(c.name, func(t *testing.T) {
			got := mustFail(t, "limiters:\n  "+c.yaml+"\n")
			if !hasProblem(got, "config.limiters["+c.second+"].prefix", "would share a concurrency guard") {
				t.Fatalf("problems %v; want %s's prefix named", got, c.second)
			}
		})
	}
	// Never one key: different prefixes; a single guard beside the key space of its own prefix
	// ("p\x00admission" against "p:K\x00admission"); a rate limiter's keys.
	s := mustParse(t, `limiters:
  a: { concurrency: {}, prefix: p }
  k: { concurrency: { scope: key }, prefix: p }
  b: { concurrency: {}, prefix: q }
  r: { strategy: gcra, limit: 5, period: 1s, prefix: r }
  c: { concurrency: {}, prefix: r }
`)
	if s.Len() != 5 {
		t.Fatalf("%d policies", s.Len())
	}
	if w := strings.Join(s.Warnings(), "\n"); strings.Contains(w, "guard") {
		t.Errorf("warnings: %s", w)
	}
}
