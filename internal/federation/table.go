package federation

import (
	"container/list"
	"sync"
)

// DefaultMaxKeys bounds a process's entries per policy (two-tier.md §8).
const DefaultMaxKeys = 100_000

// Table holds entries by key, at most max of them: the least recently used goes first when a
// new key needs room. Evicting forfeits an entry's credits, which is safe (the coordinator
// already counted them). Safe for concurrent use; an entry guards its own state.
type Table[E any] struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*list.Element
	order list.List // of *slot[E], least recently used at the front
	fresh func() *E
}

type slot[E any] struct {
	key string
	val *E
}

// NewTable holds at most max entries (0: DefaultMaxKeys), made by fresh.
func NewTable[E any](max int, fresh func() *E) *Table[E] {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	return &Table[E]{max: max, byKey: map[string]*list.Element{}, fresh: fresh}
}

// Get returns key's entry, created (and the oldest evicted when full) if absent.
func (t *Table[E]) Get(key string) *E {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byKey[key]; ok {
		t.order.MoveToBack(el)
		return el.Value.(*slot[E]).val
	}
	for t.order.Len() >= t.max {
		oldest := t.order.Front()
		delete(t.byKey, oldest.Value.(*slot[E]).key)
		t.order.Remove(oldest)
	}
	s := &slot[E]{key: key, val: t.fresh()}
	t.byKey[key] = t.order.PushBack(s)
	return s.val
}

// Len is the number of entries held.
func (t *Table[E]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}

// tables keeps one table per policy name.
type tables[E any] struct {
	mu     sync.Mutex
	max    int
	fresh  func() *E
	policy map[string]*Table[E]
}

func newTables[E any](max int, fresh func() *E) *tables[E] {
	return &tables[E]{max: max, fresh: fresh, policy: map[string]*Table[E]{}}
}

func (ts *tables[E]) of(policyName string) *Table[E] {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.policy[policyName]
	if !ok {
		t = NewTable(ts.max, ts.fresh)
		ts.policy[policyName] = t
	}
	return t
}
