package engine

import (
	"container/list"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/throttlekit/throttlekit-go/policy"
)

// meterCaps honours tokenBudget.maxKeys and fleetBudget.maxKeys (upstream's per-process cache
// of meters): the engine keeps at most that many keys of each meter policy, and past it the
// policy's oldest key goes, as upstream's server drops its oldest meter. The keyspace tells
// it of every key it adds and removes; the eviction runs after a script, outside its locks.
type meterCaps struct {
	groups  atomic.Pointer[[]*meterGroup]
	pending atomic.Bool // some group holds more keys than its cap
}

// meterGroup is one meter policy's keys, oldest first.
type meterGroup struct {
	prefix string // every key of the policy starts with it
	cap    int

	mu    sync.Mutex
	order *list.List // of string
	at    map[string]*list.Element
}

// set installs the groups of set's meter policies (keys under namespace), keeping what a
// group with the same prefix already tracks.
func (mc *meterCaps) set(set *policy.Set, namespace string) {
	old := map[string]*meterGroup{}
	if g := mc.groups.Load(); g != nil {
		for _, m := range *g {
			old[m.prefix] = m
		}
	}
	var groups []*meterGroup
	for _, name := range set.Names() {
		p, _ := set.Lookup(name)
		if !p.IsMeter() || p.MaxKeys <= 0 {
			continue
		}
		prefix := p.RedisKey(namespace, "")
		g := old[prefix]
		if g == nil {
			g = &meterGroup{prefix: prefix, order: list.New(), at: map[string]*list.Element{}}
		}
		g.mu.Lock()
		g.cap = int(min(p.MaxKeys, int64(1)<<40))
		if g.order.Len() > g.cap {
			mc.pending.Store(true)
		}
		g.mu.Unlock()
		groups = append(groups, g)
	}
	mc.groups.Store(&groups)
}

func (mc *meterCaps) groupOf(key string) *meterGroup {
	g := mc.groups.Load()
	if g == nil {
		return nil
	}
	for _, m := range *g {
		if strings.HasPrefix(key, m.prefix) {
			return m
		}
	}
	return nil
}

// added counts a new key (its shard is locked).
func (mc *meterCaps) added(key string) {
	g := mc.groupOf(key)
	if g == nil {
		return
	}
	g.mu.Lock()
	if _, ok := g.at[key]; !ok {
		g.at[key] = g.order.PushBack(key)
	}
	if g.order.Len() > g.cap {
		mc.pending.Store(true)
	}
	g.mu.Unlock()
}

// removed forgets a key (its shard is locked).
func (mc *meterCaps) removed(key string) {
	g := mc.groupOf(key)
	if g == nil {
		return
	}
	g.mu.Lock()
	if el, ok := g.at[key]; ok {
		g.order.Remove(el)
		delete(g.at, key)
	}
	g.mu.Unlock()
}

// enforce evicts the oldest keys of every group over its cap. No shard lock may be held.
func (mc *meterCaps) enforce(ks *keyspace) {
	groups := mc.groups.Load()
	if groups == nil || !mc.pending.CompareAndSwap(true, false) {
		return
	}
	for _, g := range *groups {
		for {
			g.mu.Lock()
			if g.order.Len() <= g.cap {
				g.mu.Unlock()
				break
			}
			key := g.order.Front().Value.(string)
			g.mu.Unlock()
			sh := ks.shardFor(key)
			sh.mu.Lock()
			if e := sh.keys[key]; e != nil {
				ks.remove(sh, key, e)
				ks.evictions.Add(1)
			} else {
				mc.removed(key) // already gone: never leave it at the front
			}
			sh.mu.Unlock()
		}
	}
}
