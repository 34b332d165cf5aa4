// Package keytable holds the per-key state of the local tiers (two-tier L1, federation's
// Tier 1, the service door's spenders), bounded so that a flood of distinct keys costs at
// most the bound in memory. It is sharded because a local answer is the hot path: checks on
// different keys should rarely meet on one lock.
package keytable

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
)

// DefaultMaxKeys bounds a table whose maker names no bound (two-tier.md §8: 100,000 keys
// per policy).
const DefaultMaxKeys = 100_000

const (
	maxShards    = 64   // the most locks a table spreads its keys over
	minShardKeys = 1024 // a shard's least share: small tables stay one shard, exact in bound and order
)

// Table maps a key to its state E, holding at most its bound of keys: when full, the oldest
// key (by creation) goes first, as two-tier.md §1 and §8 say. Eviction only forfeits what a
// tier held locally (credits, a cached denial), which is the safe direction.
type Table[E any] struct {
	seed   maphash.Seed
	mask   uint64
	shards []Shard[E]
}

// Shard is the part of a table a key falls in. Its lock guards its keys and their states.
type Shard[E any] struct {
	sync.Mutex
	slots  map[string]*slot[E]
	oldest *slot[E] // creation order, oldest first
	newest *slot[E]
	limit  int
	init   func(*E)
}

type slot[E any] struct {
	key        string
	val        E
	prev, next *slot[E]
}

// New holds at most maxKeys keys (0 or less: DefaultMaxKeys). init, when not nil, sets up a
// key's state as it is created; without it a state starts as E's zero value.
func New[E any](maxKeys int, init func(*E)) *Table[E] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	n := 1 << (bits.Len(uint(min(max(maxKeys/minShardKeys, 1), maxShards))) - 1) // a power of two
	t := &Table[E]{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]Shard[E], n)}
	for i := range t.shards {
		limit := maxKeys / n
		if i < maxKeys%n {
			limit++ // the shards' limits add up to maxKeys exactly
		}
		t.shards[i] = Shard[E]{slots: map[string]*slot[E]{}, limit: limit, init: init}
	}
	return t
}

// Shard is the shard key falls in; lock it around Get, Ensure and Remove.
func (t *Table[E]) Shard(key string) *Shard[E] {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// Ensure finds or creates key's state under its shard's lock, for a state that guards
// itself: the pointer stays valid after the lock is released, and after an eviction.
func (t *Table[E]) Ensure(key string) *E {
	s := t.Shard(key)
	s.Lock()
	defer s.Unlock()
	return s.Ensure(key)
}

// Len counts the keys held.
func (t *Table[E]) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.Lock()
		n += len(s.slots)
		s.Unlock()
	}
	return n
}

// Sweep removes every key whose state stale reports, one shard at a time (each locked
// meanwhile).
func (t *Table[E]) Sweep(stale func(*E) bool) {
	for i := range t.shards {
		s := &t.shards[i]
		s.Lock()
		for sl := s.oldest; sl != nil; {
			next := sl.next
			if stale(&sl.val) {
				s.drop(sl)
			}
			sl = next
		}
		s.Unlock()
	}
}

// Get finds key's state, or nil. The shard must be locked.
func (s *Shard[E]) Get(key string) *E {
	if sl := s.slots[key]; sl != nil {
		return &sl.val
	}
	return nil
}

// Ensure finds or creates key's state, evicting the shard's oldest key when it is full. The
// shard must be locked.
func (s *Shard[E]) Ensure(key string) *E {
	if sl := s.slots[key]; sl != nil {
		return &sl.val
	}
	if len(s.slots) >= s.limit && s.oldest != nil {
		s.drop(s.oldest)
	}
	key = strings.Clone(key) // kept: the caller's string may be a view of its own memory
	sl := &slot[E]{key: key, prev: s.newest}
	if s.init != nil {
		s.init(&sl.val)
	}
	if s.newest != nil {
		s.newest.next = sl
	} else {
		s.oldest = sl
	}
	s.newest = sl
	s.slots[key] = sl
	return &sl.val
}

// Remove forgets key. The shard must be locked.
func (s *Shard[E]) Remove(key string) {
	if sl := s.slots[key]; sl != nil {
		s.drop(sl)
	}
}

func (s *Shard[E]) drop(sl *slot[E]) {
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
	sl.prev, sl.next = nil, nil // a caller may still hold the state: it must not keep neighbours alive
	delete(s.slots, sl.key)
}
