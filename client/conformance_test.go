package client_test

import (
	"fmt"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/golden"
)

// The stores a decision can come from: Redis (the Lua in Redis) and the embedded engine (the
// same Lua in-process). Each must reproduce the golden vectors exactly.
var stores = []struct {
	name string
	open func(t *testing.T, yaml string) client.Limiter
}{
	{"redis", func(t *testing.T, yaml string) client.Limiter { b, _ := openBackend(t, yaml); return b }},
	{"engine", func(t *testing.T, yaml string) client.Limiter { return openEngine(t, yaml, client.EngineOptions{}) }},
}

// Every golden-vector op through each store, all five fields compared.
func TestGoldenVectors(t *testing.T) {
	for _, store := range stores {
		replayGolden(t, store.name+"/", func(t *testing.T, yaml string) client.Limiter { return store.open(t, yaml) })
	}
}

// replayGolden runs every rateLimit and tokenBudget suite, each on a fresh limiter from open:
// rateLimit suites at the contract's offset through CheckAt, tokenBudget suites through DebitAt.
func replayGolden(t *testing.T, prefix string, open func(t *testing.T, yaml string) client.Limiter) {
	vectors := golden.Load(t)
	for _, primitive := range []string{"rateLimit", "tokenBudget"} {
		suites := vectors.Of(primitive)
		if len(suites) == 0 {
			t.Fatalf("no %s suites in the golden vectors", primitive)
		}
		for _, s := range suites {
			t.Run(prefix+s.Name, func(t *testing.T) {
				b := open(t, s.PolicyYAML("p"))
				for i, op := range s.Ops {
					var got client.Decision
					var err error
					offset := int64(golden.RateLimitOffsetMs)
					if primitive == "tokenBudget" {
						offset = golden.TokenBudgetOffsetMs
						got, err = b.DebitAt(ctx, "p", s.KeyOrDefault(), op.Tokens, op.Now+offset)
					} else {
						got, err = b.CheckAt(ctx, "p", s.KeyOrDefault(), op.Cost, op.Now+offset)
					}
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
					compare(t, i, got, op.Expect, offset)
				}
			})
		}
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
