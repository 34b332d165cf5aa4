package twotier

import (
	"math"
	"sync/atomic"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// LocalStore holds some of a leased key's credits outside L1, for callers that spend them
// without entering Go (the C boundary's slots: internal/cabi/credits.c). L1 hands it chunks
// and takes them back before it leases or refills, with the key's lock held, so that a
// process still leases only when it holds no credits (two-tier.md §3).
type LocalStore interface {
	// Keep takes granted units of the key until untilMs; checks answered from them report
	// tmpl, Remaining counted down to tmpl.Remaining. false: not kept (L1 keeps them).
	Keep(policy, key string, tmpl front.Decision, granted, untilMs int64) bool
	// TakeBack empties the key's holding and returns the units still valid in it.
	TakeBack(policy, key string) int64
	// Forget empties every holding (a policy swap, Close).
	Forget()
}

// localRef is the door's LocalStore, shared with its leased tiers.
type localRef struct{ p atomic.Pointer[LocalStore] }

func (r *localRef) get() LocalStore {
	if p := r.p.Load(); p != nil {
		return *p
	}
	return nil
}

// SetLocalStore gives the door's leased policies a LocalStore to hand chunks to.
func (d *Door) SetLocalStore(s LocalStore) { d.local.p.Store(&s) }

// TakeLocal hands up to want of a leased key's credits to the door's LocalStore, counted as
// spent here, and returns how many it handed.
func (d *Door) TakeLocal(policyName, key string, want, nowMs int64) int64 {
	t, ok := d.tier(policyName).(*leased)
	if !ok || want <= 0 {
		return 0
	}
	return t.take(key, want, nowMs)
}

// take grants a chunk: a sixteenth of a batch at most (little to lapse), never down to the
// low-water mark (the refill's take-back would undo it), ending with the window of a
// window-coupled policy.
func (t *leased) take(key string, want, now int64) int64 {
	st := t.local.get()
	if st == nil {
		return 0
	}
	s := t.keys.Shard(key)
	s.Lock()
	defer s.Unlock()
	c := s.Get(key)
	if c == nil || !c.hasLast || c.lease != nil || (t.cfg.WindowCoupled && t.read(&now) >= c.last.ResetAt) {
		return 0
	}
	avail := c.credits - t.cfg.LowWater
	if t.cfg.LowWater > 0 {
		avail--
	}
	n := min(want, max(t.cfg.Batch/16, 1), avail)
	if n <= 0 {
		return 0
	}
	until := int64(math.MaxInt64)
	if t.cfg.WindowCoupled {
		until = c.last.ResetAt
	}
	c.credits -= n
	tmpl := front.Decision{Allowed: true, Limit: t.limit, Remaining: c.credits, ResetAt: c.last.ResetAt, WindowMs: c.last.WindowMs, Local: true}
	if !st.Keep(t.p.Name, key, tmpl, n, until) {
		c.credits += n
		return 0
	}
	return n
}

// takeBack returns to c what the LocalStore holds of the key; called with the key's lock
// held, before a lease or a refill. They lapse for a key L1 dropped meanwhile (no lease on
// record), and for a window-coupled key whose window ended by the call's instant (the store
// ends them by the wall clock; an explicit instant can be later).
func (t *leased) takeBack(key string, c *credit, now int64) {
	st := t.local.get()
	if st == nil {
		return
	}
	n := st.TakeBack(t.p.Name, key)
	if c.hasLast && (!t.cfg.WindowCoupled || t.read(&now) < c.last.ResetAt) {
		c.credits += n
	}
}
