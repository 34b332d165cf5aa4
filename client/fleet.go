package client

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/federation"
)

// Lease is a share of a federated policy's budget (two-tier.md §6.3): Capacity units to
// spend until ExpiryMs, the end of the budget's window. A Capacity of 0 is a denial: retry
// after RetryAfterMs. Limit is the policy's budget per window; RefreshIntervalMs is how long
// the lease stays useful (ExpiryMs minus now); SafeCapacity equals Capacity.
type Lease = federation.Lease

// Reserve is the Go API of federated budgets (Fleet.Reserve, two-tier.md §6.3): it leases
// up to want units (≤ 0 means 1) of the budget of domain under a federated policy, from the
// coordinator in this backend's Redis. An empty domain is the policy's name; Check of the
// same policy with key = domain draws on the same budget. A policy that is not federated
// answers ErrPolicyNotFound; a Redis failure answers its error (the Lease is then zero).
func (b *RedisBackend) Reserve(ctx context.Context, policy, domain string, want int64) (Lease, error) {
	return b.redis.Reserve(ctx, policy, domain, want, 0)
}

// ReserveAt is Reserve at the explicit instant nowMs (epoch ms), which the coordinator's
// script also windows on: for tests and replays.
func (b *RedisBackend) ReserveAt(ctx context.Context, policy, domain string, want, nowMs int64) (Lease, error) {
	return b.redis.Reserve(ctx, policy, domain, want, nowMs)
}
