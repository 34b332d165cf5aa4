package server_test

import (
	"sync/atomic"
	"testing"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/golden"
	"github.com/throttlekit/throttlekit-go/server"
)

// The golden vectors through the whole service door: gRPC request, Service, backend, Lua,
// store, and back, on an injected clock; all five fields compared.

func TestGoldenVectorsRateLimit(t *testing.T) {
	suites := golden.Load(t).Of("rateLimit")
	if len(suites) == 0 {
		t.Fatal("no rateLimit suites in the golden vectors")
	}
	forEachStore(t, func(t *testing.T, open opener) {
		for _, s := range suites {
			t.Run(s.Name, func(t *testing.T) {
				var now atomic.Int64
				c := serve(t, server.New(open(t, s.PolicyYAML("p")), server.Options{Clock: now.Load}))
				ctx := callCtx(t)
				for i, op := range s.Ops {
					now.Store(op.Now + golden.RateLimitOffsetMs)
					r, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: s.Key, Cost: op.Cost})
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
					compare(t, i, r.GetDecision(), op.Expect, golden.RateLimitOffsetMs)
				}
			})
		}
	})
}

func TestGoldenVectorsTokenBudget(t *testing.T) {
	suites := golden.Load(t).Of("tokenBudget")
	if len(suites) == 0 {
		t.Fatal("no tokenBudget suites in the golden vectors")
	}
	forEachStore(t, func(t *testing.T, open opener) {
		for _, s := range suites {
			t.Run(s.Name, func(t *testing.T) {
				var now atomic.Int64
				c := serve(t, server.New(open(t, s.PolicyYAML("p")), server.Options{Clock: now.Load}))
				ctx := callCtx(t)
				key := s.KeyOrDefault()
				for i, op := range s.Ops {
					now.Store(op.Now + golden.TokenBudgetOffsetMs)
					r, err := c.Debit(ctx, &contract.DebitRequest{Policy: "p", Key: key, Tokens: op.Tokens})
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
					compare(t, i, r.GetDecision(), op.Expect, golden.TokenBudgetOffsetMs)
				}
			})
		}
	})
}

func compare(t *testing.T, i int, got *contract.Decision, want golden.Expect, offset int64) {
	t.Helper()
	if got.GetAllowed() != want.Allowed || got.GetLimit() != want.Limit || got.GetRemaining() != want.Remaining ||
		got.GetResetAt() != want.ResetAt+offset || got.GetRetryAfterMs() != want.RetryAfterMs {
		t.Errorf("op %d:\n got  {allowed:%v limit:%d remaining:%d resetAt:%d retryAfterMs:%d}\n want {allowed:%v limit:%d remaining:%d resetAt:%d retryAfterMs:%d}",
			i, got.GetAllowed(), got.GetLimit(), got.GetRemaining(), got.GetResetAt(), got.GetRetryAfterMs(),
			want.Allowed, want.Limit, want.Remaining, want.ResetAt+offset, want.RetryAfterMs)
	}
}
