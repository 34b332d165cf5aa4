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

// Without an explicit clock the scripts read Redis's (ARGV now = 0): a calendar-day quota
// resets at the next UTC midnight by the test's clock (either side of a midnight that passes
// during the call), and the stored period start is that day's midnight.
func TestQuotaOnTheStoreClock(t *testing.T) {
	const yaml = "limiters:\n  q: { strategy: quota, limit: 3, resetCadence: calendar-day }\n"
	midnight := func(t time.Time) int64 {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).UnixMilli()
	}
	b, ns := openBackend(t, yaml)
	e := openEngine(t, yaml, client.EngineOptions{})
	for name, l := range map[string]client.Limiter{"redis": b, "engine": e} {
		before := midnight(time.Now())
		d, err := l.Check(ctx, "q", "k", 2)
		after := midnight(time.Now())
		if err != nil || !d.Allowed || d.Remaining != 1 || d.Limit != 3 || (d.ResetAt != before && d.ResetAt != after) {
			t.Errorf("%s: %s, %v; want allowed, remaining 1, resetAt %d", name, show(d), err, before)
		}
		f, err := l.Forecast(ctx, "q", "k", 1)
		if err != nil || f.SpendableNow != 1 || f.FullAt != d.ResetAt || f.NextReplenishAt != d.ResetAt {
			t.Errorf("%s: forecast %+v, %v", name, f, err)
		}
	}
	if s, err := testenv.Client(t).HGet(ctx, ns+":q:k", "s").Int64(); err != nil || s%86_400_000 != 0 {
		t.Errorf("stored period start %d, %v; want a UTC midnight", s, err)
	}
}
