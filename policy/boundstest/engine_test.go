package boundstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/policy"
)

const maxSafe = policy.MaxSafeInteger

type boundCase struct{ name, field, policy string }

// boundCases reads the policy package's table of bounds (see its header).
func boundCases(t *testing.T) []boundCase {
	t.Helper()
	data, err := os.ReadFile("../testdata/bounds.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []boundCase
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("bad line %q", line)
		}
		c := boundCase{strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), strings.TrimSpace(parts[2])}
		if c.field == "-" {
			c.field = ""
		}
		out = append(out, c)
	}
	return out
}

// The bounds are sufficient, not just present: every accepted extreme policy, run by the
// embedded engine (the Lua files Redis runs) at the horizon's clock, today's and the
// earliest, then the horizon's again (a clock that jumps back and forth), answers every
// call without error and with every field in [0, 2^53 − 1]. A policy outside a bound must
// not even open; if it does (as before the bounds), its answers are checked all the same,
// which shows what the bound prevents.
func TestBoundsEngine(t *testing.T) {
	ctx := context.Background()
	clocks := []int64{policy.ClockHorizonMs, 1_700_000_000_000, 1, policy.ClockHorizonMs - 1}
	for _, c := range boundCases(t) {
		t.Run(c.name, func(t *testing.T) {
			src := []byte("limiters:\n  p: " + c.policy + "\n")
			b, err := client.OpenEngine(src, client.EngineOptions{})
			switch {
			case c.field != "" && err == nil:
				t.Errorf("opened; want ErrConfig naming %s", c.field)
			case c.field != "" && errors.Is(err, client.ErrConfig):
				return
			case err != nil:
				t.Fatalf("OpenEngine: %v", err)
			}
			defer b.Close()
			set, err := policy.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := set.Lookup("p")
			for _, cost := range costsFor(p) {
				key := fmt.Sprint("k", cost)
				for _, now := range clocks {
					inRange := func(what string, vals ...int64) {
						t.Helper()
						for _, v := range vals {
							if v < 0 || v > maxSafe {
								t.Errorf("%s, cost %d at %d: %v has a value outside [0, 2^53-1]", what, cost, now, vals)
								return
							}
						}
					}
					if p.IsMeter() {
						d, err := b.DebitAt(ctx, "p", key, cost, now)
						if err != nil {
							t.Fatalf("DebitAt cost %d at %d: %v", cost, now, err)
						}
						inRange("DebitAt", d.Limit, d.Remaining, d.ResetAt, d.RetryAfterMs)
					} else {
						for range 2 {
							d, err := b.CheckAt(ctx, "p", key, cost, now)
							if err != nil {
								t.Fatalf("CheckAt cost %d at %d: %v", cost, now, err)
							}
							inRange("CheckAt", d.Limit, d.Remaining, d.ResetAt, d.RetryAfterMs)
						}
						f, err := b.ForecastAt(ctx, "p", key, cost, now)
						if err != nil {
							t.Fatalf("ForecastAt cost %d at %d: %v", cost, now, err)
						}
						inRange("ForecastAt", f.SpendableNow, f.NextReplenishAt, f.FullAt)
					}
					d, err := b.PeekAt(ctx, "p", key, now)
					if err != nil {
						t.Fatalf("PeekAt at %d: %v", now, err)
					}
					inRange("PeekAt", d.Limit, d.Remaining, d.ResetAt, d.RetryAfterMs)
				}
			}
		})
	}
}

// costsFor lists the costs a policy is run with: 1, and its ceiling, the most one call can
// ever be granted (for slidingWindowLog at most 10,000, its cap). For gcra and tokenBucket
// a cost above the ceiling is never admitted and its retryAfterMs grows with the cost
// (period / limit × cost, or cost / rate), which no policy bound can contain: those are
// left out. The other strategies' answers do not grow with the cost: they also run at
// 2^53 − 1.
func costsFor(p *policy.Policy) []int64 {
	costs := []int64{1}
	if c := p.ReportedLimit(); c > 1 {
		costs = append(costs, c)
	}
	if p.Strategy != policy.GCRA && p.Strategy != policy.TokenBucket && p.ReportedLimit() != maxSafe {
		costs = append(costs, maxSafe)
	}
	return costs
}

// The shortest interval gcra accepts still counts near the clock horizon: at 1,024 cells
// per ms with no burst, a second cell in the same instant is denied. At 4,096 per ms, which
// the bound refuses, the interval (2^-12 ms) would be lost in the addition and every cell
// would pass.
func TestShortestIntervalCounts(t *testing.T) {
	ctx := context.Background()
	now := int64(policy.ClockHorizonMs - 1)
	open := func(limit int64) (*client.EngineBackend, error) {
		src := fmt.Sprintf("limiters:\n  p: { strategy: gcra, limit: %d, period: 1ms, burst: 1 }\n", limit)
		return client.OpenEngine([]byte(src), client.EngineOptions{})
	}
	secondPasses := func(b *client.EngineBackend) bool {
		var allowed []bool
		for range 2 {
			d, err := b.CheckAt(ctx, "p", "k", 1, now)
			if err != nil {
				t.Fatal(err)
			}
			allowed = append(allowed, d.Allowed)
		}
		return allowed[0] && allowed[1]
	}
	b, err := open(1024)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if secondPasses(b) {
		t.Error("1,024 per ms: two cells passed in one instant with burst 1")
	}
	if b, err := open(4096); err == nil {
		defer b.Close()
		t.Errorf("4,096 per ms loaded (and a second cell in the same instant passes: %v)", secondPasses(b))
	}
}
