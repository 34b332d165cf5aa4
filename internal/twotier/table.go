package twotier

import (
	"hash/maphash"
	"strings"
	"math/bits"
	"sync"
)

// A table is L1's map from key to per-key state, bounded: when full, the oldest key (by
// creation) goes first. Eviction only forfeits what L1 held (credits, a cached denial),
// which is the safe direction. It is sharded so that checks on different keys rarely meet
// on a lock; each shard holds an equal part of the bound.
type table[E any] struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard[E]
}

type shard[E any] struct {
	mu     sync.Mutex
	slots  map[string]*slot[E]
	oldest *slot[E] // creation order, oldest first
	newest *slot[E]
	limit  int
}

type slot[E any] struct {
	key        string
	val        E
	prev, next *slot[E]
}

// maxShards bounds the locks a table spreads its keys over.
const maxShards = 64

func newTable[E any](maxKeys int) *table[E] {
	n := 1 << (bits.Len(uint(min(maxKeys, maxShards))) - 1) // a power of two <= maxKeys
	t := &table[E]{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]shard[E], n)}
	for i := range t.shards {
		t.shards[i] = shard[E]{slots: map[string]*slot[E]{}, limit: maxKeys / n}
	}
	return t
}

func (t *table[E]) shard(key string) *shard[E] {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// get finds key's state, or nil. The shard must be locked.
func (s *shard[E]) get(key string) *E {
	if sl := s.slots[key]; sl != nil {
		return &sl.val
	}
	return nil
}

// ensure finds or creates key's state (evicting the oldest key when the shard is full).
// The shard must be locked.
func (s *shard[E]) ensure(key string) *E {
	if sl := s.slots[key]; sl != nil {
		return &sl.val
	}
	if len(s.slots) >= s.limit && s.oldest != nil {
		s.drop(s.oldest)
	}
	key = strings.Clone(key) // kept: the caller's string may be a view of its own memory
	sl := &slot[E]{key: key, prev: s.newest}
	if s.newest != nil {
		s.newest.next = sl
	} else {
		s.oldest = sl
	}
	s.newest = sl
	s.slots[key] = sl
	return &sl.val
}

// remove forgets key. The shard must be locked.
func (s *shard[E]) remove(key string) {
	if sl := s.slots[key]; sl != nil {
		s.drop(sl)
	}
}

func (s *shard[E]) drop(sl *slot[E]) {
	if sl.prev != nil {
		sl.prev.next = sl.next
	} else {
		s.oldest = sl.next
	}
	if sl.next != nil {
		sl.next.prev = sl.prev
	} else {
		s.newest = sl.prev
	}
	delete(s.slots, sl.key)
}

// sweep removes every key whose state stale reports, shard by shard.
func (t *table[E]) sweep(stale func(*E) bool) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for sl := s.oldest; sl != nil; {
			next := sl.next
			if stale(&sl.val) {
				s.drop(sl)
			}
			sl = next
		}
		s.mu.Unlock()
	}
}
