package redisdoor_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

const fedPolicies = `
limiters:
  fed:   { strategy: fixedWindow, limit: 40, period: 1h, federated: { batch: 8 } }
  plain: { strategy: fixedWindow, limit: 40, period: 1h }
`

// The door's Tier1 and Reserve draw on one coordinator HASH per key, outside the door's
// namespace (upstream's keys), on one Redis and on a Cluster.
func TestFederationThroughTheDoor(t *testing.T) {
	single := testenv.StartRedis(t)
	targets := map[string]func(t *testing.T) (string, redis.UniversalClient){
		"single": func(t *testing.T) (string, redis.UniversalClient) {
			return single.URL(), redis.NewClient(&redis.Options{Addr: single.Addr()})
		},
		"cluster": func(t *testing.T) (string, redis.UniversalClient) {
			c := rediscluster.StartCluster(t, 3, 0)
			rdb, err := redisdoor.NewClient(c.URL(), redisdoor.ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return c.URL(), rdb
		},
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			url, rdb := target(t)
			defer rdb.Close()
			b, err := redisdoor.Open(url, []byte(fedPolicies), redisdoor.Options{Namespace: "ns"}, redisdoor.ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			p, _ := b.Policies().Lookup("fed")
			for i := range 6 { // keys spread over the Cluster's slots
				key := fmt.Sprint("tenant-", i)
				d, err := b.Federation().Check(ctx, p, key, 3, 0)
				if err != nil || !d.Allowed || d.Remaining != 5 || d.Local {
					t.Fatalf("Check %s: %+v, %v", key, d, err)
				}
				l, err := b.Reserve(ctx, "fed", key, 50, 0)
				if err != nil || l.Capacity != 32 || l.Limit != 40 {
					t.Fatalf("Reserve %s: %+v, %v; want the 32 left after Tier 1's 8", key, l, err)
				}
				if got := rdb.HGet(ctx, "tk:fed:"+key, "budget").Val(); got != "0" {
					t.Errorf("%s: coordinator budget %q, want 0", key, got)
				}
			}
			if _, err := b.Reserve(ctx, "plain", "k", 1, 0); !errors.Is(err, front.ErrPolicyNotFound) {
				t.Errorf("Reserve on a plain policy: %v, want policy not found", err)
			}
		})
	}
}
