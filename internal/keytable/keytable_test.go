package keytable

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// has reports whether key is held, under its shard's lock.
func has[E any](t *Table[E], key string) bool {
	s := t.Shard(key)
	s.Lock()
	defer s.Unlock()
	return s.Get(key) != nil
}

// The shards' limits add up to the bound, and a small table is one shard.
func TestShardLimitsAddUp(t *testing.T) {
	for _, n := range []int{1, 3, 1023, 2048, 5000, 65_537, DefaultMaxKeys, 1 << 20} {
		tb := New[int](n, nil)
		sum := 0
		for i := range tb.shards {
			sum += tb.shards[i].limit
		}
		if sum != n {
			t.Errorf("bound %d: the shards' limits add up to %d", n, sum)
		}
		if n < 2*minShardKeys && len(tb.shards) != 1 {
			t.Errorf("bound %d: %d shards, want 1", n, len(tb.shards))
		}
	}
	if got := len(New[int](0, nil).shards); got != maxShards {
		t.Errorf("the default bound spreads over %d shards, want %d", got, maxShards)
	}
}

// Many goroutines creating keys never push the table past its bound.
func TestBoundUnderConcurrency(t *testing.T) {
	const bound = 5000
	tb := New[int](bound, nil)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprint(g, "/", i)
				s := tb.Shard(key)
				s.Lock()
				*s.Ensure(key)++
				s.Unlock()
				if i%500 == 0 && tb.Len() > bound {
					t.Errorf("%d keys held, bound %d", tb.Len(), bound)
				}
			}
		})
	}
	wg.Wait()
	if n := tb.Len(); n > bound || n < bound/2 {
		t.Errorf("%d keys held after 32,000 distinct ones; want at most %d and most of it", n, bound)
	}
}

// The oldest key by creation goes first; using a key does not make it younger.
func TestOldestCreatedOut(t *testing.T) {
	tb := New[int](3, nil)
	for _, k := range []string{"a", "b", "c", "a", "d"} {
		tb.Ensure(k)
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if has(tb, k) != want {
			t.Errorf("%q held: %v, want %v", k, !want, want)
		}
	}
	tb.Ensure("e")
	if has(tb, "b") || tb.Len() != 3 {
		t.Errorf("after e: b held %v, %d keys; want b out and 3 keys", has(tb, "b"), tb.Len())
	}
}

// A key passed as a view of memory later overwritten is still found under its own text.
func TestKeyCloned(t *testing.T) {
	tb := New[int](10, nil)
	buf := []byte("tenant-1")
	view := unsafe.String(&buf[0], len(buf))
	*tb.Ensure(view) = 7
	copy(buf, "tenant-2")
	s := tb.Shard("tenant-1")
	s.Lock()
	v := s.Get("tenant-1")
	s.Unlock()
	if v == nil || *v != 7 {
		t.Fatalf("tenant-1 lost after its caller's memory changed: %v", v)
	}
	if has(tb, "tenant-2") {
		t.Error("tenant-2 found: the table kept the caller's memory")
	}
}

// init sets a state up once, when created; its pointer stays the key's until the key goes,
// and a held pointer outlives its eviction.
func TestInitAndPointers(t *testing.T) {
	made := 0
	tb := New(1, func(v *int) { made++; *v = 10 })
	p := tb.Ensure("a")
	if *p != 10 || tb.Ensure("a") != p || made != 1 {
		t.Fatalf("state %d, same pointer %v, made %d; want 10, true, 1", *p, tb.Ensure("a") == p, made)
	}
	*p = 3
	tb.Ensure("b") // evicts a
	if q := tb.Ensure("a"); q == p || *q != 10 || *p != 3 {
		t.Errorf("a recreated: same pointer %v, new %d, old %d; want a fresh 10 and the old 3", q == p, *q, *p)
	}
}

// Sweep and Remove drop keys; the order of the rest still decides eviction.
func TestSweepAndRemove(t *testing.T) {
	tb := New[int](4, nil)
	for i, k := range []string{"a", "b", "c", "d"} {
		*tb.Ensure(k) = i
	}
	tb.Sweep(func(v *int) bool { return *v%2 == 1 }) // b, d
	s := tb.Shard("a")
	s.Lock()
	s.Remove("a")
	s.Remove("zz") // absent: nothing happens
	s.Unlock()
	for _, k := range []string{"e", "f", "g", "h"} {
		tb.Ensure(k)
	}
	if has(tb, "c") || !has(tb, "e") || !has(tb, "h") || tb.Len() != 4 {
		t.Errorf("c %v, e %v, h %v, %d keys; want c out, e and h in, 4 keys", has(tb, "c"), has(tb, "e"), has(tb, "h"), tb.Len())
	}
}
