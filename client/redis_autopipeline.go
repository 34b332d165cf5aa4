package client

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
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
//
// Who sends a batch: a caller that waits on a thread of its own (a goroutine in Check, a C
// thread in tk_check) is offered the turn and sends the batch on that thread. Handing turns
// from thread to thread keeps the Go scheduler out of the hot path: a goroutine woken from a
// C thread's callback can wait for a P for milliseconds, while a thread woken by its own
// semaphore runs at once. Only calls whose callers cannot wait (tk_check_async) are sent by a
// drainer goroutine.
const (
	// pipelineSlots bounds the pipelines (and lone calls) in flight per backend: enough that
	// Redis always has the next batch arriving while it answers one, few enough that batches
	// stay large. Measured on 2 cores: see BENCHMARKS.md.
	pipelineSlots = 4
	// maxBatch caps one pipeline so that a burst of callers cannot build a reply large enough
	// to delay the first of them noticeably.
	maxBatch = 512
	// leadScan bounds how far into the queue a freed slot looks for a caller to lead.
	leadScan = 16
)

// autoPipeline coalesces concurrent script calls on one Redis client.
type autoPipeline struct {
	rdb      redis.UniversalClient
	mu       sync.Mutex
	queue    []*queuedCall
	inFlight int // slots taken: lone calls, leaders and drainers at work
}

// queuedCall is one script call on its way. Exactly one party claims it: the leader that
// sends it, the deadline watch, or a slot offering its caller the lead.
type queuedCall struct {
	ctx      context.Context
	script   string // the script's source, for EVAL after NOSCRIPT
	args     []any  // EVALSHA sha 1 key argv...
	complete func(reply any, err error)
	lead     func(Lead) // nil when the caller has no thread to lend
	claimed  atomic.Bool
	unwatch  func() bool // stops the deadline watch; set before the call is queued
}

// A Lead is a turn to send a batch, offered to a caller that waits on a thread of its own.
// Run sends the batch (the caller's own call first) on the calling goroutine; the caller's
// own outcome arrives through its completion, as always, before Run returns.
type Lead struct {
	p    *autoPipeline
	self *queuedCall
}

// Run sends the batch. Call it once, promptly, from the thread that was offered the lead.
func (l Lead) Run() { l.p.lead(l.self) }

// submit starts c: on the calling goroutine when c's caller can lead and a slot is free (then
// c completes before submit returns), else queued, to complete by c.ctx's deadline.
func (p *autoPipeline) submit(c *queuedCall) {
	p.mu.Lock()
	if c.lead != nil && p.inFlight < pipelineSlots {
		p.inFlight++
		c.claimed.Store(true)
		if len(p.queue) == 0 {
			p.mu.Unlock()
			reply, err := runOne(c.ctx, p.rdb, c.script, c.args)
			p.passOn()
			c.complete(reply, err)
			return
		}
		p.mu.Unlock()
		p.lead(c) // c first, then what is queued
		return
	}
	// The watch completes the call at its deadline if no batch has by then: a caller is never
	// held past its deadline by batches ahead of it.
	c.unwatch = context.AfterFunc(c.ctx, func() { c.expire() })
	p.queue = append(p.queue, c)
	startDrainer := p.inFlight < pipelineSlots
	if startDrainer {
		p.inFlight++
	}
	p.mu.Unlock()
	if startDrainer {
		go p.drain()
	}
}

// finish completes a queued call unless another party claimed it first.
func (c *queuedCall) finish(reply any, err error) {
	if c.claimed.CompareAndSwap(false, true) {
		c.unwatch()
		c.complete(reply, err)
	}
}

func (c *queuedCall) expire() {
	if c.claimed.CompareAndSwap(false, true) {
		c.complete(nil, c.ctx.Err())
	}
}

// lead sends one batch with self first, then passes the slot on.
func (p *autoPipeline) lead(self *queuedCall) {
	p.mu.Lock()
	batch := p.take(self)
	p.mu.Unlock()
	p.send(batch, self)
	p.passOn()
}

// drain holds one slot for callers that cannot lead, sending batches until the queue is
// empty.
func (p *autoPipeline) drain() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.inFlight--
			p.mu.Unlock()
			return
		}
		batch := p.take(nil)
		p.mu.Unlock()
		p.send(batch, nil)
	}
}

// passOn hands a slot that has finished its work on: to a queued caller that can lead, else
// to a drainer, or frees it when nothing waits.
func (p *autoPipeline) passOn() {
	p.mu.Lock()
	if len(p.queue) == 0 {
		p.inFlight--
		p.mu.Unlock()
		return
	}
	for _, c := range p.queue[:min(len(p.queue), leadScan)] {
		if c.lead != nil && c.claimed.CompareAndSwap(false, true) {
			c.unwatch()
			p.mu.Unlock()
			c.lead(Lead{p: p, self: c})
			return
		}
	}
	p.mu.Unlock()
	go p.drain()
}

// take removes and returns the next batch: self (if not nil) first, then the oldest calls.
// Called with p.mu held.
func (p *autoPipeline) take(self *queuedCall) []*queuedCall {
	if self != nil {
		if i := slices.Index(p.queue, self); i >= 0 {
			p.queue = slices.Delete(p.queue, i, i+1)
		}
	}
	n := min(len(p.queue), maxBatch-1)
	batch := make([]*queuedCall, 0, n+1)
	if self != nil {
		batch = append(batch, self)
	}
	batch = append(batch, p.queue[:n]...)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	return batch
}

// send pipelines a batch and hands every caller its own reply. Calls already completed at
// their deadline, or whose deadline has passed, are not sent: nobody would hear their
// decision.
func (p *autoPipeline) send(batch []*queuedCall, self *queuedCall) {
	done := func(c *queuedCall, reply any, err error) {
		if c == self {
			c.complete(reply, err)
		} else {
			c.finish(reply, err)
		}
	}
	live := batch[:0]
	for _, c := range batch {
		switch {
		case c != self && c.claimed.Load():
		case c.ctx.Err() != nil:
			done(c, nil, c.ctx.Err())
		default:
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return
	}
	var cmds []*redis.Cmd
	if len(live) == 1 {
		reply, err := runOne(live[0].ctx, p.rdb, live[0].script, live[0].args)
		done(live[0], reply, err)
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	args := make([][]any, len(live))
	for i, c := range live {
		args[i] = c.args
	}
	cmds = pipelineScripts(ctx, p.rdb, args, func(i int) string { return live[i].script })
	for i, c := range live {
		reply, err := cmds[i].Result()
		done(c, reply, err)
	}
}

// do runs one EVALSHA (args) for a goroutine that waits for it, lending the goroutine to
// send a batch when offered. Errors are go-redis's, for the caller to classify against its
// own context.
func (p *autoPipeline) do(ctx context.Context, source string, args []any) (any, error) {
	var reply any
	var err error
	var turn Lead
	signal := make(chan bool, 1) // true: lead; false: completed
	p.submit(&queuedCall{ctx: ctx, script: source, args: args,
		complete: func(r any, e error) { reply, err = r, e; signal <- false },
		lead:     func(l Lead) { turn = l; signal <- true },
	})
	for <-signal {
		turn.Run()
	}
	return reply, err
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

	var retry redis.Pipeliner
	for i, c := range cmds {
		if !isNoScript(c.Err()) {
			continue
		}
		if retry == nil {
			retry = rdb.Pipeline()
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
