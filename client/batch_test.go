package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// keyState is a key's raw state: its DUMP payload and its PTTL.
type keyState struct {
	dump string
	pttl time.Duration
}

// A CheckMany that fails on one key (a key of the wrong type, a corrupt value) charges none
// of the keys: every key before the failing one, with or without earlier state, is left
// exactly as it was (value and TTL), and the ones after it are never touched.
func TestFailedCheckManyChargesNoKey(t *testing.T) {
	const now = 1_700_000_000_000
	b, ns := openBackend(t, allPolicies)
	rdb := testenv.Client(t)
	wrongType := func(key string) error { return rdb.SAdd(ctx, key, "x").Err() }
	cases := []struct {
		policy, name string
		write        func(key string) error
	}{
		{"gcra", "wrong type", wrongType},
		{"bucket", "wrong type", wrongType},
		{"fixed", "wrong type", wrongType},
		{"slide", "wrong type", wrongType},
		{"log", "wrong type", wrongType},
		{"gcra", "corrupt value", func(key string) error { return rdb.Set(ctx, key, "not a number", time.Minute).Err() }},
		{"bucket", "corrupt value", func(key string) error { return rdb.HSet(ctx, key, "t", "x", "l", "1").Err() }},
	}
	for _, c := range cases {
		p := c.policy
		t.Run(p+"/"+c.name, func(t *testing.T) {
			prefix := c.name[:5] + ":"
			if _, err := b.CheckAt(ctx, p, prefix+"seen", 1, now); err != nil {
				t.Fatal(err)
			}
			keys := []string{prefix + "seen", prefix + "new", prefix + "seen", prefix + "bad", prefix + "after"}
			if err := c.write(ns + ":" + p + ":" + prefix + "bad"); err != nil {
				t.Fatal(err)
			}
			before := map[string]keyState{}
			for _, k := range keys {
				before[k] = rawState(t, ns+":"+p+":"+k)
			}
			ds, err := b.CheckManyAt(ctx, p, keys, 1, now+10)
			if !errors.Is(err, client.ErrInternal) {
				t.Fatalf("CheckMany over a bad key: %v, %v; want ErrInternal", ds, err)
			}
			for _, k := range keys {
				after := rawState(t, ns+":"+p+":"+k)
				if after.dump != before[k].dump || before[k].pttl-after.pttl > 2*time.Second {
					t.Errorf("%s: %+v before the failed batch, %+v after", k, before[k], after)
				}
			}
		})
	}
}

func rawState(t *testing.T, key string) keyState {
	t.Helper()
	rdb := testenv.Client(t)
	dump, err := rdb.Dump(ctx, key).Result()
	if err != nil && err.Error() != "redis: nil" {
		t.Fatalf("DUMP %s: %v", key, err)
	}
	pttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return keyState{dump, pttl}
}
