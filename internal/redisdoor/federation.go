package redisdoor

import (
	"context"
	"sync"

	"github.com/throttlekit/throttlekit-go/internal/federation"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// fed is the backend's federation, made on first use: most backends serve no federated
// policy and need none.
type fed struct {
	once    sync.Once
	maxKeys int // Options.LocalMaxKeys: the same bound as two-tier L1's
	tier    *federation.Tier1
}

// Federation is the Tier 1 of the backend's federated policies (two-tier.md §6.2), its
// coordinator scripts run like the decision scripts (auto-pipelined; one key per call, so a
// Cluster routes each). Its keys are not under the backend's namespace: upstream's state.
func (b *Backend) Federation() *federation.Tier1 {
	b.fed.once.Do(func() {
		b.fed.tier = federation.NewTier1(federation.NewCoordinator(b.runner), federation.Options{MaxKeys: b.fed.maxKeys})
	})
	return b.fed.tier
}

// Reserve leases budget of a federated policy for a library client (Fleet.Reserve, §6.3):
// leaseKey "" is the policy's name, want ≤ 0 is 1, nowMs 0 the process clock (the script
// then windows on Redis's). A policy that is not federated is ErrPolicyNotFound.
func (b *Backend) Reserve(ctx context.Context, policyName, leaseKey string, want, nowMs int64) (federation.Lease, error) {
	p, ok := b.Policies().Lookup(policyName)
	if !ok || p.Federated == nil {
		return federation.Lease{}, front.NewError(front.ErrPolicyNotFound, "fleet: no leasable policy %q (not a federated policy of this server)", policyName)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, federation.DefaultCallTimeout)
		defer cancel()
	}
	return b.Federation().Coordinator().Reserve(ctx, p, leaseKey, want, nowMs)
}
