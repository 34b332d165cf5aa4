package servicedoor

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// fleetCheck serves a Check from reserved credits unless the policy is known to be plain
// (served false: send the Check RPC). The explicit instant nowMs, when given, is the spend
// clock; the door's rules on the request apply as for any Check.
func (b *Backend) fleetCheck(ctx context.Context, policy, key string, cost, nowMs int64) (front.Decision, bool, error) {
	if b.fleet.plain(policy) {
		return front.Decision{}, false, nil
	}
	if err := checkRequest(policy, cost, "cost", key, 0); err != nil {
		return front.Decision{}, true, err
	}
	cost, _ = front.NormalizeAmount("cost", cost)
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.fleet.check(ctx, policy, key, cost, nowMs)
}

// fleetCheckMany spends every key's credits in input order at one clock reading. Should the
// policy turn out plain after some keys were spent (a reload on the server), the rest go
// as one CheckMany RPC.
func (b *Backend) fleetCheckMany(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]front.Decision, bool, error) {
	if b.fleet.plain(policy) || len(keys) == 0 {
		return nil, false, nil
	}
	if err := checkRequest(policy, cost, "cost", "", 0); err != nil {
		return nil, true, err
	}
	for i, k := range keys {
		if err := validateServiceKey(k); err != nil {
			return nil, true, front.NewError(front.ErrInvalidArgument, "keys[%d]: %s", i, err.Error())
		}
	}
	cost, _ = front.NormalizeAmount("cost", cost)
	now := spendClock(nowMs)
	out := make([]front.Decision, 0, len(keys))
	for i, k := range keys {
		d, served, err := b.fleetCheck(ctx, policy, k, cost, now)
		if err != nil {
			return nil, true, err
		}
		if !served {
			if i == 0 {
				return nil, false, nil
			}
			rest, err := b.DecideMany(ctx, policy, keys[i:], cost, 0)
			return append(out, rest...), true, err
		}
		out = append(out, d)
	}
	return out, true, nil
}

// fleetStart is StartCheck for a policy that may be federated: credits held answer at once;
// anything that needs a Reserve (or turns out plain) runs on a goroutine of its own, so the
// caller's is never blocked. False when the policy is known plain.
func (b *Backend) fleetStart(ctx context.Context, policy, key string, cost, nowMs int64, w front.Waiter) bool {
	if b.fleet.plain(policy) {
		return false
	}
	if err := checkRequest(policy, cost, "cost", key, 0); err != nil {
		w.Done(front.Decision{}, err)
		return true
	}
	cost, _ = front.NormalizeAmount("cost", cost)
	if d, ok := b.fleet.tryLocal(policy, key, cost, nowMs); ok {
		w.Done(d, nil)
		return true
	}
	go func() { w.Done(b.Decide(ctx, front.OpCheck, policy, key, cost, nowMs)) }()
	return true
}
