package redisdoor

import (
	"context"
	"errors"
	"net"
	"reflect"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor/stream"
	"github.com/throttlekit/throttlekit-go/internal/rediserr"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Options configure a Backend.
type Options struct {
	// Namespace prefixes every key ("ns" makes "ns:api:K"); "" for none.
	Namespace string
	// Timeout bounds a call whose context carries no deadline; 0 leaves such calls to the
	// Redis client's own dial, read and write timeouts.
	Timeout time.Duration
	// DisableAutoPipeline sends every call on its own round trip. By default, calls that
	// arrive while earlier ones are in flight are coalesced into pipelines (same commands,
	// same decisions, far fewer round trips); a lone caller is never delayed either way.
	DisableAutoPipeline bool
	// LocalMaxKeys bounds the keys two-tier L1 holds per policy (0: 100,000); read by the
	// layer that puts L1 in front of this door (client, the C boundary).
	LocalMaxKeys int
}

// Backend runs the decision scripts in a Redis shared by a fleet: one round trip per check
// (EVALSHA, with a transparent EVAL when the script cache was flushed). It is a front.Door,
// safe for concurrent use.
type Backend struct {
	*front.Scripted
	runner *runner
	fed    fed
}

// runner runs the scripts in Redis.
type runner struct {
	rdb     redis.UniversalClient
	ownsRDB bool
	pipe    *coalesce.Coalescer[scriptReq] // every script call goes through it, except streamed ones
	stream  *stream.Stream                 // nil unless Open made one (see streamFor)
}

// New serves policies from rdb. The caller keeps ownership of rdb (Close does not close it).
// For calls to be bounded by their context, rdb needs ContextTimeoutEnabled and
// dial/read/retry settings that fit inside the deadline: NewClient sets them.
func New(rdb redis.UniversalClient, policies *policy.Set, opts Options) (*Backend, error) {
	if rdb == nil || policies == nil {
		return nil, front.NewError(front.ErrInvalidArgument, "NewRedisBackend needs a Redis client and a policy set")
	}
	return newBackend(&runner{rdb: rdb}, policies, opts)
}

func newBackend(r *runner, policies *policy.Set, opts Options) (*Backend, error) {
	r.pipe = newAutoPipeline(r.rdb, opts.DisableAutoPipeline)
	s, err := front.NewScripted(r, policies, opts.Namespace, opts.Timeout)
	if err != nil {
		return nil, err
	}
	return &Backend{Scripted: s, runner: r, fed: fed{maxKeys: opts.LocalMaxKeys}}, nil
}

// Open parses url (see NewClient) and policiesYAML and returns a backend that owns its
// connection. Nothing is dialled yet: reachability shows per call. Started checks
// (StartCheck) use one more connection, dialled on first use, when url names one Redis over
// plain TCP and auto-pipelining is on (see streamFor).
func Open(url string, policiesYAML []byte, opts Options, conn ConnectOptions) (*Backend, error) {
	set, err := front.ParsePolicies(policiesYAML)
	if err != nil {
		return nil, err
	}
	if conn.Timeout == 0 {
		conn.Timeout = opts.Timeout
	}
	rdb, err := NewClient(url, conn)
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = conn.timeout()
	}
	r := &runner{rdb: rdb, ownsRDB: true}
	if !opts.DisableAutoPipeline {
		r.stream = streamFor(url, conn)
	}
	b, err := newBackend(r, set, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return b, nil
}

// streamFor returns a stream to the Redis rawURL names, with its credentials, or nil when the
// URL is not one Redis over plain TCP, or when conn has a dialer of its own (a stream dials
// with Go's, and must not bypass a caller's proxy or tunnel; BlockingDial, whose only purpose
// is speed, is the exception).
func streamFor(rawURL string, conn ConnectOptions) *stream.Stream {
	if conn.Dialer != nil && reflect.ValueOf(conn.Dialer).Pointer() != reflect.ValueOf(BlockingDial).Pointer() {
		return nil
	}
	t, err := parseRedisURL(rawURL)
	if err != nil || t.mode != modeSingle || t.tls || len(t.addrs) != 1 {
		return nil
	}
	return stream.New(stream.Config{Addr: t.addrs[0], Username: t.username, Password: t.password, DB: t.db, Timeout: conn.timeout()})
}

// Streamed reports whether the backend's started checks travel on a stream (see StartCheck):
// starting one with a plain Waiter then costs the calling goroutine an enqueue and at most one
// non-blocking write, however many calls are in flight.
func (b *Backend) Streamed() bool { return b.runner.stream != nil }

// SetFeeder makes the backend's stream call f (see stream.Feeder); false when the backend has
// no stream. Call it before the backend's first StartCheck.
func (b *Backend) SetFeeder(f stream.Feeder) bool {
	if b.runner.stream == nil {
		return false
	}
	b.runner.stream.SetFeeder(f)
	return true
}

func (r *runner) Now(ctx context.Context) (int64, error) {
	t, err := r.rdb.Time(ctx).Result()
	if err != nil {
		r.refreshTopology(err)
		return 0, rediserr.Classify(ctx, err)
	}
	// The scripts' own rule: seconds*1000 + floor(microseconds/1000).
	return t.UnixMilli(), nil
}

// Run executes one script call: EVALSHA, and EVAL once if Redis lost the script (restart,
// failover, SCRIPT FLUSH). With auto-pipelining, the EVALSHA may travel in a batch.
func (r *runner) Run(ctx context.Context, call *front.ScriptCall, redisKey string, nowMs, amount int64) (any, error) {
	reply, err := r.pipe.Do(ctx, scriptReq{source: call.Script.Source, args: call.Args(redisKey, nowMs, amount)})
	return reply, r.failure(ctx, err)
}

// Start is Run for a caller that hears back through complete (see front.ScriptRunner). It is
// where a started call's transport is chosen: the stream when the backend has one, except
// for a lone caller that lends its thread (nothing else in flight: sending and reading its
// own call saves the reader's hand-off), else the auto-pipeline.
func (r *runner) Start(ctx context.Context, call *front.ScriptCall, redisKey string, nowMs, amount int64,
	st front.Start, complete func(any, error)) {
	if r.stream != nil && !(st.Lead != nil && r.stream.Idle() && r.pipe.Idle()) {
		r.startStreamed(ctx, call, redisKey, nowMs, amount, st, complete)
		return
	}
	ctx, cancel := st.Bound(ctx)
	req := scriptReq{source: call.Script.Source, args: call.Args(redisKey, nowMs, amount)}
	r.pipe.Submit(&coalesce.Pending[scriptReq]{Ctx: ctx, Req: req, Lead: st.Lead, Complete: func(reply any, err error) {
		cancel()
		complete(reply, r.failure(ctx, err))
	}})
}

// startStreamed starts the call on the stream, due at ctx's deadline or at st's bound (the
// stream's own timeout when st has none), with no context made for it.
func (r *runner) startStreamed(ctx context.Context, call *front.ScriptCall, redisKey string, nowMs, amount int64,
	st front.Start, complete func(any, error)) {
	deadline, ok := ctx.Deadline()
	if !ok {
		timeout := st.Timeout
		if timeout <= 0 {
			timeout = r.stream.Timeout()
		}
		if st.Queued.IsZero() {
			deadline = time.Now().Add(timeout)
		} else if deadline = st.Queued.Add(timeout); !deadline.After(time.Now()) {
			// Its whole time went by in the caller's queue: sent now, it would be due at
			// once, and its missing reply would reset a healthy connection.
			complete(nil, errQueuedTooLong)
			return
		}
	}
	r.stream.Start(ctx, deadline, call.Args(redisKey, nowMs, amount), call.Script.Source, complete)
}

// failure classifies a go-redis error for the caller and re-reads a cluster's slot map when
// the error may mean it changed.
func (r *runner) failure(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	r.refreshTopology(err)
	return rediserr.Classify(ctx, err)
}

// refreshTopology makes a cluster client re-read the slot map (in the background, at most
// once per 200 ms) after a failure that may mean the topology changed. A killed master sends
// no MOVED to learn from: without this, go-redis kept sending its slots to the dead address
// until its periodic reload, seconds after the replica had been promoted. A reply about the
// command itself (a script error, WRONGTYPE) says nothing about the topology.
func (r *runner) refreshTopology(err error) {
	cc, ok := r.rdb.(*redis.ClusterClient)
	if !ok {
		return
	}
	var replyErr redis.Error
	var netErr net.Error
	if errors.As(err, &replyErr) && !errors.As(err, &netErr) && rediserr.ReplyKind(err.Error()) != front.ErrUnavailable {
		return
	}
	cc.ReloadState(context.Background())
}

func (r *runner) Close() error {
	if r.stream != nil {
		r.stream.Close()
	}
	if !r.ownsRDB {
		return nil
	}
	return r.rdb.Close()
}

// errQueuedTooLong fails a call whose whole time went by in its caller's queue.
var errQueuedTooLong = &front.Error{Kind: front.ErrTimeout, Msg: "redis: the call's deadline passed while it waited to be sent"}
