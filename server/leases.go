package server

import (
	"sync"
	"time"
)

// The server's lease table (admission.md §4): the wire names a lease by its id alone, while
// the store's lease script needs the policy and key of its guard, so the server remembers
// them for every lease it issued, with the deadline the store gave it, until it is released,
// reclaimed or swept.

// lease is what the table keeps of one issued lease.
type lease struct {
	policy, key string
	expiresAt   int64 // epoch ms, as the store set it at the last Admit or Heartbeat
}

// leaseTable is safe for concurrent use.
type leaseTable struct {
	mu     sync.Mutex
	leases map[string]lease
}

func newLeaseTable() *leaseTable { return &leaseTable{leases: map[string]lease{}} }

func (t *leaseTable) put(id string, l lease) {
	t.mu.Lock()
	t.leases[id] = l
	t.mu.Unlock()
}

// take removes and returns a lease, so that exactly one caller (a Release, a reclaiming
// Heartbeat or the sweep) returns its slot.
func (t *leaseTable) take(id string) (lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.leases[id]
	if ok {
		delete(t.leases, id)
	}
	return l, ok
}

func (t *leaseTable) get(id string) (lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.leases[id]
	return l, ok
}

// renew moves a lease's deadline if the lease is still in the table.
func (t *leaseTable) renew(id string, expiresAt int64) {
	t.mu.Lock()
	if l, ok := t.leases[id]; ok {
		l.expiresAt = expiresAt
		t.leases[id] = l
	}
	t.mu.Unlock()
}

// expired removes and returns every lease whose deadline is at or before now.
func (t *leaseTable) expired(now int64) map[string]lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string]lease
	for id, l := range t.leases {
		if l.expiresAt <= now {
			if out == nil {
				out = map[string]lease{}
			}
			out[id] = l
			delete(t.leases, id)
		}
	}
	return out
}

// Len is the number of leases held.
func (t *leaseTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.leases)
}

// SweepInterval is how often the server reclaims leases whose deadline has passed
// (admission.md §4.5): an abandoned lease comes back between its TTL and TTL + 1 s.
const SweepInterval = time.Second
