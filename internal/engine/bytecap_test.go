package engine_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// heapAfterGCs is the heap once the garbage is collected: the live objects' bytes
// (HeapAlloc) and the in-use spans holding them (HeapInuse).
func heapAfterGCs() (alloc, inUse int64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), int64(m.HeapInuse)
}

// 100,000 keys of the longest size a key may have, each checked once through the scripts,
// with a byte cap of 64 MiB: the engine's count never passes the cap, the heap grows by
// about the cap (not the ~500 MB the keys would take), the keys closest to expiry, the
// oldest here, are the ones evicted, and the keys still held keep counting. (Half of that
// under -race, which slows the interpreter by an order of magnitude.)
func TestEngineByteCapBoundsLongKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("500 MB of keys: skipped with -short")
	}
	keys, capBytes := 100_000, int64(64<<20)
	if raceDetector {
		keys, capBytes = 50_000, 32<<20
	}
	const at = int64(1_700_000_000_000)
	clock := newFakeClock(1_800_000_000_000)
	b := openEngine(t, "limiters:\n  p: { strategy: fixedWindow, limit: 3, windowMs: 3600000 }\n",
		engine.Options{MaxBytes: capBytes, Clock: clock.now, SweepInterval: time.Hour})
	if _, err := b.CheckAt(ctx, "p", "warm-up", 1, at); err != nil {
		t.Fatal(err)
	}
	baseAlloc, baseInUse := heapAfterGCs()

	pad := strings.Repeat("k", policy.MaxKeyBytes-8)
	name := func(i int) string { return fmt.Sprintf("%s%08d", pad, i) }
	maxSeen := int64(0)
	for i := 0; i < keys; i++ {
		if i%100 == 0 {
			// Later keys expire later: the eviction's choice, closest to expiry, is the oldest.
			clock.advance(time.Millisecond)
		}
		d, err := b.CheckAt(ctx, "p", name(i), 1, at)
		if err != nil || !d.Allowed || d.Remaining != 2 {
			t.Fatalf("first check of key %d: %+v, %v; want allowed with 2 left", i, d, err)
		}
		if n := b.Stats().Bytes; n > maxSeen {
			maxSeen = n
		}
	}
	stats := b.Stats()
	alloc, inUse := heapAfterGCs()
	grown, spans := alloc-baseAlloc, inUse-baseInUse
	t.Logf("%d keys of %d bytes under a %d MiB cap: %+v; most bytes counted %.1f MiB; the live heap grew %.1f MiB (%.2f of the count), its in-use spans %.1f MiB",
		keys, policy.MaxKeyBytes, capBytes>>20, stats, mib(maxSeen), mib(grown), float64(grown)/float64(stats.Bytes), mib(spans))
	if maxSeen > capBytes {
		t.Fatalf("the count reached %d bytes, over the cap of %d", maxSeen, capBytes)
	}
	if stats.Bytes < capBytes*9/10 {
		t.Fatalf("the count is %d bytes: the cap of %d should be nearly full", stats.Bytes, capBytes)
	}
	// The live heap is what the count estimates: the margin covers the estimate's error and
	// runtime slack. The in-use spans add the holes evicted keys leave until new ones fill
	// them (the keys evicted since the last GC cycle, up to GOGC's share of the heap).
	const slack = 2 << 20
	if limit := capBytes + capBytes/8 + slack; grown > limit {
		t.Fatalf("the live heap grew by %.1f MiB, more than the cap of %d MiB and a margin (%.1f MiB)",
			mib(grown), capBytes>>20, mib(limit))
	}
	if limit := 2*capBytes + slack; spans > limit {
		t.Fatalf("the heap's in-use spans grew by %.1f MiB, more than twice the cap (%.1f MiB)", mib(spans), mib(limit))
	}
	if stats.Evictions < int64(keys/2) || stats.LiveKeys+stats.Evictions != int64(keys+1) || stats.Expired != 0 {
		t.Fatalf("stats %+v: want most of the %d keys evicted, every one either held or evicted", stats, keys+1)
	}

	// Oldest out: nearly all of the newest fifth of the keys the cap holds are still held:
	// the sampled eviction loses under 1% of them at this scale (about 3% under -race's
	// smaller one), evicting at random would lose a tenth.
	newest, held := int(stats.LiveKeys/5), 0
	for i := keys - newest; i < keys; i++ {
		if b.DumpForTest("p:"+name(i)).Type != "none" {
			held++
		}
	}
	if held < newest*95/100 {
		t.Fatalf("%d of the %d newest keys are held, want nearly all: eviction is not oldest first", held, newest)
	}
	if held < newest {
		t.Logf("%d of the %d newest keys are held", held, newest)
	}
	// A held key continues its count; an evicted one starts over.
	last := name(keys - 1)
	for want := int64(1); want >= 0; want-- {
		if d, err := b.CheckAt(ctx, "p", last, 1, at); err != nil || !d.Allowed || d.Remaining != want {
			t.Fatalf("check of the newest key: %+v, %v; want allowed with %d left", d, err, want)
		}
	}
	if d, err := b.CheckAt(ctx, "p", last, 1, at); err != nil || d.Allowed {
		t.Fatalf("fourth check of the newest key: %+v, %v; want denied", d, err)
	}
	if b.DumpForTest("p:"+name(0)).Type != "none" {
		t.Fatal("the oldest key is still held")
	}
	if d, err := b.CheckAt(ctx, "p", name(0), 1, at); err != nil || !d.Allowed || d.Remaining != 2 {
		t.Fatalf("check of the evicted oldest key: %+v, %v; want a fresh count with 2 left", d, err)
	}
}

// What the engine counts for ordinary keys of each value type against what the heap
// grows by, which is how the per-entry constants were set: the count must stay an honest
// estimate, neither far below the heap (the cap would not bound it) nor far above.
func TestEngineByteEstimateMatchesTheHeap(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("a measurement of one goroutine's heap, minutes long under -race: skipped with -short and -race")
	}
	const at = int64(1_700_000_000_000)
	for _, c := range []struct {
		name, yaml   string
		keys, perKey int
		low, high    float64
	}{
		{"string (gcra)", "limiters:\n  p: { strategy: gcra, limit: 100, periodMs: 60000, burst: 10 }\n", 100_000, 1, 0.7, 1.3},
		{"hash (slidingWindow, 10 buckets)", "limiters:\n  p: { strategy: slidingWindow, limit: 1000, windowMs: 10000, buckets: 10 }\n", 20_000, 10, 0.7, 1.3},
		{"zset (slidingWindowLog, 40 members)", "limiters:\n  p: { strategy: slidingWindowLog, limit: 1000, windowMs: 60000 }\n", 2_000, 40, 0.7, 1.3},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := openEngine(t, c.yaml, engine.Options{SweepInterval: time.Hour, MaxKeys: 10 * c.keys})
			if _, err := b.CheckAt(ctx, "p", "warm-up", 1, at); err != nil {
				t.Fatal(err)
			}
			before := b.Stats().Bytes
			base, _ := heapAfterGCs()
			for j := 0; j < c.perKey; j++ {
				for i := 0; i < c.keys; i++ {
					// Each check a millisecond apart in the window: a new bucket or member.
					if _, err := b.CheckAt(ctx, "p", fmt.Sprintf("user-%d", i), 1, at+int64(j)*997); err != nil {
						t.Fatal(err)
					}
				}
			}
			counted := b.Stats().Bytes - before
			alloc, _ := heapAfterGCs()
			grown := alloc - base
			ratio := float64(grown) / float64(counted)
			t.Logf("%d keys: counted %.1f MiB (%d bytes a key), the heap grew %.1f MiB: %.2f of the count",
				c.keys, mib(counted), counted/int64(c.keys), mib(grown), ratio)
			if ratio < c.low || ratio > c.high {
				t.Fatalf("the heap grew %.2f times what the engine counted, want %.2f to %.2f", ratio, c.low, c.high)
			}
		})
	}
}

// Every kind of write keeps the byte count equal to a recount from scratch, and once every
// key expired and the sweep reclaimed them the count is back to exactly zero.
func TestEngineByteCountHasNoDrift(t *testing.T) {
	clock := newFakeClock(1_800_000_000_000)
	b := openEngine(t, "limiters:\n"+
		"  g: { strategy: gcra, limit: 5, periodMs: 1000, burst: 2 }\n"+
		"  f: { strategy: fixedWindow, limit: 5, windowMs: 1000 }\n"+
		"  t: { strategy: tokenBucket, capacity: 5, refillPerSec: 5 }\n"+
		"  s: { strategy: slidingWindow, limit: 50, windowMs: 1000, buckets: 20 }\n"+
		"  l: { strategy: slidingWindowLog, limit: 60, windowMs: 1000 }\n",
		engine.Options{Clock: clock.now, SweepInterval: time.Hour})
	step := 0
	verify := func(what string) {
		t.Helper()
		step++
		recount, counted, drifted := b.RecountForTest()
		if recount != counted || drifted != "" {
			t.Fatalf("step %d (%s): the engine counts %d bytes, a recount gives %d (key %q drifted)",
				step, what, counted, recount, drifted)
		}
	}
	eval := func(src string, key string, argv ...string) {
		t.Helper()
		if _, err := b.EvalForTest(ctx, src+" return 1", []string{key}, argv...); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		verify(src)
	}

	at := int64(1_700_000_000_000)
	for i := 0; i < 80; i++ {
		for _, p := range []string{"g", "f", "t", "s", "l"} {
			// A few keys, revisited as time moves: creations, updates, sorted-set members
			// added and trimmed out of the window, hash buckets overwritten.
			if _, err := b.CheckAt(ctx, p, fmt.Sprintf("k%d", i%7), 1, at+int64(i)*37); err != nil {
				t.Fatal(err)
			}
			verify("check " + p)
		}
	}
	if b.Stats().Bytes == 0 {
		t.Fatal("no bytes counted for the keys held")
	}

	// The commands' own paths: a string grown and shrunk, a hash's fields added and
	// overwritten with longer and shorter values (past the size where an index appears),
	// a sorted set grown past its index and trimmed back, a type replaced by SET, deletes.
	eval("redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000)", "x:str", strings.Repeat("a", 300))
	eval("redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')", "x:str", "b")
	for i := 0; i < 40; i++ {
		eval("redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) redis.call('PEXPIRE', KEYS[1], 60000)",
			"x:hash", fmt.Sprintf("f%d", i%25), strings.Repeat("v", 1+i*7%50))
	}
	for i := 0; i < 100; i++ {
		eval("redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) redis.call('PEXPIRE', KEYS[1], 60000)",
			"x:zset", fmt.Sprint(i%60), fmt.Sprintf("member-%d", i*13%70))
	}
	eval("redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, 50)", "x:zset")
	eval("redis.call('SET', KEYS[1], 'now a string', 'PX', 60000)", "x:hash")
	eval("redis.call('ZADD', KEYS[1], 1, 'a', 2, 'b') redis.call('PEXPIRE', KEYS[1], 60000)", "x:gone")
	eval("redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '+inf')", "x:gone") // empties, so deletes
	eval("redis.call('SET', KEYS[1], 'v') redis.call('PEXPIRE', KEYS[1], -1)", "x:past")
	eval("redis.call('HSET', KEYS[1], 'a', '1') redis.call('DEL', KEYS[1]) redis.call('SET', KEYS[1], 'again', 'PX', 60000)", "x:del")
	for _, k := range []string{"x:gone", "x:past"} {
		if d := b.DumpForTest(k); d.Type != "none" {
			t.Fatalf("%s: %+v, want it deleted", k, d)
		}
	}

	// Half the keys expire and are reclaimed when touched, the rest by the sweep.
	clock.advance(2 * time.Minute)
	eval("redis.call('GET', KEYS[1])", "x:str")
	eval("redis.call('EXISTS', KEYS[1])", "x:zset")
	b.SweepForTest(time.Minute)
	verify("sweep")
	if s := b.Stats(); s.LiveKeys != 0 || s.Bytes != 0 {
		t.Fatalf("after every key expired and was reclaimed: %+v, want no key and no byte", s)
	}
}

// A negative cap is refused, as a negative MaxKeys is; 0 is the default.
func TestEngineMaxBytesOption(t *testing.T) {
	_, err := engine.Open([]byte("limiters:\n  p: { strategy: gcra, limit: 1, periodMs: 1000 }\n"), engine.Options{MaxBytes: -1})
	var fe *front.Error
	if !errors.As(err, &fe) || fe.Kind != front.ErrInvalidArgument || !strings.Contains(fe.Msg, "MaxBytes") {
		t.Fatalf("MaxBytes -1: %v, want an invalid argument naming MaxBytes", err)
	}
	b := openEngine(t, "limiters:\n  p: { strategy: gcra, limit: 1, periodMs: 1000 }\n", engine.Options{})
	if _, err := b.Check(ctx, "p", "k", 1); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.LiveKeys != 1 || s.Bytes <= 0 || s.Bytes > 1024 {
		t.Fatalf("one small key: %+v, want it counted, under 1 KiB", s)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
