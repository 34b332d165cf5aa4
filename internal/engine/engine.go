package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/rediserr"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Options configure an Backend.
type Options struct {
	// Namespace prefixes every key ("ns" makes "ns:api:K"); "" for none.
	Namespace string
	// MaxKeys caps the keys held at once (default 1,000,000). Past it, the engine evicts,
	// from a small sample, the key closest to expiry, and counts it in Stats.Evictions.
	MaxKeys int
	// MaxBytes caps the bytes the keys hold at once (default DefaultMaxBytes), counted as
	// an estimate of the heap each key takes: its name, its value, hash fields and sorted
	// set members, and a fixed overhead. Past it, the engine evicts as past MaxKeys. Stats
	// report the count in Bytes.
	MaxBytes int64
	// SweepInterval is how often the background sweep reclaims expired keys nobody
	// touches again (default 1s). It spends at most a quarter of each interval.
	SweepInterval time.Duration
	// Clock is the engine's clock, what TIME returns and what TTLs run on (default
	// time.Now). Decisions use it when a call gives no explicit now.
	Clock func() time.Time
	// LocalMaxKeys bounds the keys two-tier L1 holds per policy (0: 100,000); read by the
	// layer that puts L1 in front of this engine (client, the C boundary).
	LocalMaxKeys int
}

// Defaults of Options.
const (
	DefaultMaxKeys = 1_000_000
	// DefaultMaxBytes holds the default MaxKeys of short keys of any two-field state (a
	// 15-byte key counts 160 bytes for gcra, 320 for fixedWindow or tokenBucket), so the key
	// cap binds first for ordinary traffic, while long keys stay bounded to about 110,000
	// of 4 KiB instead of the ~6 GB a million of them took.
	DefaultMaxBytes      = 512 << 20
	DefaultSweepInterval = time.Second
)

// Stats are an engine's counters.
type Stats struct {
	LiveKeys  int64 // keys held now, expired ones not yet reclaimed included
	Bytes     int64 // bytes the held keys take, as MaxBytes counts them
	Evictions int64 // keys removed to stay within MaxKeys and MaxBytes
	Expired   int64 // keys reclaimed after their TTL, on access or by the sweep
}

// Backend runs the decision scripts, the very files RedisBackend sends to Redis, in
// process with an embedded Lua interpreter and an in-memory keyspace that behaves as Redis
// for the commands the scripts use: the same decisions, the same stored state, no network.
// State lives in this process only, so it suits one process, not a fleet. It is safe for
// concurrent use: a script holds its key's shard for its whole run, so callers see what
// Redis's single thread would give them.
type Backend struct {
	*front.Scripted
	engine    *engine
	namespace string
}

var _ front.Door = (*Backend)(nil)

// New serves policies from a fresh embedded engine.
func New(policies *policy.Set, opts Options) (*Backend, error) {
	if policies == nil {
		return nil, front.NewError(front.ErrInvalidArgument, "New needs a policy set")
	}
	if opts.MaxKeys < 0 || opts.MaxBytes < 0 || opts.SweepInterval < 0 {
		return nil, front.NewError(front.ErrInvalidArgument, "Options: MaxKeys, MaxBytes and SweepInterval must not be negative (0 means the default)")
	}
	e, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	// No timeout of its own: a call is bounded by its context, and a script by nothing
	// else, as the scripts run in microseconds.
	s, err := front.NewScripted(e, policies, opts.Namespace, 0)
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	e.ks.meters.set(policies, opts.Namespace)
	return &Backend{Scripted: s, engine: e, namespace: opts.Namespace}, nil
}

// SetPolicies swaps the policy set atomically (calls in flight finish with the old one), and
// the meter policies' key caps with it.
func (b *Backend) SetPolicies(set *policy.Set) error {
	if err := b.Scripted.SetPolicies(set); err != nil {
		return err
	}
	b.engine.ks.meters.set(set, b.namespace)
	return nil
}

// Open parses policiesYAML and returns a backend on a fresh embedded engine.
func Open(policiesYAML []byte, opts Options) (*Backend, error) {
	set, err := front.ParsePolicies(policiesYAML)
	if err != nil {
		return nil, err
	}
	return New(set, opts)
}

// Stats returns the engine's counters.
func (b *Backend) Stats() Stats {
	ks := b.engine.ks
	return Stats{LiveKeys: ks.live.Load(), Bytes: ks.bytes.Load(), Evictions: ks.evictions.Load(), Expired: ks.expired.Load()}
}

// engine is the ScriptRunner of an Backend.
type engine struct {
	ks      *keyspace
	clock   func() time.Time
	scripts *compiledScripts
	states  sync.Pool

	stopSweep chan struct{}
	swept     chan struct{}
	closeOnce sync.Once
}

func newEngine(opts Options) (*engine, error) {
	cs, err := loadScripts()
	if err != nil {
		return nil, front.NewError(front.ErrInternal, "embedded engine: compiling the decision scripts: %v", err)
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	e := &engine{
		ks: newKeyspace(int64(opts.MaxKeys), opts.MaxBytes), clock: opts.Clock, scripts: cs,
		stopSweep: make(chan struct{}), swept: make(chan struct{}),
	}
	// Fail now, not on the first call, if an interpreter cannot be prepared.
	st, err := newLuaState(cs)
	if err != nil {
		return nil, front.NewError(front.ErrInternal, "embedded engine: preparing Lua: %v", err)
	}
	e.states.Put(st)
	go e.sweeper(opts.SweepInterval, e.stopSweep, e.swept)
	return e, nil
}

// state takes a prepared interpreter from the pool, or prepares one.
func (e *engine) state() (*luaState, error) {
	if st, ok := e.states.Get().(*luaState); ok {
		return st, nil
	}
	st, err := newLuaState(e.scripts)
	if err != nil {
		return nil, front.NewError(front.ErrInternal, "embedded engine: preparing Lua: %v", err)
	}
	return st, nil
}

func (e *engine) Now(ctx context.Context) (int64, error) {
	if err := engineCtxErr(ctx, ""); err != nil {
		return 0, err
	}
	if e.ks.closed.Load() {
		return 0, errEngineClosed()
	}
	return e.clock().UnixMilli(), nil
}

// run runs one decision script on a pooled interpreter.
func (e *engine) Run(ctx context.Context, call *front.ScriptCall, key string, nowMs, amount int64) (any, error) {
	idx, ok := e.scripts.index[call.Script]
	if !ok {
		return nil, front.NewError(front.ErrInternal, "embedded engine: script %s is not one of the compiled decision scripts", call.Script.Name)
	}
	st, err := e.state()
	if err != nil {
		return nil, err
	}
	if call.Overrides() {
		// Two keys, and a spec per key: not worth the cache of setCall.
		keys, argv := call.KeysArgv(key, nowMs, amount)
		st.setBatch(keys, argv)
		return e.exec(ctx, st, st.fns[idx], call.Script.Name, keys)
	}
	st.setCall(call, key, nowMs, amount)
	return e.exec(ctx, st, st.fns[idx], call.Script.Name, st.keyList(key))
}

// Start runs the script at once, on the calling goroutine: the engine never waits for I/O.
func (e *engine) Start(ctx context.Context, call *front.ScriptCall, key string, nowMs, amount int64,
	st front.Start, complete func(any, error)) {
	ctx, cancel := st.Bound(ctx)
	defer cancel()
	complete(e.Run(ctx, call, key, nowMs, amount))
}

// RunBatch runs the batch script over the items' keys, as Redis runs it on one node.
func (e *engine) RunBatch(ctx context.Context, items []front.BatchItem, nowMs int64, mode string) ([]any, error) {
	st, err := e.state()
	if err != nil {
		return nil, err
	}
	keys, argv := front.BatchArgs(items, nowMs, mode)
	st.setBatch(keys, argv)
	reply, err := e.exec(ctx, st, st.fns[e.scripts.index[front.BatchScript]], front.BatchScript.Name, keys)
	if err != nil {
		return nil, err
	}
	return front.SplitBatchReply(reply, items)
}

// exec runs fn on st under the locks of its keys' shards (none for a script without a key)
// and converts its return value into the reply go-redis would give for it. st goes back
// to the pool afterwards, unless the run left it in doubt.
func (e *engine) exec(ctx context.Context, st *luaState, fn *lua.LFunction, name string, keys []string) (any, error) {
	if err := engineCtxErr(ctx, name); err != nil {
		e.states.Put(st)
		return nil, err
	}
	locked := st.lockShards(e.ks, keys)
	if e.ks.closed.Load() {
		unlock(locked)
		e.states.Put(st)
		return nil, errEngineClosed()
	}
	st.exec.begin(e.ks, keys, e.clock())
	ret, runErr := st.invoke(ctx, fn)
	nowMs, wrote := st.exec.nowMs, st.exec.wrote
	st.exec.end()
	unlock(locked)
	if wrote && e.ks.overCap() {
		e.ks.enforceCap(nowMs)
	}
	if wrote {
		e.ks.meters.enforce(e.ks)
	}
	if runErr != nil {
		reuse, err := st.scriptError(ctx, name, runErr, wrote)
		if reuse {
			e.states.Put(st)
		} else {
			st.L.Close()
		}
		return nil, err
	}
	reply, err := replyFromLua(name, ret)
	e.states.Put(st)
	return reply, err
}

func (e *engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stopSweep)
		<-e.swept
		e.ks.free()
	})
	return nil
}

func errEngineClosed() error {
	return front.NewError(front.ErrUnavailable, "embedded engine: the backend is closed")
}

// engineCtxErr reports a context already done, with the kinds RedisBackend uses.
func engineCtxErr(ctx context.Context, name string) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	what := "the call"
	if name != "" {
		what = "script " + name
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &front.Error{Kind: front.ErrTimeout, Msg: "embedded engine: the call's deadline passed before " + what + " ran", Cause: err}
	}
	return &front.Error{Kind: front.ErrTimeout, Msg: "embedded engine: the call was canceled before " + what + " ran", Cause: err}
}

// scriptError classifies a failed run, and says whether the interpreter may serve again
// (not after a Go panic or an interruption, which may leave it mid-way).
func (st *luaState) scriptError(ctx context.Context, name string, err error, wrote bool) (reuse bool, _ error) {
	apiErr, ok := err.(*lua.ApiError)
	if !ok {
		return false, &front.Error{Kind: front.ErrInternal, Msg: "embedded engine: script " + name + ": " + err.Error(), Cause: err}
	}
	// After its first write a run is no longer interruptible, so only a run that wrote
	// nothing can have been stopped by its context (gopher-lua raises the context's error).
	if cerr := ctx.Err(); cerr != nil && !wrote && strings.Contains(apiErr.Object.String(), cerr.Error()) {
		what := "the call's deadline passed"
		if !errors.Is(cerr, context.DeadlineExceeded) {
			what = "the call was canceled"
		}
		return false, &front.Error{Kind: front.ErrTimeout, Msg: "embedded engine: " + what + " while script " + name + " ran (it had written nothing)", Cause: cerr}
	}
	if apiErr.Type == lua.ApiErrorPanic {
		return false, &front.Error{Kind: front.ErrInternal, Msg: "embedded engine: script " + name + ": " + apiErr.Object.String(), Cause: err}
	}
	if t, ok := apiErr.Object.(*lua.LTable); ok {
		msg, isErr := t.RawGetString("err").(lua.LString)
		if !isErr {
			return true, &front.Error{Kind: front.ErrInternal, Msg: "embedded engine: script " + name + " raised a table without an err field"}
		}
		text := "embedded engine: script " + name + ": " + string(msg)
		if t == st.raised && st.raisedAt != "" {
			text += " (at " + st.raisedAt + ")"
		}
		return true, &front.Error{Kind: rediserr.ReplyKind(string(msg)), Msg: text}
	}
	return true, &front.Error{Kind: front.ErrInternal, Msg: "embedded engine: script " + name + ": " + apiErr.Object.String()}
}
