package client

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/throttlekit/throttlekit-go/policy"
)

// scriptRunner executes decision scripts in a store: Redis, or the embedded engine. A reply
// is what Redis would send for the script's return value: []any of int64 for a decision.
type scriptRunner interface {
	// run executes one script call on one full key; nowMs 0 means the store's clock.
	run(ctx context.Context, call *scriptCall, key string, nowMs, amount int64) (any, error)
	// start executes one script call like run and passes the outcome to complete, exactly
	// once and by ctx's deadline: before start returns when lead is not nil and the store is
	// free, otherwise later, from another goroutine, or through lead (see Lead).
	start(ctx context.Context, call *scriptCall, key string, nowMs, amount int64, complete func(any, error), lead func(Lead))
	// runMany executes one call per key, in order, all at nowMs (> 0); all or nothing.
	runMany(ctx context.Context, call *scriptCall, keys []string, nowMs, amount int64) ([]any, error)
	// now reads the store's clock in epoch ms, as the scripts do for ARGV now = 0.
	now(ctx context.Context) (int64, error)
	close() error
}

// scripted is the front every script-running backend shares: input validation, policy
// resolution, deadlines and reply decoding, so that each door enforces the same rules.
type scripted struct {
	runner    scriptRunner
	namespace string
	timeout   time.Duration
	set       atomic.Pointer[preparedSet]
	closed    atomic.Bool
}

func newScripted(runner scriptRunner, policies *policy.Set, namespace string, timeout time.Duration) (*scripted, error) {
	b := &scripted{runner: runner, namespace: namespace, timeout: timeout}
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
func (b *scripted) SetPolicies(set *policy.Set) error {
	ps, err := prepareSet(set)
	if err != nil {
		return &Error{Kind: ErrConfig, Msg: err.Error(), Cause: err}
	}
	b.set.Store(ps)
	return nil
}

// Policies returns the policy set in force.
func (b *scripted) Policies() *policy.Set { return b.set.Load().set }

// Close releases what the backend holds. Later calls fail with ErrUnavailable; a second Close
// does nothing.
func (b *scripted) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	return b.runner.close()
}

func (b *scripted) Check(ctx context.Context, policy, key string, cost int64) (Decision, error) {
	return b.decide(ctx, opCheck, policy, key, cost, 0)
}

func (b *scripted) CheckAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opCheck, policy, key, cost, nowMs)
}

func (b *scripted) Peek(ctx context.Context, policy, key string) (Decision, error) {
	return b.decide(ctx, opPeek, policy, key, 1, 0)
}

func (b *scripted) PeekAt(ctx context.Context, policy, key string, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opPeek, policy, key, 1, nowMs)
}

func (b *scripted) Debit(ctx context.Context, policy, key string, tokens int64) (Decision, error) {
	return b.decide(ctx, opDebit, policy, key, tokens, 0)
}

func (b *scripted) DebitAt(ctx context.Context, policy, key string, tokens, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opDebit, policy, key, tokens, nowMs)
}

func (b *scripted) Forecast(ctx context.Context, policy, key string, cost int64) (Forecast, error) {
	return b.forecast(ctx, policy, key, cost, 0)
}

func (b *scripted) ForecastAt(ctx context.Context, policy, key string, cost, nowMs int64) (Forecast, error) {
	if err := validateNow(nowMs); err != nil {
		return Forecast{}, err
	}
	return b.forecast(ctx, policy, key, cost, nowMs)
}

func (b *scripted) CheckMany(ctx context.Context, policy string, keys []string, cost int64) ([]Decision, error) {
	return b.checkMany(ctx, policy, keys, cost, 0)
}

func (b *scripted) CheckManyAt(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return nil, err
	}
	return b.checkMany(ctx, policy, keys, cost, nowMs)
}

func (b *scripted) decide(ctx context.Context, op operation, policyName, key string, amount, nowMs int64) (Decision, error) {
	pp, call, amount, err := b.resolve(op, policyName, amount)
	if err != nil {
		return Decision{}, err
	}
	if err := validateKey(key); err != nil {
		return Decision{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.runner.run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, amount)
	if err != nil {
		return Decision{}, err
	}
	return decisionFromReply(call.script, reply)
}

func (b *scripted) forecast(ctx context.Context, policyName, key string, cost, nowMs int64) (Forecast, error) {
	pp, call, cost, err := b.resolve(opForecast, policyName, cost)
	if err != nil {
		return Forecast{}, err
	}
	if err := validateKey(key); err != nil {
		return Forecast{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.runner.run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, cost)
	if err != nil {
		return Forecast{}, err
	}
	return forecastFromReply(call.script, reply)
}

func (b *scripted) checkMany(ctx context.Context, policyName string, keys []string, cost, nowMs int64) ([]Decision, error) {
	pp, call, cost, err := b.resolve(opCheck, policyName, cost)
	if err != nil {
		return nil, err
	}
	redisKeys := make([]string, len(keys))
	for i, k := range keys {
		if err := validateKey(k); err != nil {
			return nil, newError(ErrInvalidArgument, "keys[%d]: %s", i, err.Error())
		}
		redisKeys[i] = pp.p.RedisKey(b.namespace, k)
	}
	if len(keys) == 0 {
		return []Decision{}, nil
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if nowMs == 0 {
		// One instant for the whole batch: read the store's clock once and pass it explicitly.
		if nowMs, err = b.runner.now(ctx); err != nil {
			return nil, err
		}
	}
	replies, err := b.runner.runMany(ctx, call, redisKeys, nowMs, cost)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(replies))
	for i, r := range replies {
		if out[i], err = decisionFromReply(call.script, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolve validates a call's policy and amount against one snapshot of the policy set and
// picks the script that serves the operation.
func (b *scripted) resolve(op operation, policyName string, amount int64) (*preparedPolicy, *scriptCall, int64, error) {
	if b.closed.Load() {
		return nil, nil, 0, newError(ErrUnavailable, "the backend is closed")
	}
	pp, err := b.set.Load().lookup(policyName)
	if err != nil {
		return nil, nil, 0, err
	}
	call, err := op.script(pp)
	if err != nil {
		return nil, nil, 0, err
	}
	if amount, err = normalizeAmount(op.amountName(), amount); err != nil {
		return nil, nil, 0, err
	}
	return pp, call, amount, nil
}

// bound applies the backend's timeout to a context that has no deadline of its own.
func (b *scripted) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return b.boundFrom(ctx, time.Time{})
}

// boundFrom is bound with the timeout counted from since (a QueuedWaiter's Queued), or from
// now when since is zero.
func (b *scripted) boundFrom(ctx context.Context, since time.Time) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok || b.timeout <= 0 {
		return ctx, func() {}
	}
	if since.IsZero() {
		return context.WithTimeout(ctx, b.timeout)
	}
	return context.WithDeadline(ctx, since.Add(b.timeout))
}

// operation is what a call asks of a policy; it decides which script serves it (CheckMany is
// opCheck for many keys).
type operation int

const (
	opCheck operation = iota
	opPeek
	opForecast
	opDebit
)

func (op operation) amountName() string {
	if op == opDebit {
		return "tokens"
	}
	return "cost"
}

func (op operation) script(pp *preparedPolicy) (*scriptCall, error) {
	var call *scriptCall
	switch op {
	case opCheck:
		call = pp.check
	case opPeek:
		call = pp.peek
	case opForecast:
		call = pp.forecast
	case opDebit:
		call = pp.debit
	}
	if call != nil {
		return call, nil
	}
	if pp.p.IsMeter() {
		return nil, newError(ErrUnsupported, "%s does not apply to token-budget policy %q (use Debit or Peek)", op, pp.p.Name)
	}
	return nil, newError(ErrUnsupported, "%s does not apply to rate-limit policy %q (Debit is for token-budget policies)", op, pp.p.Name)
}

func (op operation) String() string {
	return [...]string{"Check", "Peek", "Forecast", "Debit"}[op]
}
