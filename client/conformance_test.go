package client_test

import (
	"fmt"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/golden"
)

// Every golden-vector op through RedisBackend -> Lua -> Redis, all five fields compared.
func TestGoldenVectorsRateLimit(t *testing.T) {
	suites := golden.Load(t).Of("rateLimit")
	if len(suites) == 0 {
		t.Fatal("no rateLimit suites in the golden vectors")
	}
	for _, s := range suites {
		t.Run(s.Name, func(t *testing.T) {
			fields := map[string]any{"strategy": s.Strategy.Kind}
			for k, v := range s.Strategy.Options {
				fields[k] = v
			}
			b, _ := openBackend(t, policyYAML(fields))
			for i, op := range s.Ops {
				got, err := b.CheckAt(ctx, "p", s.Key, op.Cost, op.Now+golden.RateLimitOffsetMs)
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				compare(t, i, got, op.Expect, golden.RateLimitOffsetMs)
			}
		})
	}
}

func TestGoldenVectorsTokenBudget(t *testing.T) {
	suites := golden.Load(t).Of("tokenBudget")
	if len(suites) == 0 {
		t.Fatal("no tokenBudget suites in the golden vectors")
	}
	for _, s := range suites {
		t.Run(s.Name, func(t *testing.T) {
			budget, window := s.Options["budget"].(float64), s.Options["windowMs"].(float64)
			b, _ := openBackend(t, budgetYAML(int64(budget), int64(window)))
			key := s.Key
			if key == "" {
				key = "k"
			}
			for i, op := range s.Ops {
				got, err := b.DebitAt(ctx, "p", key, op.Tokens, op.Now+golden.TokenBudgetOffsetMs)
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				compare(t, i, got, op.Expect, golden.TokenBudgetOffsetMs)
			}
		})
	}
}

func compare(t *testing.T, i int, got client.Decision, want golden.Expect, offset int64) {
	t.Helper()
	w := client.Decision{Allowed: want.Allowed, Limit: want.Limit, Remaining: want.Remaining,
		ResetAt: want.ResetAt + offset, RetryAfterMs: want.RetryAfterMs}
	if got != w {
		t.Errorf("op %d:\n got  %s\n want %s", i, show(got), show(w))
	}
}

func show(d client.Decision) string {
	return fmt.Sprintf("{allowed:%v limit:%d remaining:%d resetAt:%d retryAfterMs:%d synthesized:%v}",
		d.Allowed, d.Limit, d.Remaining, d.ResetAt, d.RetryAfterMs, d.Synthesized)
}
