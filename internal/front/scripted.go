package front

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// ScriptRunner executes decision scripts in a store: Redis, or the embedded engine. A reply
// is what Redis would send for the script's return value: []any of int64 for a decision.
type ScriptRunner interface {
	// Run executes one script call on one full key; nowMs 0 means the store's clock.
	Run(ctx context.Context, call *ScriptCall, key string, nowMs, amount int64) (any, error)
	// Start executes one script call like Run, bounded as st says, and passes the outcome to
	// complete, exactly once and by the call's deadline: before Start returns when st.Lead is
	// not nil and the store is free, otherwise later, from another goroutine, or through
	// st.Lead (see coalesce.Lead). The runner alone chooses how the call travels.
	Start(ctx context.Context, call *ScriptCall, key string, nowMs, amount int64, st Start, complete func(any, error))
	// RunBatch runs the items' checks in order at one instant nowMs (0: the store's clock,
	// read once) through the batch script (see BatchArgs for mode), and returns one reply
	// per item. A failure undoes every item of the failed run; where the store cannot run
	// all items in one script (keys in several Cluster slots), mode each runs one script per
	// slot and mode all is refused.
	RunBatch(ctx context.Context, items []BatchItem, nowMs int64, mode string) ([]any, error)
	// Now reads the store's clock in epoch ms, as the scripts do for ARGV now = 0.
	Now(ctx context.Context) (int64, error)
	// RunArgs executes a script with its KEYS and ARGV as given (the admission lease script,
	// whose ARGV is not one check's).
	RunArgs(ctx context.Context, s *luascripts.Script, keys []string, argv []any) (any, error)
	Close() error
}

// Scripted is the front every script-running backend shares: input validation, policy
// resolution, deadlines and reply decoding, so that each door enforces the same rules.
type Scripted struct {
	runner    ScriptRunner
	namespace string
	timeout   time.Duration
	set       atomic.Pointer[preparedSet]
	closed    atomic.Bool
	leaseTTL  atomic.Int64 // ms; 0 means DefaultLeaseTTL (see SetLeaseTTL)
}

// NewScripted serves policies through runner, with keys under namespace and calls without a
// deadline bounded by timeout (0: no bound of its own).
func NewScripted(runner ScriptRunner, policies *policy.Set, namespace string, timeout time.Duration) (*Scripted, error) {
	b := &Scripted{runner: runner, namespace: namespace, timeout: timeout}
	if err := b.SetPolicies(policies); err != nil {
		return nil, err
	}
	return b, nil
}

// ParsePolicies parses a policy file's text, mapping its errors to ErrConfig.
func ParsePolicies(yaml []byte) (*policy.Set, error) {
	set, err := policy.Parse(yaml)
	if err != nil {
		return nil, &Error{Kind: ErrConfig, Msg: err.Error(), Cause: err}
	}
	return set, nil
}

// SetPolicies swaps the policy set atomically; calls in flight finish with the old one.
func (b *Scripted) SetPolicies(set *policy.Set) error {
	ps, err := prepareSet(set)
	if err != nil {
		return &Error{Kind: ErrConfig, Msg: err.Error(), Cause: err}
	}
	b.set.Store(ps)
	return nil
}

// Policies returns the policy set in force.
func (b *Scripted) Policies() *policy.Set { return b.set.Load().set }

// Close releases what the backend holds. Later calls fail with ErrUnavailable; a second Close
// does nothing.
func (b *Scripted) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	return b.runner.Close()
}

// Decide makes a Check, Peek or Debit (see Door).
func (b *Scripted) Decide(ctx context.Context, op Op, policyName, key string, amount, nowMs int64) (Decision, error) {
	pp, call, amount, err := b.resolve(op, policyName, amount, nowMs)
	if err != nil {
		return Decision{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Decision{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	call = call.forKey(key)
	reply, err := b.runner.Run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, amount)
	if err != nil || op == OpReset {
		return Decision{}, err
	}
	if op == OpCheck {
		return checkDecision(pp.p.Shadow, call, reply)
	}
	return decisionFromReply(call, reply)
}

// Foresee makes a Forecast (see Door).
func (b *Scripted) Foresee(ctx context.Context, policyName, key string, cost, nowMs int64) (Forecast, error) {
	pp, call, cost, err := b.resolve(OpForecast, policyName, cost, nowMs)
	if err != nil {
		return Forecast{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Forecast{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.runner.Run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, cost)
	if err != nil {
		return Forecast{}, err
	}
	return forecastFromReply(call.Script, reply)
}

// DecideMany checks every key at one instant (see Door).
func (b *Scripted) DecideMany(ctx context.Context, policyName string, keys []string, cost, nowMs int64) ([]Decision, error) {
	if pp, err := b.set.Load().lookup(policyName); err == nil && pp.lease != nil {
		return nil, admitterRefuses(pp, "checkMany")
	}
	pp, call, cost, err := b.resolve(OpCheck, policyName, cost, nowMs)
	if err != nil {
		return nil, err
	}
	items := make([]BatchItem, len(keys))
	for i, k := range keys {
		if err := ValidateKey(k); err != nil {
			return nil, NewError(ErrInvalidArgument, "keys[%d]: %s", i, err.Error())
		}
		items[i] = BatchItem{Call: call.forKey(k), Key: pp.p.RedisKey(b.namespace, k), Amount: cost}
	}
	if len(keys) == 0 {
		return []Decision{}, nil
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	replies, err := b.runner.RunBatch(ctx, items, nowMs, BatchEach)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(replies))
	for i, r := range replies {
		if out[i], err = checkDecision(pp.p.Shadow, items[i].Call, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolve validates a call's clock, policy and amount against one snapshot of the policy set
// and picks the script that serves the operation.
func (b *Scripted) resolve(op Op, policyName string, amount, nowMs int64) (*preparedPolicy, *ScriptCall, int64, error) {
	if b.closed.Load() {
		return nil, nil, 0, NewError(ErrUnavailable, "the backend is closed")
	}
	if nowMs != 0 {
		if err := ValidateNow(nowMs); err != nil {
			return nil, nil, 0, err
		}
	}
	pp, err := b.set.Load().lookup(policyName)
	if err != nil {
		return nil, nil, 0, err
	}
	call, err := scriptFor(op, pp)
	if err != nil {
		return nil, nil, 0, err
	}
	if amount, err = NormalizeAmount(op.AmountName(), amount); err != nil {
		return nil, nil, 0, err
	}
	return pp, call, amount, nil
}

// bound applies the backend's timeout to a context that has no deadline of its own.
func (b *Scripted) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return Start{Timeout: b.timeout}.Bound(ctx)
}

// scriptFor picks the script that serves op on pp.
func scriptFor(op Op, pp *preparedPolicy) (*ScriptCall, error) {
	if pp.lease != nil {
		return nil, admitterRefuses(pp, strings.ToLower(op.String()))
	}
	var call *ScriptCall
	switch op {
	case OpCheck:
		call = pp.check
	case OpPeek:
		call = pp.peek
	case OpForecast:
		call = pp.forecast
	case OpDebit:
		call = pp.debit
	case OpRefund:
		call = pp.refund
	case OpReset:
		call = pp.reset
	}
	if call != nil {
		return call, nil
	}
	if pp.p.IsMeter() {
		return nil, NewError(ErrUnsupported, "%s does not apply to token-budget policy %q (use Debit or Peek)", op, pp.p.Name)
	}
	return nil, NewError(ErrUnsupported, "%s does not apply to rate-limit policy %q (Debit is for token-budget policies)", op, pp.p.Name)
}

// admitterRefuses answers a rate or meter operation on an admitter (admission.md §4.6).
func admitterRefuses(pp *preparedPolicy, op string) error { return Refuses(pp.p.Name, op) }
