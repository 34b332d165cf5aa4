package engine_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
)

// The project's quota vectors through the embedded engine with its clock at each op's
// instant, so TTLs run on the ops' clock as the vectors assume: every decision field, and the
// key's raw state after every op, its TTL to the millisecond.
func TestQuotaVectors(t *testing.T) {
	golden.ReplayQuota(t, "", func(t *testing.T, s golden.QuotaSuite) golden.QuotaRunner {
		var now atomic.Int64
		e := openEngine(t, s.PolicyYAML("q"), engine.Options{Clock: func() time.Time { return time.UnixMilli(now.Load()) }})
		const key = "q:k"
		decision := func(d front.Decision, err error) (golden.Expect, error) {
			return golden.Expect{Allowed: d.Allowed, Limit: d.Limit, Remaining: d.Remaining, ResetAt: d.ResetAt, RetryAfterMs: d.RetryAfterMs}, err
		}
		return golden.QuotaRunner{
			Check: func(ms, cost int64) (golden.Expect, error) {
				now.Store(ms)
				return decision(e.CheckAt(ctx, "q", "k", cost, ms))
			},
			Peek: func(ms int64) (golden.Expect, error) {
				now.Store(ms)
				return decision(e.PeekAt(ctx, "q", "k", ms))
			},
			Forecast: func(ms, cost int64) (golden.ForecastExpect, error) {
				now.Store(ms)
				f, err := e.ForecastAt(ctx, "q", "k", cost, ms)
				return golden.ForecastExpect{SpendableNow: f.SpendableNow, NextReplenishAt: f.NextReplenishAt, FullAt: f.FullAt}, err
			},
			State: func(ms int64) (*golden.QuotaState, error) {
				now.Store(ms)
				d := e.DumpForTest(key)
				if d.Type == "none" {
					return nil, nil
				}
				if d.Type != "hash" {
					t.Fatalf("key of type %s", d.Type)
				}
				return &golden.QuotaState{Hash: d.Hash, TTL: d.TTLMs}, nil
			},
			Write: func(ms int64, st golden.QuotaState) error {
				now.Store(ms)
				argv := []string{strconv.FormatInt(st.TTL, 10)}
				for f, v := range st.Hash {
					argv = append(argv, f, v)
				}
				_, err := e.EvalForTest(ctx, `redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`, []string{key}, argv...)
				return err
			},
		}
	})
}
