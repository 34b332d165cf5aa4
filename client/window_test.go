package client_test

import (
	"context"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

// Every decision reports its policy's window (RateLimit-Policy's w=), on both scripted doors,
// for checks, peeks and the local answers of two-tier policies.
func TestDecisionsReportThePolicyWindow(t *testing.T) {
	yaml := `limiters:
  g: { strategy: gcra, limit: 10, period: 1m }
  tb: { strategy: tokenBucket, capacity: 10, refillPerSec: 4 }
  fw: { strategy: fixedWindow, limit: 5, windowMs: 5s }
  sw: { strategy: slidingWindow, limit: 5, windowMs: 7s }
  log: { strategy: slidingWindowLog, limit: 5, windowMs: 9s }
  day: { strategy: quota, limit: 5, resetCadence: calendar-day }
  leased: { strategy: fixedWindow, limit: 100, windowMs: 11s, twoTier: { batch: 10 } }
`
	want := map[string]int64{"g": 60000, "tb": 2500, "fw": 5000, "sw": 7000, "log": 9000, "day": 86_400_000, "leased": 11000}
	redis, _ := openBackend(t, yaml)
	doors := map[string]client.Limiter{"redis": redis, "engine": openEngine(t, yaml, client.EngineOptions{})}
	ctx := context.Background()
	for door, l := range doors {
		for policy, w := range want {
			for i := 0; i < 2; i++ { // the second check of the leased policy is local
				d, err := l.Check(ctx, policy, "k", 1)
				if err != nil || d.WindowMs != w {
					t.Errorf("%s %s check %d: window %d, err %v; want %d", door, policy, i, d.WindowMs, err, w)
				}
			}
			if policy == "leased" {
				continue
			}
			if d, err := l.Peek(ctx, policy, "k"); err != nil || d.WindowMs != w {
				t.Errorf("%s %s peek: window %d, err %v; want %d", door, policy, d.WindowMs, err, w)
			}
		}
	}
}
