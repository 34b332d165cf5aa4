package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// The differential test: seeded random timelines through the embedded engine and through
// a real redis-server, step by step, with identical replies (every field, and the same
// error kinds) and identical stored state after every step (the raw value of every key a
// step touched, and whether it has a TTL).
//
// TTLs run in real time on both sides (never on the explicit clocks), so their values
// differ by the milliseconds between the two calls. After comparing, each touched key's
// TTL is either pushed an hour away on both sides, or, when it was about to run out on
// either side (or already had on one), the key is deleted on both: the timeline then
// never depends on how real time falls between the two stores. The engine's TTL and
// expiry behaviour is tested on its own clock elsewhere.

const diffPolicies = `
limiters:
  gcra3:   { strategy: gcra, limit: 3, periodMs: 1000, burst: 3 }
  gcra7:   { strategy: gcra, limit: 7, periodMs: 60000, burst: 10 }
  tb05:    { strategy: tokenBucket, capacity: 5, refillPerSec: 0.5 }
  tb3:     { strategy: tokenBucket, capacity: 10, refillPerSec: 3 }
  fw:      { strategy: fixedWindow, limit: 5, windowMs: 1000 }
  fw7:     { strategy: fixedWindow, limit: 20, windowMs: 7000 }
  sw3:     { strategy: slidingWindow, limit: 10, windowMs: 1000, buckets: 3 }
  sw7:     { strategy: slidingWindow, limit: 6, windowMs: 1000, buckets: 7 }
  swl:     { strategy: slidingWindowLog, limit: 4, windowMs: 1000 }
  swl12:   { strategy: slidingWindowLog, limit: 12, windowMs: 250 }
  qfix:    { strategy: quota, limit: 5, resetCadence: fixed, periodMs: 1000, anchor: 333 }
  qday:    { strategy: quota, limit: 40, resetCadence: calendar-day, offsetMinutes: 330 }
  budget:
    tokenBudget: { budget: 100, windowMs: 1000 }
  budget7:
    tokenBudget: { budget: 37, windowMs: 7000 }
`

// diffLimits is each policy's limit, to draw costs around it.
var diffLimits = map[string]int64{
	"gcra3": 3, "gcra7": 10, "tb05": 5, "tb3": 10, "fw": 5, "fw7": 20, "sw3": 10, "sw7": 6,
	"swl": 4, "swl12": 12, "budget": 100, "budget7": 37, "qfix": 5, "qday": 40,
}

const diffSteps = 4000

// edges are the policies' windows, emission intervals, bucket widths and refill periods.
var edges = []int64{0, 1000, 250, 7000, 333, 334, 142, 143, 8571, 8572, 2000, 500, 6000}

func TestEngineMatchesRedisOnRandomTimelines(t *testing.T) {
	url := testenv.URL(t)
	ns := testenv.Namespace(t)
	set, err := client.ParsePolicies([]byte(diffPolicies))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := client.OpenRedis(url, []byte(diffPolicies), client.RedisOptions{Namespace: ns},
		client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	eb := openEngine(t, diffPolicies, engine.Options{Namespace: ns})
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.Protocol = 2
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	defer func() {
		if keys, _ := rdb.Keys(ctx, ns+":*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}()

	seed := time.Now().UnixNano()
	if s := testSeed(); s != 0 {
		seed = s
	}
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d (rerun with THROTTLEKIT_DIFF_SEED=%d)", seed, seed)

	names := set.Names()
	fullKey := func(policyName, key string) string {
		p, _ := set.Lookup(policyName)
		return p.RedisKey(ns, key)
	}
	now := int64(1_700_000_000_000) + rng.Int63n(10_000_000)
	ops := map[string]int{}
	lastAt := map[string]int64{}
	for step := 0; step < diffSteps; step++ {
		now += clockStep(rng)
		name := names[rng.Intn(len(names))]
		meter := name == "budget" || name == "budget7"
		at := now
		if meter && rng.Intn(8) == 0 {
			at = now - rng.Int63n(5000) // a clock that went backwards
		}
		keys := []string{"k" + strconv.Itoa(rng.Intn(3))}
		if last, ok := lastAt[name+"/"+keys[0]]; ok && rng.Intn(3) == 0 {
			// Exactly a window, an emission interval, a bucket or a refill period after this
			// key's last call, or one ms either side: where an inclusive and an exclusive
			// bound part ways.
			at = last + edges[rng.Intn(len(edges))] + rng.Int63n(3) - 1
			now = max(now, at)
		}
		amount := drawAmount(rng, diffLimits[name])

		var desc string
		var want, got any
		var werr, gerr error
		switch r := rng.Intn(20); {
		case meter && r < 10:
			desc = fmt.Sprintf("DebitAt(%s, %s, %d, %d)", name, keys[0], amount, at)
			want, werr = rb.DebitAt(ctx, name, keys[0], amount, at)
			got, gerr = eb.DebitAt(ctx, name, keys[0], amount, at)
		case r < 8:
			desc = fmt.Sprintf("CheckAt(%s, %s, %d, %d)", name, keys[0], amount, at)
			want, werr = rb.CheckAt(ctx, name, keys[0], amount, at)
			got, gerr = eb.CheckAt(ctx, name, keys[0], amount, at)
		case r < 12:
			desc = fmt.Sprintf("PeekAt(%s, %s, %d)", name, keys[0], at)
			want, werr = rb.PeekAt(ctx, name, keys[0], at)
			got, gerr = eb.PeekAt(ctx, name, keys[0], at)
		case r < 16:
			desc = fmt.Sprintf("ForecastAt(%s, %s, %d, %d)", name, keys[0], amount, at)
			want, werr = rb.ForecastAt(ctx, name, keys[0], amount, at)
			got, gerr = eb.ForecastAt(ctx, name, keys[0], amount, at)
		default:
			// Up to four keys, repeats allowed: a repeated key sees the batch's earlier effects.
			for n := rng.Intn(4); n > 0; n-- {
				keys = append(keys, "k"+strconv.Itoa(rng.Intn(3)))
			}
			desc = fmt.Sprintf("CheckManyAt(%s, %v, %d, %d)", name, keys, amount, at)
			want, werr = rb.CheckManyAt(ctx, name, keys, amount, at)
			got, gerr = eb.CheckManyAt(ctx, name, keys, amount, at)
		}
		ops[descOp(desc)]++
		for _, k := range keys {
			lastAt[name+"/"+k] = at
		}
		if !sameOutcome(want, werr, got, gerr) {
			t.Fatalf("seed %d step %d %s:\n redis  %+v, %v\n engine %+v, %v", seed, step, desc, want, werr, got, gerr)
		}
		for _, k := range keys {
			full := fullKey(name, k)
			if err := compareAndSettle(rdb, eb, full); err != nil {
				t.Fatalf("seed %d step %d %s: key %s: %v", seed, step, desc, full, err)
			}
		}
	}
	t.Logf("%d steps, identical replies and state: %v", diffSteps, ops)
}

func descOp(desc string) string {
	for i, c := range desc {
		if c == '(' {
			return desc[:i]
		}
	}
	return desc
}

func testSeed() int64 {
	n, _ := strconv.ParseInt(os.Getenv("THROTTLEKIT_DIFF_SEED"), 10, 64)
	return n
}

// clockStep draws how far the explicit clock moves: often not at all or a little, some
// times across windows, rarely far.
func clockStep(rng *rand.Rand) int64 {
	switch r := rng.Intn(100); {
	case r < 20:
		return 0
	case r < 60:
		return 1 + rng.Int63n(50)
	case r < 88:
		return rng.Int63n(1000)
	case r < 98:
		return rng.Int63n(100_000)
	default:
		return rng.Int63n(100_000_000)
	}
}

// drawAmount draws a cost or token count: mostly 1, often anything from 0 to past the
// limit, sometimes far past it.
func drawAmount(rng *rand.Rand, limit int64) int64 {
	switch r := rng.Intn(10); {
	case r < 5:
		return 1
	case r < 9:
		return rng.Int63n(limit + 3)
	default:
		return limit + rng.Int63n(2*limit+1)
	}
}

func sameOutcome(want any, werr error, got any, gerr error) bool {
	if (werr == nil) != (gerr == nil) {
		return false
	}
	if werr != nil {
		for _, kind := range []error{front.ErrInvalidArgument, front.ErrPolicyNotFound, front.ErrUnsupported,
			front.ErrUnavailable, front.ErrTimeout, front.ErrConfig, front.ErrAuth, front.ErrInternal} {
			if errors.Is(werr, kind) != errors.Is(gerr, kind) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// settleMs is the TTL below which a key counts as expiring during the comparison.
const settleMs = 50

// compareAndSettle compares one key's raw state on both sides, then detaches its TTL from
// real time on both (see the test's comment).
func compareAndSettle(rdb *redis.Client, eb *testEngine, key string) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := dumpRedis(c, rdb, key)
	if err != nil {
		return err
	}
	e := eb.DumpForTest(key)
	expiring := (r.Type != "none" && r.TTLMs <= settleMs) || (e.Type != "none" && e.TTLMs <= settleMs)
	if r.Type == "none" || e.Type == "none" {
		if r.Type != e.Type && !expiring {
			return fmt.Errorf("exists only on one side:\n redis  %+v\n engine %+v", r, e)
		}
	} else {
		if (r.TTLMs == -1) != (e.TTLMs == -1) {
			return fmt.Errorf("TTL on one side only:\n redis  %+v\n engine %+v", r, e)
		}
		if r.TTLMs == -1 {
			return fmt.Errorf("key without a TTL (the contract forbids it): %+v", r)
		}
		rv, ev := r, e
		rv.TTLMs, ev.TTLMs = 0, 0
		if !reflect.DeepEqual(rv, ev) {
			return fmt.Errorf("state differs:\n redis  %+v\n engine %+v", r, e)
		}
		if d := r.TTLMs - e.TTLMs; d > 1000 || d < -1000 {
			return fmt.Errorf("TTLs far apart: redis %d ms, engine %d ms", r.TTLMs, e.TTLMs)
		}
	}
	if r.Type == "none" && e.Type == "none" {
		return nil
	}
	script := `redis.call('PEXPIRE', KEYS[1], 3600000)`
	if expiring {
		script = `redis.call('DEL', KEYS[1])`
	}
	if err := rdb.Eval(c, script, []string{key}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if _, err := eb.EvalForTest(c, script, []string{key}); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// dumpRedis reads a key's raw state the way DumpForTest reports the engine's.
func dumpRedis(c context.Context, rdb *redis.Client, key string) (engine.EngineDump, error) {
	d := engine.EngineDump{}
	typ, err := rdb.Type(c, key).Result()
	if err != nil {
		return d, err
	}
	d.Type = typ
	switch typ {
	case "none":
		d.TTLMs = -2
		return d, nil
	case "string":
		d.String, err = rdb.Get(c, key).Result()
	case "hash":
		d.Hash, err = rdb.HGetAll(c, key).Result()
	case "zset":
		var zs []redis.Z
		zs, err = rdb.ZRangeWithScores(c, key, 0, -1).Result()
		for _, z := range zs {
			d.Zset = append(d.Zset, engine.ZEntry{Member: z.Member.(string), Score: z.Score})
		}
	default:
		return d, fmt.Errorf("unexpected type %q", typ)
	}
	if err != nil {
		return d, err
	}
	ttl, err := rdb.PTTL(c, key).Result()
	if err != nil {
		return d, err
	}
	switch {
	case ttl == -1: // go-redis reports "no TTL" as -1 ns
		d.TTLMs = -1
	case ttl < 0:
		// Expired (in real time) between the reads: gone, as a read a moment later finds it.
		return engine.EngineDump{Type: "none", TTLMs: -2}, nil
	default:
		d.TTLMs = ttl.Milliseconds()
	}
	return d, nil
}
