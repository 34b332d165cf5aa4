package server_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
	"github.com/throttlekit/throttlekit-go/server"
)

// The project's quota vectors through the whole service door (gRPC Check, Peek and Forecast
// on the server's injected clock), over the embedded engine (its TTLs on the same clock) and
// over Redis, where the key's raw state is compared after every op as well.
func TestQuotaVectors(t *testing.T) {
	golden.ReplayQuota(t, "engine/", func(t *testing.T, s golden.QuotaSuite) golden.QuotaRunner {
		var now atomic.Int64
		b, err := client.OpenEngine([]byte(s.PolicyYAML("q")), client.EngineOptions{Clock: func() time.Time { return time.UnixMilli(now.Load()) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		var r golden.QuotaRunner
		quotaRPCs(t, &r, serve(t, server.New(b, server.Options{Clock: now.Load})), &now)
		return r
	})
	golden.ReplayQuota(t, "redis/", func(t *testing.T, s golden.QuotaSuite) golden.QuotaRunner {
		var now atomic.Int64
		ns := testenv.Namespace(t)
		b, err := client.OpenRedis(testenv.URL(t), []byte(s.PolicyYAML("q")), client.RedisOptions{Namespace: ns},
			client.ConnectOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		r := testenv.QuotaRedisStore(t, testenv.Client(t), ns+":q:k")
		quotaRPCs(t, &r, serve(t, server.New(b, server.Options{Clock: now.Load})), &now)
		return r
	})
}

// quotaRPCs fills r's Check, Peek and Forecast with RPCs on policy "q", key "k", each with
// the server's clock at the op's instant.
func quotaRPCs(t *testing.T, r *golden.QuotaRunner, c contract.RateLimiterClient, now *atomic.Int64) {
	ctx := callCtx(t)
	decision := func(d *contract.Decision) golden.Expect {
		return golden.Expect{Allowed: d.GetAllowed(), Limit: d.GetLimit(), Remaining: d.GetRemaining(),
			ResetAt: d.GetResetAt(), RetryAfterMs: d.GetRetryAfterMs()}
	}
	r.Check = func(ms, cost int64) (golden.Expect, error) {
		now.Store(ms)
		resp, err := c.Check(ctx, &contract.CheckRequest{Policy: "q", Key: "k", Cost: cost})
		return decision(resp.GetDecision()), err
	}
	r.Peek = func(ms int64) (golden.Expect, error) {
		now.Store(ms)
		resp, err := c.Peek(ctx, &contract.PeekRequest{Policy: "q", Key: "k"})
		return decision(resp.GetDecision()), err
	}
	r.Forecast = func(ms, cost int64) (golden.ForecastExpect, error) {
		now.Store(ms)
		resp, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "q", Key: "k", Cost: cost})
		f := resp.GetForecast()
		return golden.ForecastExpect{SpendableNow: f.GetSpendableNow(), NextReplenishAt: f.GetNextReplenishAt(), FullAt: f.GetFullAt()}, err
	}
}
