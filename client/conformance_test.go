package client_test

import (
	"fmt"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
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

// Every golden-vector op through each store, all five fields compared: rateLimit suites
// through CheckAt, tokenBudget suites through DebitAt.
func TestGoldenVectors(t *testing.T) {
	for _, store := range stores {
		replayGolden(t, store.name+"/", store.open)
	}
}

// replayGolden replays the vectors on limiters from open.
func replayGolden(t *testing.T, prefix string, open func(t *testing.T, yaml string) client.Limiter) {
	golden.Replay(t, prefix, func(t *testing.T, s golden.Suite) golden.Step {
		b := open(t, s.PolicyYAML("p"))
		return func(op golden.Op, now int64) (golden.Expect, error) {
			var d client.Decision
			var err error
			if s.Primitive == "tokenBudget" {
				d, err = b.DebitAt(ctx, "p", s.KeyOrDefault(), op.Tokens, now)
			} else {
				d, err = b.CheckAt(ctx, "p", s.KeyOrDefault(), op.Cost, now)
			}
			if d.Synthesized {
				t.Errorf("a synthesized decision: %+v", d)
			}
			return golden.Expect{Allowed: d.Allowed, Limit: d.Limit, Remaining: d.Remaining, ResetAt: d.ResetAt, RetryAfterMs: d.RetryAfterMs}, err
		}
	})
}

func show(d client.Decision) string {
	return fmt.Sprintf("{allowed:%v limit:%d remaining:%d resetAt:%d retryAfterMs:%d synthesized:%v}",
		d.Allowed, d.Limit, d.Remaining, d.ResetAt, d.RetryAfterMs, d.Synthesized)
}
