package client_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
)

// The project's quota vectors (contract/quota-vectors.json) through the Redis door, every
// decision field and the key's raw state in Redis after every op, and through the embedded
// engine, whose TTLs run on the ops' own clock here. (internal/engine compares the engine's
// raw state as well.)
func TestQuotaVectors(t *testing.T) {
	golden.ReplayQuota(t, "redis/", func(t *testing.T, s golden.QuotaSuite) golden.QuotaRunner {
		b, ns := openBackend(t, s.PolicyYAML("q"))
		r := testenv.QuotaRedisStore(t, testenv.Client(t), ns+":q:k")
		addQuotaCalls(t, &r, b, func(int64) {})
		return r
	})
	golden.ReplayQuota(t, "engine/", func(t *testing.T, s golden.QuotaSuite) golden.QuotaRunner {
		var now atomic.Int64
		b := openEngine(t, s.PolicyYAML("q"), client.EngineOptions{Clock: func() time.Time { return time.UnixMilli(now.Load()) }})
		var r golden.QuotaRunner
		addQuotaCalls(t, &r, b, now.Store)
		return r
	})
}

// addQuotaCalls fills r's Check, Peek and Forecast with calls of policy "q", key "k" on l,
// each after at(its instant) (which may move a store's clock there).
func addQuotaCalls(t *testing.T, r *golden.QuotaRunner, l client.Limiter, at func(int64)) {
	expect := func(d client.Decision, err error) (golden.Expect, error) {
		if d.Synthesized {
			t.Errorf("a synthesized decision: %s", show(d))
		}
		return golden.Expect{Allowed: d.Allowed, Limit: d.Limit, Remaining: d.Remaining, ResetAt: d.ResetAt, RetryAfterMs: d.RetryAfterMs}, err
	}
	r.Check = func(ms, cost int64) (golden.Expect, error) { at(ms); return expect(l.CheckAt(ctx, "q", "k", cost, ms)) }
	r.Peek = func(ms int64) (golden.Expect, error) { at(ms); return expect(l.PeekAt(ctx, "q", "k", ms)) }
	r.Forecast = func(ms, cost int64) (golden.ForecastExpect, error) {
		at(ms)
		f, err := l.ForecastAt(ctx, "q", "k", cost, ms)
		return golden.ForecastExpect{SpendableNow: f.SpendableNow, NextReplenishAt: f.NextReplenishAt, FullAt: f.FullAt}, err
	}
}
