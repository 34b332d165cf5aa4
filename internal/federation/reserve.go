package federation

import (
	"context"

	"github.com/throttlekit/throttlekit-go/policy"
)

// Lease is what Fleet.Reserve hands a client (two-tier.md §6.3): Capacity units to spend
// until ExpiryMs (the window's end); a Capacity of 0 is a denial, to retry after RetryAfterMs.
type Lease struct {
	Capacity          int64
	ExpiryMs          int64
	RefreshIntervalMs int64
	SafeCapacity      int64
	RetryAfterMs      int64
	Limit             int64
}

// Reserve leases want units (≤ 0 means 1) of leaseKey's budget under p for a client; an
// empty leaseKey is the policy's name. nowMs > 0 is an explicit instant (given to LEASE too);
// 0 is the process clock, LEASE then windowing on Redis's, as upstream's server does. A
// coordinator error is returned (the server answers INTERNAL).
func (c *Coordinator) Reserve(ctx context.Context, p *policy.Policy, leaseKey string, want, nowMs int64) (Lease, error) {
	if leaseKey == "" {
		leaseKey = p.Name
	}
	if want <= 0 {
		want = 1
	}
	t := clock(nowMs)
	w := p.FederationWindowMs()
	end := t/w*w + w
	granted, _, err := c.Lease(ctx, p, leaseKey, want, nowMs)
	if err != nil {
		return Lease{}, err
	}
	capacity := max(0, granted)
	l := Lease{Capacity: capacity, ExpiryMs: end, RefreshIntervalMs: max(1, end-t), SafeCapacity: capacity,
		Limit: p.ReportedLimit()}
	if capacity == 0 {
		l.RetryAfterMs = max(0, end-t)
	}
	return l, nil
}
