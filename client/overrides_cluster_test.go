package client_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

// On a Cluster, an override record sits in its state key's slot (each check is one script
// on one shard), for plain keys, hash-tagged keys and keys with a stray "}", and batches
// across masters honour records like single checks do.
func TestClusterOverrides(t *testing.T) {
	c := rediscluster.StartCluster(t, 3, 0)
	const yaml = `limiters:
  tiers: { strategy: fixedWindow, limit: 2, windowMs: 1h, overrides: { gold: { limit: 4 }, "vip*": unlimited } }
`
	// Two namespaces with the same records: one answers CheckMany, the other single checks.
	many, ns := openURL(t, c.URL(), yaml, 5*time.Second)
	one, _ := openURL(t, c.URL(), yaml, 5*time.Second)
	keys := []string{"gold", "vip1", "{u}a", "{u}b", "a}b", "}", "x{}y"}
	for i := range 24 {
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	specs := []string{"deny", "unlimited", "limit=3", "limit=1,windowMs=2h"}
	for i, k := range keys {
		if i%2 == 0 {
			for _, b := range []*client.RedisBackend{many, one} {
				if err := b.SetOverride(ctx, "tiers", k, specs[i/2%len(specs)], 0); err != nil {
					t.Fatalf("SetOverride(%q): %v", k, err)
				}
			}
		}
	}
	owners := c.Owners(t)
	hit := map[string]bool{}
	for i, k := range keys {
		state := ns + ":tiers:" + k
		owner := owners[rediscluster.Slot(state)]
		hit[owner.Addr] = true
		n, err := owner.Client().Exists(ctx, front.OverrideKey(state)).Result()
		if err != nil || n != int64(1-i%2) {
			t.Errorf("key %q: the record %q on the owner of the state key's slot: exists %d, %v", k, front.OverrideKey(state), n, err)
		}
	}
	if len(hit) != 3 {
		t.Fatalf("the keys reach %d masters, want 3", len(hit))
	}
	now := time.Now().UnixMilli()
	for round := range 3 {
		got, err := many.CheckManyAt(ctx, "tiers", keys, 1, now)
		if err != nil {
			t.Fatalf("round %d: CheckMany: %v", round, err)
		}
		for i, k := range keys {
			want, err := one.CheckAt(ctx, "tiers", k, 1, now)
			if err != nil {
				t.Fatalf("CheckAt(%q): %v", k, err)
			}
			if got[i].Override != (i%2 == 0 || k == "gold" || k == "vip1") {
				t.Errorf("key %q: Override %v", k, got[i].Override)
			}
			if got[i] != want {
				t.Errorf("round %d key %q: CheckMany %s, Check %s", round, k, show(got[i]), show(want))
			}
		}
	}
	if err := many.SetOverride(ctx, "tiers", "{u}a", "deny", 0); err != nil {
		t.Fatal(err)
	}
	all, ok, err := many.CheckAllAt(ctx, []client.CheckItem{{Policy: "tiers", Key: "{u}a"}, {Policy: "tiers", Key: "{u}b"}}, now+7_200_000)
	if err != nil || ok || all[0].Allowed || !all[0].Override {
		t.Fatalf("CheckAll with a denied record in one slot: %+v, %v, %v", all, ok, err)
	}
}
