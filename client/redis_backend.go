package client

import (
	"context"
	"errors"
	"net"
	"strings"
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
	// DisableAutoPipeline sends every call on its own round trip. By default, calls that
	// arrive while earlier ones are in flight are coalesced into pipelines (same commands,
	// same decisions, far fewer round trips); a lone caller is never delayed either way.
	DisableAutoPipeline bool
}

// RedisBackend runs the decision scripts in a Redis shared by a fleet: one round trip per
// check (EVALSHA, with a transparent EVAL when the script cache was flushed). It is safe for
// concurrent use.
type RedisBackend struct {
	*scripted
}

// Streamed reports whether the backend's started checks travel on a stream (see StartCheck):
// starting one with a plain Waiter then costs the calling goroutine an enqueue and at most one
// non-blocking write, however many calls are in flight.
func (b *RedisBackend) Streamed() bool {
	r, ok := b.runner.(*redisRunner)
	return ok && r.stream != nil
}

// redisRunner runs the scripts in Redis.
type redisRunner struct {
	rdb     redis.UniversalClient
	ownsRDB bool
	pipe    *coalescer[scriptReq] // every script call goes through it, except streamed ones
	stream  *stream               // nil unless OpenRedis made one (see stream)
}

var _ Limiter = (*RedisBackend)(nil)

// NewRedisBackend serves policies from rdb. The caller keeps ownership of rdb (Close does not
// close it). For calls to be bounded by their context, rdb needs ContextTimeoutEnabled and
// dial/read/retry settings that fit inside the deadline: NewRedisClient sets them.
func NewRedisBackend(rdb redis.UniversalClient, policies *policy.Set, opts RedisOptions) (*RedisBackend, error) {
	if rdb == nil || policies == nil {
		return nil, newError(ErrInvalidArgument, "NewRedisBackend needs a Redis client and a policy set")
	}
	return newRedisBackend(&redisRunner{rdb: rdb}, policies, opts)
}

func newRedisBackend(r *redisRunner, policies *policy.Set, opts RedisOptions) (*RedisBackend, error) {
	r.pipe = newAutoPipeline(r.rdb, opts.DisableAutoPipeline)
	s, err := newScripted(r, policies, opts.Namespace, opts.Timeout)
	if err != nil {
		return nil, err
	}
	return &RedisBackend{s}, nil
}

// OpenRedis parses url (see NewRedisClient) and policiesYAML and returns a backend that owns
// its connection. Nothing is dialled yet: reachability shows per call. Started checks
// (StartCheck) use one more connection, dialled on first use, when url names one Redis over
// plain TCP and auto-pipelining is on (see stream).
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
	r := &redisRunner{rdb: rdb, ownsRDB: true}
	if !opts.DisableAutoPipeline {
		r.stream = newStream(url, conn)
	}
	b, err := newRedisBackend(r, set, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return b, nil
}

func (r *redisRunner) now(ctx context.Context) (int64, error) {
	t, err := r.rdb.Time(ctx).Result()
	if err != nil {
		r.refreshTopology(err)
		return 0, classifyRedisError(ctx, err)
	}
	// The scripts' own rule: seconds*1000 + floor(microseconds/1000).
	return t.UnixMilli(), nil
}

// run executes one script call: EVALSHA, and EVAL once if Redis lost the script (restart,
// failover, SCRIPT FLUSH). With auto-pipelining, the EVALSHA may travel in a batch.
func (r *redisRunner) run(ctx context.Context, call *scriptCall, redisKey string, nowMs, amount int64) (any, error) {
	reply, err := r.pipe.do(ctx, scriptReq{source: call.script.Source, args: call.args(redisKey, nowMs, amount)})
	return reply, r.failure(ctx, err)
}

// start is run for a caller that hears back through complete (see scriptRunner).
func (r *redisRunner) start(ctx context.Context, call *scriptCall, redisKey string, nowMs, amount int64,
	complete func(any, error), lead func(Lead)) {
	req := scriptReq{source: call.script.Source, args: call.args(redisKey, nowMs, amount)}
	r.pipe.submit(&pending[scriptReq]{ctx: ctx, req: req, lead: lead,
		complete: func(reply any, err error) { complete(reply, r.failure(ctx, err)) }})
}

// failure classifies a go-redis error for the caller and re-reads a cluster's slot map when
// the error may mean it changed.
func (r *redisRunner) failure(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	r.refreshTopology(err)
	return classifyRedisError(ctx, err)
}

// runMany pipelines one script call per key, in order, in a single round trip.
func (r *redisRunner) runMany(ctx context.Context, call *scriptCall, redisKeys []string, nowMs, amount int64) ([]any, error) {
	args := make([][]any, len(redisKeys))
	for i, k := range redisKeys {
		args[i] = call.args(k, nowMs, amount)
	}
	cmds := pipelineScripts(ctx, r.rdb, args, func(int) string { return call.script.Source })

	replies := make([]any, len(cmds))
	for i, c := range cmds {
		reply, err := c.Result()
		if err != nil {
			// All or nothing: one failed key fails the batch.
			r.refreshTopology(err)
			return nil, classifyRedisError(ctx, err)
		}
		replies[i] = reply
	}
	return replies, nil
}

// refreshTopology makes a cluster client re-read the slot map (in the background, at most
// once per 200 ms) after a failure that may mean the topology changed. A killed master sends
// no MOVED to learn from: without this, go-redis kept sending its slots to the dead address
// until its periodic reload, seconds after the replica had been promoted. A reply about the
// command itself (a script error, WRONGTYPE) says nothing about the topology.
func (r *redisRunner) refreshTopology(err error) {
	cc, ok := r.rdb.(*redis.ClusterClient)
	if !ok {
		return
	}
	var replyErr redis.Error
	var netErr net.Error
	if errors.As(err, &replyErr) && !errors.As(err, &netErr) && replyKind(err.Error()) != ErrUnavailable {
		return
	}
	cc.ReloadState(context.Background())
}

// startStreamed is start on the stream, for the calls that take it (see streamRunner).
func (r *redisRunner) startStreamed(ctx context.Context, queued time.Time, timeout time.Duration, call *scriptCall, redisKey string,
	nowMs, amount int64, complete func(any, error), canLead bool) bool {
	if r.stream == nil || (canLead && r.stream.idle() && r.pipe.idle()) {
		return false
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		if timeout <= 0 {
			timeout = r.stream.timeout
		}
		if queued.IsZero() {
			deadline = time.Now().Add(timeout)
		} else if deadline = queued.Add(timeout); !deadline.After(time.Now()) {
			// Its whole time went by in the caller's queue: sent now, it would be due at
			// once, and its missing reply would reset a healthy connection.
			complete(nil, errQueuedTooLong)
			return true
		}
	}
	r.stream.start(ctx, deadline, call.args(redisKey, nowMs, amount), call.script.Source, complete)
	return true
}

func (r *redisRunner) close() error {
	if r.stream != nil {
		r.stream.close()
	}
	if !r.ownsRDB {
		return nil
	}
	return r.rdb.Close()
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
