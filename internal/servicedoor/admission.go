package servicedoor

import (
	"context"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Admission through the service door: the server's Admit, Release and Heartbeat RPCs. The
// wire names a lease by its id only, so Release and Heartbeat send no policy or key; the
// server's clock decides, as for every call of this door.

// Admit sends one Admit RPC (see front.Admitter).
func (b *Backend) Admit(ctx context.Context, policy, key string, cost, nowMs int64) (front.Admission, error) {
	if err := checkRequest(policy, cost, "cost", key, nowMs); err != nil {
		return front.Admission{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	resp, err := b.rpc.Admit(ctx, &contract.AdmitRequest{Policy: policy, Key: key, Cost: cost})
	if err != nil {
		return front.Admission{}, serviceError(err)
	}
	return front.Admission{
		Decision:       wireFlags{}.decision(resp.GetDecision(), 0),
		LeaseID:        resp.GetLeaseId(),
		LeaseExpiresAt: resp.GetLeaseExpiresAt(),
		BindingAxis:    resp.GetBindingAxis(),
		PolicyDenied:   resp.GetPolicyDenied(),
	}, nil
}

// Release sends one Release RPC (see front.Admitter); an empty id sends nothing.
func (b *Backend) Release(ctx context.Context, policy, key, leaseID string, dropped bool, nowMs int64) error {
	if nowMs != 0 {
		return errNoClock
	}
	if leaseID == "" {
		return nil
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if _, err := b.rpc.Release(ctx, &contract.ReleaseRequest{LeaseId: leaseID, Dropped: dropped}); err != nil {
		return serviceError(err)
	}
	return nil
}

// Heartbeat sends one Heartbeat RPC (see front.Admitter).
func (b *Backend) Heartbeat(ctx context.Context, policy, key string, leaseIDs []string, nowMs int64) (front.Heartbeat, error) {
	if nowMs != 0 {
		return front.Heartbeat{}, errNoClock
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	resp, err := b.rpc.Heartbeat(ctx, &contract.HeartbeatRequest{LeaseIds: leaseIDs})
	if err != nil {
		return front.Heartbeat{}, serviceError(err)
	}
	return front.Heartbeat{Live: resp.GetLiveIds(), Reclaimed: resp.GetReclaimedIds(), NextDeadline: resp.GetNextDeadline()}, nil
}
