package front

import (
	"context"
	"time"

	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Admission on the script doors (admission.md §9): every decision about a guard is the lease
// script's, in Redis for a fleet or in the embedded engine for one process. A unified policy's
// rate axis is its own check script at cost 1, run after the slot is taken; a rate refusal
// or failure gives the slot back.

// LeaseScript is the script of every Admit, Release and Heartbeat.
var LeaseScript = mustLookup("concurrency", luascripts.RoleAdmission)

// leaseParams are a policy's static lease-script ARGV after now, op and leaseTtlMs.
var leaseParams = []string{"minLimit", "maxLimit", "initialLimit", "algorithm", "rttWindow", "smoothing", "tolerance", "backoffRatio"}

// prepareLease renders an admitter's static ARGV once per policy set.
func prepareLease(p *policy.Policy) []any {
	out := make([]any, len(leaseParams))
	for i, name := range leaseParams {
		out[i], _ = p.ConcurrencyArg(name)
	}
	return out
}

// SetLeaseTTL changes how long a lease lives unless renewed (default DefaultLeaseTTL);
// leases already issued keep their deadline.
func (b *Scripted) SetLeaseTTL(ttl time.Duration) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	b.leaseTTL.Store(ttl.Milliseconds())
}

// LeaseTTL is how long a lease lives unless renewed.
func (b *Scripted) LeaseTTL() time.Duration {
	if ms := b.leaseTTL.Load(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return DefaultLeaseTTL
}

// admitter resolves an admission call's clock and policy: op names the call in the message
// for a policy that is not an admitter.
func (b *Scripted) admitter(op, policyName, key string, nowMs int64) (*preparedPolicy, error) {
	if b.closed.Load() {
		return nil, NewError(ErrUnavailable, "the backend is closed")
	}
	if nowMs != 0 {
		if err := ValidateNow(nowMs); err != nil {
			return nil, err
		}
	}
	pp, err := b.set.Load().lookup(policyName)
	if err != nil {
		return nil, err
	}
	if pp.lease == nil {
		return nil, &Error{Kind: ErrUnsupported, Msg: "policy " + quotedCut(policyName, maxQuotedName) + " does not support " + op}
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return pp, nil
}

// CheckAdmission answers what Admit (op "admit") or Release (op "release") would about the
// call itself, without running a script: an unknown policy, a policy that is not an admitter,
// a bad key. For callers that queue the call and refuse bad input at once (the C ABI's
// asynchronous admission).
func (b *Scripted) CheckAdmission(op, policyName, key string) error {
	_, err := b.admitter(op, policyName, key, 0)
	return err
}

// runLease runs the lease script on a policy's guard for key.
func (b *Scripted) runLease(ctx context.Context, pp *preparedPolicy, key string, nowMs int64, op string, extra ...string) (any, error) {
	argv := make([]any, 0, 3+len(pp.lease)+len(extra))
	argv = append(argv, nowMs, op, b.LeaseTTL().Milliseconds())
	argv = append(argv, pp.lease...)
	for _, a := range extra {
		argv = append(argv, a)
	}
	return b.runner.RunArgs(ctx, LeaseScript, []string{pp.p.GuardKey(b.namespace, key)}, argv)
}

// Admit takes a slot, then (unified policies) checks the rate axis at cost 1 (see Admitter).
func (b *Scripted) Admit(ctx context.Context, policyName, key string, cost, nowMs int64) (Admission, error) {
	pp, err := b.admitter("admit", policyName, key, nowMs)
	if err != nil {
		return Admission{}, err
	}
	if _, err := NormalizeAmount("cost", cost); err != nil {
		return Admission{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var v []int64
	var id string
	// A taken id (2^-128 per draw) is redrawn, as upstream's server does.
	for tries := 0; tries < 3; tries++ {
		id = NewLeaseID()
		reply, err := b.runLease(ctx, pp, key, nowMs, "admit", id)
		if err != nil {
			return Admission{}, err
		}
		if v, err = leaseIntegers(reply); err != nil {
			return Admission{}, err
		}
		if len(v) == 6 {
			break
		}
	}
	if len(v) != 6 {
		return Admission{}, NewError(ErrInternal, "script %s: admit replied %v, want 6 integers", LeaseScript.Name, v)
	}
	conc := Decision{Allowed: v[0] == 1, Limit: v[1], Remaining: v[2], ResetAt: v[3], RetryAfterMs: v[4]}
	if !conc.Allowed {
		return Admission{Decision: conc, BindingAxis: AxisConcurrency}, nil
	}
	if pp.check == nil {
		return Admission{Decision: conc, LeaseID: id, LeaseExpiresAt: v[5]}, nil
	}
	rate, err := b.rateAxis(ctx, pp, key, nowMs)
	if err != nil || !rate.Allowed {
		b.giveBack(ctx, pp, key, id, nowMs)
		if err != nil {
			return Admission{}, err
		}
		return Admission{Decision: CombineDecisions(conc, rate), BindingAxis: AxisRate}, nil
	}
	d := CombineDecisions(conc, rate)
	d.RetryAfterMs = 0
	return Admission{Decision: d, LeaseID: id, LeaseExpiresAt: v[5]}, nil
}

// rateAxis is a unified policy's own check at cost 1.
func (b *Scripted) rateAxis(ctx context.Context, pp *preparedPolicy, key string, nowMs int64) (Decision, error) {
	reply, err := b.runner.Run(ctx, pp.check, pp.p.RedisKey(b.namespace, key), nowMs, 1)
	if err != nil {
		return Decision{}, err
	}
	return decisionFromReply(pp.check, reply)
}

// giveBack releases (not dropped) a slot whose rate axis refused or failed. It has its own
// short bound: the caller's deadline may be what failed, and the lease's expiry is the
// backstop if this fails too.
func (b *Scripted) giveBack(ctx context.Context, pp *preparedPolicy, key, id string, nowMs int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.LeaseTTL())
	defer cancel()
	_, _ = b.runLease(ctx, pp, key, nowMs, "release", id, "0")
}

// Release returns a lease (see Admitter).
func (b *Scripted) Release(ctx context.Context, policyName, key, leaseID string, dropped bool, nowMs int64) error {
	pp, err := b.admitter("release", policyName, key, nowMs)
	if err != nil || leaseID == "" || len(leaseID) > MaxLeaseIDBytes {
		return err
	}
	flag := "0"
	if dropped {
		flag = "1"
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.runLease(ctx, pp, key, nowMs, "release", leaseID, flag)
	if err != nil {
		return err
	}
	_, err = leaseIntegers(reply)
	return err
}

// Heartbeat renews leases (see Admitter). Ids that cannot have been issued are reported
// reclaimed without asking the store.
func (b *Scripted) Heartbeat(ctx context.Context, policyName, key string, leaseIDs []string, nowMs int64) (Heartbeat, error) {
	pp, err := b.admitter("heartbeat", policyName, key, nowMs)
	if err != nil {
		return Heartbeat{}, err
	}
	asked := make([]string, 0, len(leaseIDs))
	for _, id := range leaseIDs {
		if id != "" && len(id) <= MaxLeaseIDBytes {
			asked = append(asked, id)
		}
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.runLease(ctx, pp, key, nowMs, "heartbeat", asked...)
	if err != nil {
		return Heartbeat{}, err
	}
	v, err := leaseIntegers(reply)
	if err != nil {
		return Heartbeat{}, err
	}
	if len(v) != 1+len(asked) {
		return Heartbeat{}, NewError(ErrInternal, "script %s: heartbeat replied %d integers for %d ids", LeaseScript.Name, len(v), len(asked))
	}
	hb := Heartbeat{NextDeadline: v[0], Live: []string{}, Reclaimed: []string{}}
	live := make(map[string]bool, len(asked))
	for i, id := range asked {
		if v[1+i] == 1 {
			live[id] = true
		}
	}
	for _, id := range leaseIDs {
		if live[id] {
			hb.Live = append(hb.Live, id)
		} else {
			hb.Reclaimed = append(hb.Reclaimed, id)
		}
	}
	return hb, nil
}

// leaseIntegers checks that a lease-script reply is a flat array of integers.
func leaseIntegers(reply any) ([]int64, error) {
	arr, ok := reply.([]any)
	if !ok {
		return nil, NewError(ErrInternal, "script %s returned %T, want an array of integers", LeaseScript.Name, reply)
	}
	out := make([]int64, len(arr))
	for i, x := range arr {
		n, ok := x.(int64)
		if !ok {
			return nil, NewError(ErrInternal, "script %s returned %T at position %d, want an integer", LeaseScript.Name, x, i)
		}
		out[i] = n
	}
	return out, nil
}
