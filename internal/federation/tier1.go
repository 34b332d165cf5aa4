package federation

import (
	"context"
	"sync"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keytable"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Options configure a Tier1.
type Options struct {
	// MaxKeys bounds the entries per policy (oldest out); 0 means DefaultMaxKeys.
	MaxKeys int
	// CallTimeout bounds one coordinator call, which runs detached from the caller that
	// started it (others may be waiting on it); 0 means DefaultCallTimeout.
	CallTimeout time.Duration
}

// DefaultMaxKeys bounds a process's entries per policy (two-tier.md §8).
const DefaultMaxKeys = keytable.DefaultMaxKeys

// DefaultCallTimeout bounds a coordinator call when Options leave it 0.
const DefaultCallTimeout = 5 * time.Second

// Tier1 is one process's share of federated budgets (two-tier.md §6.2): per policy and raw
// request key, a balance of units leased from the coordinator for the current window. It
// implements twotier.Federation and is safe for concurrent use.
type Tier1 struct {
	coord   *Coordinator
	maxKeys int
	timeout time.Duration
	mu      sync.Mutex
	entries map[string]*keytable.Table[entry] // by policy name
}

// NewTier1 leases from coord.
func NewTier1(coord *Coordinator, opts Options) *Tier1 {
	timeout := opts.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return &Tier1{coord: coord, maxKeys: opts.MaxKeys, timeout: timeout, entries: map[string]*keytable.Table[entry]{}}
}

// entriesOf is a policy's entries, a table made on the policy's first check.
func (t *Tier1) entriesOf(policyName string) *keytable.Table[entry] {
	t.mu.Lock()
	defer t.mu.Unlock()
	es, ok := t.entries[policyName]
	if !ok {
		es = keytable.New(t.maxKeys, initEntry)
		t.entries[policyName] = es
	}
	return es
}

// Coordinator is the coordinator the Tier1 leases from (Reserve draws on the same budgets).
func (t *Tier1) Coordinator() *Coordinator { return t.coord }

// Keys is how many entries the Tier1 holds for a policy.
func (t *Tier1) Keys(policyName string) int { return t.entriesOf(policyName).Len() }

// Check spends cost units of key's budget under p, leasing max(batch, cost) from the
// coordinator while the balance falls short. nowMs > 0 is an explicit instant (passed to the
// scripts too); 0 is the process clock, the scripts then reading Redis's. A coordinator
// error is a grant of 0: the check is denied (fail closed), with no error.
func (t *Tier1) Check(ctx context.Context, p *policy.Policy, key string, cost, nowMs int64) (front.Decision, error) {
	if p == nil || p.Federated == nil {
		return front.Decision{}, front.NewError(front.ErrInvalidArgument, "federation: not a federated policy")
	}
	if cost <= 0 {
		return front.Decision{}, front.NewError(front.ErrInvalidArgument, "cost must be at least 1, got %d", cost)
	}
	return t.check(ctx, p, key, cost, clock(nowMs), nowMs)
}

// clock is the instant a call is evaluated at: nowMs when explicit, else the process clock.
func clock(nowMs int64) int64 {
	if nowMs > 0 {
		return nowMs
	}
	return time.Now().UnixMilli()
}

// check is Check at the process instant now; scriptNow is what the scripts get (0: Redis's
// clock).
func (t *Tier1) check(ctx context.Context, p *policy.Policy, key string, cost, now, scriptNow int64) (front.Decision, error) {
	e := t.entriesOf(p.Name).Ensure(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if leftover, oldStart, ok := e.roll(now, p.FederationWindowMs()); ok {
		t.reconcileLater(p, key, leftover, oldStart, scriptNow)
	}
	leased := false
	for e.balance < cost {
		granted, err := t.awaitLease(ctx, e, p, key, max(p.Federated.Batch, cost), scriptNow)
		if err != nil {
			return front.Decision{}, err
		}
		leased = true
		if granted == 0 {
			return front.Decision{Allowed: false, Limit: p.ReportedLimit(), Remaining: e.balance,
				ResetAt: e.windowEnd, RetryAfterMs: max(1, e.windowEnd-now)}, nil
		}
	}
	e.balance -= cost
	return front.Decision{Allowed: true, Limit: p.ReportedLimit(), Remaining: e.balance, ResetAt: e.windowEnd,
		Local: !leased}, nil
}

// CheckMany checks every key in input order at one clock reading, each as Check does
// (two-tier.md §4: a valid order of upstream's concurrent run). The first error fails the
// call.
func (t *Tier1) CheckMany(ctx context.Context, p *policy.Policy, keys []string, cost, nowMs int64) ([]front.Decision, error) {
	if p == nil || p.Federated == nil || cost <= 0 {
		return nil, front.NewError(front.ErrInvalidArgument, "federation: a federated policy and a cost of at least 1 are needed")
	}
	now := clock(nowMs)
	out := make([]front.Decision, len(keys))
	for i, k := range keys {
		d, err := t.check(ctx, p, k, cost, now, nowMs)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// reconcileLater gives a finished window's leftover back without anyone waiting for it;
// failing only loses those units for the fleet (the safe direction).
func (t *Tier1) reconcileLater(p *policy.Policy, key string, leftover, windowStart, nowMs int64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
		defer cancel()
		_, _ = t.coord.Reconcile(ctx, p, key, leftover, windowStart, nowMs)
	}()
}
