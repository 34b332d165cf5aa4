package monitor

import (
	"cmp"
	"slices"
	"sync/atomic"
)

// RecentDenials is how many of the latest denials a snapshot reports.
const RecentDenials = 200

// denialRing holds the latest denials without a lock: writers claim a position with one
// atomic add and publish an immutable event there.
type denialRing struct {
	next  atomic.Uint64
	slots [RecentDenials]atomic.Pointer[Denial]
}

func (r *denialRing) add(d *Denial) {
	i := r.next.Add(1) - 1
	r.slots[i%RecentDenials].Store(d)
}

// list returns the held denials, oldest first.
func (r *denialRing) list() []Denial {
	out := make([]Denial, 0, RecentDenials)
	for i := range r.slots {
		if d := r.slots[i].Load(); d != nil {
			out = append(out, *d)
		}
	}
	// Writers finish out of order, so the time is the order, not the position.
	slices.SortStableFunc(out, func(a, b Denial) int { return cmp.Compare(a.At, b.At) })
	return out
}
