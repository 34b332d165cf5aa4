package server_test

import (
	"sync/atomic"
	"testing"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
	"github.com/throttlekit/throttlekit-go/server"
)

// The golden vectors through the whole service door: gRPC request, Service, backend, Lua,
// store, and back, on an injected clock; all five fields compared.

func TestGoldenVectors(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		golden.Replay(t, "", func(t *testing.T, s golden.Suite) golden.Step {
			var now atomic.Int64
			c := serve(t, server.New(open(t, s.PolicyYAML("p")), server.Options{Clock: now.Load}))
			ctx := callCtx(t)
			return func(op golden.Op, nowMs int64) (golden.Expect, error) {
				now.Store(nowMs)
				var d *contract.Decision
				if s.Primitive == "tokenBudget" {
					r, err := c.Debit(ctx, &contract.DebitRequest{Policy: "p", Key: s.KeyOrDefault(), Tokens: op.Tokens})
					if err != nil {
						return golden.Expect{}, err
					}
					d = r.GetDecision()
				} else {
					r, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: s.Key, Cost: op.Cost})
					if err != nil {
						return golden.Expect{}, err
					}
					d = r.GetDecision()
				}
				return golden.Expect{Allowed: d.GetAllowed(), Limit: d.GetLimit(), Remaining: d.GetRemaining(),
					ResetAt: d.GetResetAt(), RetryAfterMs: d.GetRetryAfterMs()}, nil
			}
		})
	})
}
