package servicedoor

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// check spends cost of key's credits under policy, reserving while they fall short. served
// is false when the server does not serve policy through Reserve (now remembered): the
// caller then sends a Check RPC.
func (f *fleet) check(ctx context.Context, policy, key string, cost, nowMs int64) (d front.Decision, served bool, err error) {
	e := f.spender(policy, key)
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return d, true, serviceError(ctx.Err())
	}
	defer func() { <-e.lock }()
	now := spendClock(nowMs)
	e.sp.Discard(now) // once, before the loop: a grant already expired on this clock is spent once
	reserved := false
	for range maxReserveRounds {
		d, ok, err := e.sp.Take(now, cost)
		if err != nil || ok {
			d.Local = ok && !reserved
			return d, true, err
		}
		lease, err := f.reserve(ctx, policy, key, cost)
		if notServed(err) {
			f.learn(policy, policyKind{plain: true})
			return d, false, nil
		}
		if err != nil {
			return d, true, serviceError(err)
		}
		reserved = true
		if lease.GetCapacity() <= 0 {
			return front.Decision{Allowed: false, Limit: lease.GetLimit(), ResetAt: lease.GetExpiryMs(),
				RetryAfterMs: lease.GetRetryAfterMs()}, true, nil
		}
		e.sp.Limit, e.sp.TTLMs = lease.GetLimit(), max(1, lease.GetExpiryMs())
		e.sp.Grant(lease.GetCapacity(), lease.GetExpiryMs())
	}
	return d, true, front.NewError(front.ErrInternal, "service: %d Reserve rounds did not cover a cost of %d", maxReserveRounds, cost)
}

// tryLocal spends from credits held, without waiting or calling: false when the key is busy
// or its credits fall short (the caller then runs check).
func (f *fleet) tryLocal(policy, key string, cost, nowMs int64) (front.Decision, bool) {
	e := f.spender(policy, key)
	select {
	case e.lock <- struct{}{}:
	default:
		return front.Decision{}, false
	}
	defer func() { <-e.lock }()
	now := spendClock(nowMs)
	e.sp.Discard(now)
	d, ok, err := e.sp.Take(now, cost)
	d.Local = true
	return d, ok && err == nil
}

// reserve asks the server for max(cost, batch) units of key's budget, and learns the policy's
// batch from the response.
func (f *fleet) reserve(ctx context.Context, policy, key string, cost int64) (*contract.Lease, error) {
	if f.secret != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-fleet-secret", f.secret)
	}
	var header metadata.MD
	resp, err := f.rpc.Reserve(ctx, &contract.ReserveRequest{Policy: policy, Caller: &contract.Caller{Domain: key},
		Wants: max(cost, f.batch(policy)), Axis: contract.Axis_AXIS_RATE}, grpc.Header(&header))
	if err != nil {
		return nil, err
	}
	k := policyKind{batch: defaultBatch}
	if v := header.Get(BatchHeader); len(v) == 1 {
		if b, perr := strconv.ParseInt(v[0], 10, 64); perr == nil && b > 0 {
			k.batch = b
		}
	}
	f.learn(policy, k)
	return resp.GetLease(), nil
}

// notServed: the server has no federated policy of that name, no Fleet service, or will not
// let this client reserve; the policy is then checked by Check RPCs.
func notServed(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.Unimplemented, codes.Unauthenticated:
		return err != nil
	}
	return false
}
