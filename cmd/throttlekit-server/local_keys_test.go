package main

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// --local-max-keys bounds the server's two-tier L1: with one key held, checking a second key
// evicts the first, whose next check leases again (Redis counts two leases for it).
func TestLocalMaxKeysBoundsTheServersL1(t *testing.T) {
	policies := writeFile(t, "p.yaml", "limiters:\n  api: { strategy: fixedWindow, limit: 1000, windowMs: 1h, twoTier: { batch: 10 } }\n")
	rdb := testenv.Client(t)
	for _, c := range []struct {
		args []string
		want string // Redis's count for key a after a, b, a
	}{{nil, "10"}, {[]string{"--local-max-keys", "1"}, "20"}} {
		ns := testenv.Namespace(t)
		args := append([]string{"--host", "127.0.0.1", "--port", "0", "-c", policies, "--redis", testenv.URL(t), "--redis-prefix", ns}, c.args...)
		p := launch(t, args...)
		rl := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))
		for _, key := range []string{"a", "b", "a"} {
			if r, err := rl.Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: key}); err != nil || !r.GetDecision().GetAllowed() {
				t.Fatalf("%v: check %s: %v, %v", c.args, key, r.GetDecision(), err)
			}
		}
		if got, err := rdb.HGet(callCtx(t), ns+":api:a", "c").Result(); err != nil || got != c.want {
			t.Errorf("%v: Redis counts %q (%v) for key a; want %s", c.args, got, err, c.want)
		}
	}
}
