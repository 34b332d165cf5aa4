package federation_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/federation"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/policy"
)

// ownRedis starts a redis-server of the test's own (so that its command counts are ours)
// and returns a client on it.
func ownRedis(t testing.TB) (*testenv.OwnRedis, *redis.Client) {
	t.Helper()
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return r, rdb
}

// fedPolicy parses one federated policy called "p".
func fedPolicy(t testing.TB, yaml string) *policy.Policy {
	t.Helper()
	set, err := policy.Parse([]byte("limiters:\n  p: " + yaml + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Lookup("p")
	if !ok || p.Federated == nil {
		t.Fatalf("policy p is not federated: %+v", p)
	}
	return p
}

func newTier1(rdb redis.UniversalClient, opts federation.Options) *federation.Tier1 {
	return federation.NewTier1(federation.NewCoordinator(federation.RedisRunner(rdb)), opts)
}

// scriptCalls is how many scripts the Redis ran (EVALSHA and EVAL), from INFO commandstats.
func scriptCalls(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		c, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q", line)
		}
		n += c
	}
	return n
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitABit() { time.Sleep(10 * time.Millisecond) }
