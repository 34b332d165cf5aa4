package federation

import (
	"context"
	"sync"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// entry is one key's share of the current window (two-tier.md §6.2).
type entry struct {
	mu             sync.Mutex
	balance        int64
	windowStart    int64
	windowEnd      int64 // 0 until the first check
	lastReconciled int64 // the window start last reconciled, -1 for none
	pending        *flight
}

// flight is one LEASE in progress, shared by every check of the key that misses meanwhile.
type flight struct {
	done    chan struct{}
	granted int64
}

// initEntry sets up a key's entry as its table creates it.
func initEntry(e *entry) { e.lastReconciled = -1 }

// roll moves the entry to the window holding now when the one it holds has ended. It
// returns the balance left over and the old window's start when that window still needs
// reconciling (once per window, and only for a leftover > 0).
func (e *entry) roll(now, windowMs int64) (leftover, oldStart int64, reconcile bool) {
	if e.windowEnd == 0 {
		e.windowStart = now / windowMs * windowMs
		e.windowEnd = e.windowStart + windowMs
		return 0, 0, false
	}
	if now < e.windowEnd {
		return 0, 0, false
	}
	leftover, oldStart = e.balance, e.windowStart
	e.balance = 0
	e.windowStart = now / windowMs * windowMs
	e.windowEnd = e.windowStart + windowMs
	e.pending = nil // a lease of the old window lands nowhere
	if e.lastReconciled == oldStart {
		return 0, 0, false
	}
	e.lastReconciled = oldStart
	return leftover, oldStart, leftover > 0
}

// awaitLease joins the key's LEASE in flight, or starts one for want units, and waits for
// it with e.mu released. It returns what that LEASE granted (added to the balance once, by
// the flight itself, if the entry still expects it); an error only when ctx ends first.
func (t *Tier1) awaitLease(ctx context.Context, e *entry, p *policy.Policy, key string, want, nowMs int64) (int64, error) {
	f := e.pending
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.pending = f
		go t.fly(e, f, p, key, want, nowMs)
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	select {
	case <-f.done:
		return f.granted, nil
	case <-ctx.Done():
		return 0, &front.Error{Kind: front.ErrTimeout, Msg: "federation: the call ended while waiting for a lease", Cause: ctx.Err()}
	}
}

// fly runs one LEASE, detached from the callers waiting on it. A coordinator error grants 0.
func (t *Tier1) fly(e *entry, f *flight, p *policy.Policy, key string, want, nowMs int64) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	granted, _, err := t.coord.Lease(ctx, p, key, want, nowMs)
	cancel()
	if err != nil || granted < 0 {
		granted = 0
	}
	e.mu.Lock()
	if e.pending == f {
		e.pending = nil
		e.balance += granted
	}
	e.mu.Unlock()
	f.granted = granted
	close(f.done)
}
