package engine_test

import (
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
)

// A million keys that live 50 ms: once they expired and the sweep ran, the engine holds
// no key and the heap is back near where it started (Go maps never shrink by themselves;
// the sweep rebuilds a shard's map once it emptied out).
func TestEngineMillionShortLivedKeysGiveTheirMemoryBack(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys: skipped with -short")
	}
	const keys = 1_000_000
	// T = 1000/20 = 50 ms: a first check on a key writes PX 50. The engine's clock stands
	// still while the keys are written, so that all of them are alive at once; then it
	// moves past their TTL and the sweep (every 20 ms) has to find them.
	clock := newFakeClock(1_800_000_000_000)
	b := openEngine(t, "limiters:\n  p: { strategy: gcra, limit: 20, periodMs: 1000, burst: 1 }\n",
		engine.Options{SweepInterval: 20 * time.Millisecond, Clock: clock.now, MaxKeys: 2 * keys})
	if _, err := b.CheckAt(ctx, "p", "warm-up", 1, 1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
	base := heapAfterGC()

	start := time.Now()
	how := "by checks through the Lua scripts"
	if raceDetector {
		how = "through the command shim (SET PX 50), -race being too slow for a million checks"
		if err := b.FillForTest("p:user-", keys, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	} else {
		fillKeys(t, b, keys)
	}
	filled := time.Since(start)
	peak := heapAfterGC()
	live := b.Stats().LiveKeys
	if d := b.DumpForTest("p:user-1"); d.TTLMs != 50 {
		t.Fatalf("a key's state: %+v, want 50 ms to live", d)
	}

	clock.advance(51 * time.Millisecond)
	start = time.Now()
	deadline := start.Add(15 * time.Second)
	for b.Stats().LiveKeys > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	drained := time.Since(start)
	stats := b.Stats()
	after := heapAfterGC()
	t.Logf("%d keys written %s in %v (%d live at once); the sweep reclaimed them in %v: %+v",
		keys, how, filled.Round(time.Millisecond), live, drained.Round(time.Millisecond), stats)
	t.Logf("heap: %.1f MB before, %.1f MB with the keys, %.1f MB after they expired",
		mb(base), mb(peak), mb(after))
	if live < keys || stats.LiveKeys != 0 || stats.Expired < keys {
		t.Fatalf("keys left: %+v", stats)
	}
	// Generous: the heap may keep a few MB of pooled interpreters and runtime slack.
	if after > base+24<<20 {
		t.Fatalf("heap %.1f MB after expiry, %.1f MB before: the memory did not come back", mb(after), mb(base))
	}
}

// fillKeys checks n keys once each, from one goroutine per CPU.
func fillKeys(t *testing.T, b *testEngine, n int) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, err := b.CheckAt(ctx, "p", "user-"+strconv.Itoa(i), 1, 1_700_000_000_000); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
