package servicedoor

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Auto-batching on the service door: a coalescer whose batches are CheckMany RPCs. Concurrent
// checks of one policy at one cost travel as one CheckMany, which the server evaluates at one
// instant, in order: the decisions concurrent Checks would get, for one RPC's cost instead of
// many (on loopback, gRPC's per-call work dominates the server's and the client's CPU).
const (
	serviceSlots    = 4
	maxServiceBatch = 256
)

// checkReq is one Check RPC's content.
type checkReq struct {
	policy, key string
	cost        int64
}

// newServiceBatcher sends Checks on rpc; off sends each as its own RPC.
func newServiceBatcher(rpc contract.RateLimiterClient, off bool) *coalesce.Coalescer[checkReq] {
	return &coalesce.Coalescer[checkReq]{
		Off:      off,
		Panicked: front.Internal,
		Slots:    serviceSlots,
		MaxBatch: maxServiceBatch,
		Joins:    func(head, r checkReq) bool { return r.policy == head.policy && r.cost == head.cost },
		SendOne:  func(ctx context.Context, r checkReq) (any, error) { return checkRPC(ctx, rpc, r) },
		SendBatch: func(ctx context.Context, reqs []checkReq) []coalesce.Outcome {
			keys := make([]string, len(reqs))
			for i, r := range reqs {
				keys[i] = r.key
			}
			outs := make([]coalesce.Outcome, len(reqs))
			var header metadata.MD
			resp, err := rpc.CheckMany(ctx, &contract.CheckManyRequest{Policy: reqs[0].policy, Keys: keys, Cost: reqs[0].cost}, grpc.Header(&header))
			if err == nil && len(resp.GetDecisions()) != len(keys) {
				err = front.NewError(front.ErrInternal, "the server answered %d decisions for %d keys", len(resp.GetDecisions()), len(keys))
			}
			flags := flagsOf(header)
			for i := range outs {
				if err != nil {
					outs[i].Err = err
				} else {
					outs[i].Reply = flags.decision(resp.GetDecisions()[i], i)
				}
			}
			return outs
		},
	}
}

// StartCheck makes the check Check would make and reports it to w (see front.Scripted.StartCheck);
// nowMs must be 0: this door has no explicit clock.
func (b *Backend) StartCheck(ctx context.Context, policy, key string, cost, nowMs int64, w front.Waiter) {
	if b.fleetStart(ctx, policy, key, cost, nowMs, w) {
		return
	}
	if err := checkRequest(policy, cost, "cost", key, nowMs); err != nil {
		w.Done(front.Decision{}, err)
		return
	}
	ctx, cancel := b.bound(ctx)
	complete := func(reply any, err error) {
		cancel()
		if err != nil {
			w.Done(front.Decision{}, serviceError(err))
			return
		}
		w.Done(reply.(front.Decision), nil)
	}
	b.checks.Submit(&coalesce.Pending[checkReq]{Ctx: ctx, Req: checkReq{policy: policy, key: key, cost: cost},
		Complete: complete, Lead: front.LeadOf(w)})
}

// checkRPC sends one Check RPC; the reply is a Decision.
func checkRPC(ctx context.Context, rpc contract.RateLimiterClient, r checkReq) (any, error) {
	var header metadata.MD
	resp, err := rpc.Check(ctx, &contract.CheckRequest{Policy: r.policy, Key: r.key, Cost: r.cost}, grpc.Header(&header))
	if err != nil {
		return nil, err
	}
	return flagsOf(header).decision(resp.GetDecision(), 0), nil
}
