package client

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Auto-pipelining: checks that arrive while the connection slots are busy wait in a queue, and
// whoever frees a slot sends everything queued as one pipeline. Redis then reads, runs and
// answers a whole batch per system call instead of one command per call, which is where a
// single Redis spends most of its time at high concurrency. A lone caller finds a free slot
// and sends its command at once, exactly as without pipelining: batching only ever happens
// to calls that would otherwise have waited for a connection anyway.
//
// Every command in a batch is the same EVALSHA the caller would have sent alone, so a batch
// decides exactly what the same calls sent one by one in the same order would decide.
const (
	// pipelineSlots bounds the pipelines (and lone calls) in flight per backend: enough that
	// Redis always has the next batch arriving while it answers one, few enough that batches
	// stay large. Measured on 2 cores: see BENCHMARKS.md.
	pipelineSlots = 4
	// maxBatch caps one pipeline so that a burst of callers cannot build a reply large enough
	// to delay the first of them noticeably.
	maxBatch = 512
)

// autoPipeline coalesces concurrent script calls on one Redis client.
type autoPipeline struct {
	rdb      redis.UniversalClient
	mu       sync.Mutex
	queue    []*queuedCall
	inFlight int // slots taken: lone calls and batches being sent
}

// queuedCall is one caller's command waiting for a batch. done receives exactly once.
type queuedCall struct {
	ctx    context.Context
	script string // the script's source, to load it again after NOSCRIPT
	args   []any
	reply  any
	err    error
	done   chan struct{}
}

// do runs one EVALSHA (args) whose script source is given for a NOSCRIPT retry. Errors are
// go-redis's, for the caller to classify against its own context.
func (p *autoPipeline) do(ctx context.Context, source string, args []any) (any, error) {
	p.mu.Lock()
	if p.inFlight < pipelineSlots && len(p.queue) == 0 {
		p.inFlight++
		p.mu.Unlock()
		reply, err := runOne(ctx, p.rdb, source, args)
		p.release()
		return reply, err
	}
	c := &queuedCall{ctx: ctx, script: source, args: args, done: make(chan struct{})}
	p.queue = append(p.queue, c)
	if p.inFlight < pipelineSlots {
		p.inFlight++
		go p.drain()
	}
	p.mu.Unlock()

	select {
	case <-c.done:
		return c.reply, c.err
	case <-ctx.Done():
		// The batch may still run this command: like a lone call whose reply arrives after its
		// deadline, the caller learns only that it did not hear back in time.
		return nil, ctx.Err()
	}
}

// release gives a lone call's slot to a drainer when callers queued meanwhile.
func (p *autoPipeline) release() {
	p.mu.Lock()
	if len(p.queue) == 0 {
		p.inFlight--
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	go p.drain()
}

// drain holds one slot and sends batches until the queue is empty.
func (p *autoPipeline) drain() {
	var batch []*queuedCall
	for {
		p.mu.Lock()
		n := min(len(p.queue), maxBatch)
		if n == 0 {
			p.inFlight--
			p.mu.Unlock()
			return
		}
		batch = append(batch[:0], p.queue[:n]...)
		rest := copy(p.queue, p.queue[n:])
		clear(p.queue[rest:])
		p.queue = p.queue[:rest]
		p.mu.Unlock()
		p.send(batch)
	}
}

// send pipelines a batch and hands every caller its own reply. Calls whose caller has given
// up are dropped before sending: nobody would hear their decision.
func (p *autoPipeline) send(batch []*queuedCall) {
	live := batch[:0]
	for _, c := range batch {
		if c.ctx.Err() != nil {
			c.err = c.ctx.Err()
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	args := make([][]any, len(live))
	for i, c := range live {
		args[i] = c.args
	}
	cmds := pipelineScripts(ctx, p.rdb, args, func(i int) string { return live[i].script })
	for i, c := range live {
		c.reply, c.err = cmds[i].Result()
		close(c.done)
	}
}

// batchContext lasts as long as the most patient caller in the batch: each caller still
// stops waiting at its own deadline.
func batchContext(batch []*queuedCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// runOne sends one EVALSHA, and EVAL once if Redis lost the script (restart, failover, SCRIPT
// FLUSH); EVAL caches it again for the next EVALSHA.
func runOne(ctx context.Context, rdb redis.UniversalClient, source string, args []any) (any, error) {
	reply, err := rdb.Do(ctx, args...).Result()
	if isNoScript(err) {
		args[0], args[1] = "eval", source
		reply, err = rdb.Do(ctx, args...).Result()
	}
	return reply, err
}

// pipelineScripts sends EVALSHA commands (args) as one pipeline, then re-sends as EVAL, script
// text included, those that met an empty script cache: EVAL cannot miss, even if the cache is
// flushed again meanwhile. The commands that missed all come after every command that ran
// (the cache empties at one instant), so re-sending them in order keeps the order of effects.
func pipelineScripts(ctx context.Context, rdb redis.UniversalClient, args [][]any, source func(i int) string) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(args))
	pipe := rdb.Pipeline()
	for i, a := range args {
		cmds[i] = pipe.Do(ctx, a...)
	}
	_, _ = pipe.Exec(ctx)

	var retry *redis.Pipeline
	for i, c := range cmds {
		if !isNoScript(c.Err()) {
			continue
		}
		if retry == nil {
			retry = rdb.Pipeline().(*redis.Pipeline)
		}
		a := slices.Clone(args[i])
		a[0], a[1] = "eval", source(i)
		cmds[i] = retry.Do(ctx, a...)
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	return cmds
}
