package client

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/policy"
)

// RedisOptions configure a RedisBackend.
type RedisOptions struct {
	// Namespace prefixes every key ("ns" makes "ns:api:K"); "" for none.
	Namespace string
	// Timeout bounds a call whose context carries no deadline; 0 leaves such calls to the
	// Redis client's own dial, read and write timeouts.
	Timeout time.Duration
}

// RedisBackend runs the decision scripts in a Redis shared by a fleet: one round trip per
// check (EVALSHA, with a transparent EVAL when the script cache was flushed). It is safe for
// concurrent use.
type RedisBackend struct {
	rdb       redis.UniversalClient
	ownsRDB   bool
	namespace string
	timeout   time.Duration
	set       atomic.Pointer[preparedSet]
	closed    atomic.Bool
}

var _ Limiter = (*RedisBackend)(nil)

// NewRedisBackend serves policies from rdb. The caller keeps ownership of rdb (Close does not
// close it). For calls to be bounded by their context, rdb needs ContextTimeoutEnabled and
// dial/read/retry settings that fit inside the deadline: NewRedisClient sets them.
func NewRedisBackend(rdb redis.UniversalClient, policies *policy.Set, opts RedisOptions) (*RedisBackend, error) {
	if rdb == nil || policies == nil {
		return nil, newError(ErrInvalidArgument, "NewRedisBackend needs a Redis client and a policy set")
	}
	b := &RedisBackend{rdb: rdb, namespace: opts.Namespace, timeout: opts.Timeout}
	if err := b.SetPolicies(policies); err != nil {
		return nil, err
	}
	return b, nil
}

// OpenRedis parses url (see NewRedisClient) and policiesYAML and returns a backend that owns
// its connection. Nothing is dialled yet: reachability shows per call.
func OpenRedis(url string, policiesYAML []byte, opts RedisOptions, conn ConnectOptions) (*RedisBackend, error) {
	set, err := ParsePolicies(policiesYAML)
	if err != nil {
		return nil, err
	}
	if conn.Timeout == 0 {
		conn.Timeout = opts.Timeout
	}
	rdb, err := NewRedisClient(url, conn)
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = conn.timeout()
	}
	b, err := NewRedisBackend(rdb, set, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	b.ownsRDB = true
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
func (b *RedisBackend) SetPolicies(set *policy.Set) error {
	ps, err := prepareSet(set)
	if err != nil {
		return &Error{Kind: ErrConfig, Msg: err.Error(), Cause: err}
	}
	b.set.Store(ps)
	return nil
}

// Policies returns the policy set in force.
func (b *RedisBackend) Policies() *policy.Set { return b.set.Load().set }

// Close releases the connection if the backend owns it. Later calls fail with ErrUnavailable.
func (b *RedisBackend) Close() error {
	if b.closed.Swap(true) || !b.ownsRDB {
		return nil
	}
	return b.rdb.Close()
}

func (b *RedisBackend) Check(ctx context.Context, policy, key string, cost int64) (Decision, error) {
	return b.decide(ctx, opCheck, policy, key, cost, 0)
}

func (b *RedisBackend) CheckAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opCheck, policy, key, cost, nowMs)
}

func (b *RedisBackend) Peek(ctx context.Context, policy, key string) (Decision, error) {
	return b.decide(ctx, opPeek, policy, key, 1, 0)
}

func (b *RedisBackend) PeekAt(ctx context.Context, policy, key string, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opPeek, policy, key, 1, nowMs)
}

func (b *RedisBackend) Debit(ctx context.Context, policy, key string, tokens int64) (Decision, error) {
	return b.decide(ctx, opDebit, policy, key, tokens, 0)
}

func (b *RedisBackend) DebitAt(ctx context.Context, policy, key string, tokens, nowMs int64) (Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return Decision{}, err
	}
	return b.decide(ctx, opDebit, policy, key, tokens, nowMs)
}

func (b *RedisBackend) Forecast(ctx context.Context, policy, key string, cost int64) (Forecast, error) {
	return b.forecast(ctx, policy, key, cost, 0)
}

func (b *RedisBackend) ForecastAt(ctx context.Context, policy, key string, cost, nowMs int64) (Forecast, error) {
	if err := validateNow(nowMs); err != nil {
		return Forecast{}, err
	}
	return b.forecast(ctx, policy, key, cost, nowMs)
}

func (b *RedisBackend) CheckMany(ctx context.Context, policy string, keys []string, cost int64) ([]Decision, error) {
	return b.checkMany(ctx, policy, keys, cost, 0)
}

func (b *RedisBackend) CheckManyAt(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]Decision, error) {
	if err := validateNow(nowMs); err != nil {
		return nil, err
	}
	return b.checkMany(ctx, policy, keys, cost, nowMs)
}

func (b *RedisBackend) decide(ctx context.Context, op operation, policyName, key string, amount, nowMs int64) (Decision, error) {
	pp, call, amount, err := b.resolve(op, policyName, amount)
	if err != nil {
		return Decision{}, err
	}
	if err := validateKey(key); err != nil {
		return Decision{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, amount)
	if err != nil {
		return Decision{}, err
	}
	return decisionFromReply(call.script, reply)
}

func (b *RedisBackend) forecast(ctx context.Context, policyName, key string, cost, nowMs int64) (Forecast, error) {
	pp, call, cost, err := b.resolve(opForecast, policyName, cost)
	if err != nil {
		return Forecast{}, err
	}
	if err := validateKey(key); err != nil {
		return Forecast{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	reply, err := b.run(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, cost)
	if err != nil {
		return Forecast{}, err
	}
	return forecastFromReply(call.script, reply)
}

func (b *RedisBackend) checkMany(ctx context.Context, policyName string, keys []string, cost, nowMs int64) ([]Decision, error) {
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
		// One instant for the whole batch: read the Redis clock once and pass it explicitly.
		if nowMs, err = b.redisNow(ctx); err != nil {
			return nil, err
		}
	}
	replies, err := b.runMany(ctx, call, redisKeys, nowMs, cost)
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
func (b *RedisBackend) resolve(op operation, policyName string, amount int64) (*preparedPolicy, *scriptCall, int64, error) {
	if b.closed.Load() {
		return nil, nil, 0, newError(ErrUnavailable, "the backend is closed")
	}
	ps := b.set.Load()
	if _, err := lookupPolicy(ps.set, policyName); err != nil {
		return nil, nil, 0, err
	}
	pp := ps.policies[policyName]
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
func (b *RedisBackend) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok || b.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.timeout)
}

func (b *RedisBackend) redisNow(ctx context.Context) (int64, error) {
	t, err := b.rdb.Time(ctx).Result()
	if err != nil {
		return 0, classifyRedisError(ctx, err)
	}
	// The scripts' own rule: seconds*1000 + floor(microseconds/1000).
	return t.UnixMilli(), nil
}

// run executes one script call: EVALSHA, and EVAL once if Redis lost the script (restart,
// failover, SCRIPT FLUSH); EVAL caches it again for the next EVALSHA.
func (b *RedisBackend) run(ctx context.Context, call *scriptCall, redisKey string, nowMs, amount int64) (any, error) {
	args := call.args(redisKey, nowMs, amount)
	reply, err := b.rdb.Do(ctx, args...).Result()
	if isNoScript(err) {
		args[0], args[1] = "eval", call.script.Source
		reply, err = b.rdb.Do(ctx, args...).Result()
	}
	if err != nil {
		return nil, classifyRedisError(ctx, err)
	}
	return reply, nil
}

// runMany pipelines one script call per key, in order, in a single round trip.
func (b *RedisBackend) runMany(ctx context.Context, call *scriptCall, redisKeys []string, nowMs, amount int64) ([]any, error) {
	cmds := make([]*redis.Cmd, len(redisKeys))
	pipe := b.rdb.Pipeline()
	for i, k := range redisKeys {
		cmds[i] = pipe.Do(ctx, call.args(k, nowMs, amount)...)
	}
	_, _ = pipe.Exec(ctx)

	// Commands that met an empty script cache did not run. They all come after every command
	// that did (the cache empties at one instant), so re-running them in order keeps the
	// batch's order of effects.
	var retry []int
	for i, c := range cmds {
		if isNoScript(c.Err()) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		if err := b.rdb.ScriptLoad(ctx, call.script.Source).Err(); err != nil {
			return nil, classifyRedisError(ctx, err)
		}
		pipe := b.rdb.Pipeline()
		for _, i := range retry {
			cmds[i] = pipe.Do(ctx, call.args(redisKeys[i], nowMs, amount)...)
		}
		_, _ = pipe.Exec(ctx)
	}

	replies := make([]any, len(cmds))
	for i, c := range cmds {
		reply, err := c.Result()
		if err != nil {
			// All or nothing: one failed key fails the batch.
			return nil, classifyRedisError(ctx, err)
		}
		replies[i] = reply
	}
	return replies, nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// operation is what a call asks of a policy; it decides which script serves it.
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
