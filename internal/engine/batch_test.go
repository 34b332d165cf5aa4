package engine_test

import (
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

const batchPolicies = `
limiters:
  gcra:   { strategy: gcra, limit: 10, period: 1s, burst: 5 }
  bucket: { strategy: tokenBucket, capacity: 10, refillPerSec: 5 }
  fixed:  { strategy: fixedWindow, limit: 1000, windowMs: 1m }
  slide:  { strategy: slidingWindow, limit: 10, windowMs: 1s, buckets: 10 }
  log:    { strategy: slidingWindowLog, limit: 5, windowMs: 1s }
`

// A CheckMany that fails on one key charges none: the engine runs the same batch script as
// Redis, with DUMP and RESTORE of its own, and the keys before the failing one are left
// exactly as they were (value and TTL).
func TestEngineFailedCheckManyChargesNoKey(t *testing.T) {
	clock := newFakeClock(1_700_000_000_000)
	b := openEngine(t, batchPolicies, engine.Options{Clock: clock.now})
	now := clock.ms.Load()
	for _, p := range []string{"gcra", "bucket", "fixed", "slide", "log"} {
		t.Run(p, func(t *testing.T) {
			if _, err := b.CheckAt(ctx, p, "seen", 1, now); err != nil {
				t.Fatal(err)
			}
			// A string where the strategy keeps a hash or a sorted set, or a corrupt TAT.
			if _, err := b.EvalForTest(ctx, `return redis.call('SET', KEYS[1], 'not a number', 'PX', 60000)`, []string{p + ":bad"}); err != nil {
				t.Fatal(err)
			}
			keys := []string{"seen", "new", "seen", "bad", "after"}
			before := map[string]engine.EngineDump{}
			for _, k := range keys {
				before[k] = b.DumpForTest(p + ":" + k)
			}
			ds, err := b.CheckManyAt(ctx, p, keys, 1, now+10)
			if !errors.Is(err, front.ErrInternal) {
				t.Fatalf("CheckMany over a bad key: %v, %v; want ErrInternal", ds, err)
			}
			for _, k := range keys {
				if after := b.DumpForTest(p + ":" + k); !reflect.DeepEqual(after, before[k]) {
					t.Errorf("%s: %+v before the failed batch, %+v after", k, before[k], after)
				}
			}
		})
	}
	if recount, counted, drifted := b.RecountForTest(); recount != counted || drifted != "" {
		t.Errorf("byte count %d, recount %d (%s): restoring must keep the count", counted, recount, drifted)
	}
}

// Batches whose keys share shards, racing single checks on the same keys, neither deadlock
// nor lose a unit: every key ends with exactly the units admitted on it.
func TestEngineBatchesRaceSingleChecks(t *testing.T) {
	b := openEngine(t, batchPolicies, engine.Options{})
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if w%2 == 0 {
					// Each batch takes the keys in another order.
					rot := append(append([]string{}, keys[i%64:]...), keys[:i%64]...)
					if _, err := b.CheckMany(ctx, "fixed", rot, 1); err != nil {
						t.Error(err)
						return
					}
				} else if _, err := b.Check(ctx, "fixed", keys[(i*7+w)%64], 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, k := range keys {
		d := b.DumpForTest("fixed:" + k)
		n, _ := strconv.Atoi(d.Hash["c"])
		total += n
	}
	if want := 4*50*64 + 4*50; total != want {
		t.Fatalf("the keys count %d units, want %d", total, want)
	}
}
