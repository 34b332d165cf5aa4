package client_test

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/golden"
)

// openEngine opens an EngineBackend closed at the end of the test.
func openEngine(t testing.TB, yaml string, opts client.EngineOptions) *client.EngineBackend {
	t.Helper()
	b, err := client.OpenEngine([]byte(yaml), opts)
	if err != nil {
		t.Fatalf("OpenEngine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Every golden-vector op through EngineBackend -> the same Lua -> the embedded engine, all
// five fields compared, with the offsets the Redis door's conformance test uses.
func TestEngineGoldenVectorsRateLimit(t *testing.T) {
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
			b := openEngine(t, policyYAML(fields), client.EngineOptions{})
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

func TestEngineGoldenVectorsTokenBudget(t *testing.T) {
	suites := golden.Load(t).Of("tokenBudget")
	if len(suites) == 0 {
		t.Fatal("no tokenBudget suites in the golden vectors")
	}
	for _, s := range suites {
		t.Run(s.Name, func(t *testing.T) {
			budget, window := s.Options["budget"].(float64), s.Options["windowMs"].(float64)
			b := openEngine(t, budgetYAML(int64(budget), int64(window)), client.EngineOptions{})
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
