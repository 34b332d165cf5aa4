package client

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A coalescer turns concurrent calls into batches: calls that arrive while every slot is
// busy wait in a queue, and whoever frees a slot sends what is queued as one batch (a Redis
// pipeline, a CheckMany RPC). A lone caller finds a free slot and sends its call at once, as
// if there were no coalescer: batching only ever happens to calls that would otherwise have
// waited anyway.
//
// Who sends a batch: a caller that waits on a thread of its own (a goroutine in Check, a C
// thread in tk_check) is offered the turn and sends the batch on that thread. Handing turns
// from thread to thread keeps the Go scheduler out of the hot path: a goroutine woken from a
// C thread's callback can wait for a P for milliseconds, while a thread woken by its own
// semaphore runs at once. Only calls whose callers cannot wait (tk_check_async) are sent by a
// drainer goroutine.
type coalescer[R any] struct {
	off      bool // every call is sent on its own (auto-pipelining disabled)
	slots    int  // batches (and lone calls) in flight at most
	maxBatch int
	// sendOne sends a lone call; sendBatch sends len(reqs) >= 2 calls as one batch under ctx
	// and returns one outcome per call. Errors are for each caller to classify.
	sendOne   func(ctx context.Context, req R) (any, error)
	sendBatch func(ctx context.Context, reqs []R) []outcome
	// joins reports whether req may travel in a batch led by head (nil: any may).
	joins func(head, req R) bool

	mu       sync.Mutex
	queue    []*pending[R]
	inFlight int // slots taken: lone calls, leaders and drainers at work
}

type outcome struct {
	reply any
	err   error
}

// pending is one call on its way. Exactly one party claims it: the leader that sends it, the
// deadline watch, or a slot offering its caller the lead.
type pending[R any] struct {
	ctx      context.Context
	req      R
	complete func(reply any, err error) // must not block
	lead     func(Lead)                 // nil when the caller has no thread to lend
	claimed  atomic.Bool
	unwatch  func() bool // stops the deadline watch; set before the call is queued
}

// A Lead is a turn to send a batch, offered to a caller that waits on a thread of its own.
// Run sends the batch (the caller's own call first) on the calling goroutine; the caller's
// own outcome arrives through its completion, as always, before Run returns.
type Lead struct{ run func() }

// Run sends the batch. Call it once, promptly, from the thread that was offered the lead.
func (l Lead) Run() { l.run() }

// submit starts c: on the calling goroutine when c's caller can lead and a slot is free (then
// c completes before submit returns), else queued, to complete by c.ctx's deadline. When the
// coalescer is off, c is sent on its own: on the calling goroutine if its caller lends it,
// else on a goroutine of its own.
func (q *coalescer[R]) submit(c *pending[R]) {
	if q.off {
		if c.lead != nil {
			c.complete(q.sendOne(c.ctx, c.req))
		} else {
			go func() { c.complete(q.sendOne(c.ctx, c.req)) }()
		}
		return
	}
	q.mu.Lock()
	if c.lead != nil && q.inFlight < q.slots {
		q.inFlight++
		c.claimed.Store(true)
		if len(q.queue) == 0 {
			q.mu.Unlock()
			reply, err := q.sendOne(c.ctx, c.req)
			q.passOn()
			c.complete(reply, err)
			return
		}
		q.mu.Unlock()
		q.leadBatch(c) // c first, then what is queued
		return
	}
	// The watch completes the call at its deadline if no batch has by then: a caller is never
	// held past its deadline by batches ahead of it.
	c.unwatch = context.AfterFunc(c.ctx, c.expire)
	q.queue = append(q.queue, c)
	startDrainer := q.inFlight < q.slots
	if startDrainer {
		q.inFlight++
	}
	q.mu.Unlock()
	if startDrainer {
		go q.drain()
	}
}

// idle reports whether no call is in flight or queued.
func (q *coalescer[R]) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight == 0 && len(q.queue) == 0
}

// finish completes a queued call unless another party claimed it first.
func (c *pending[R]) finish(reply any, err error) {
	if c.claimed.CompareAndSwap(false, true) {
		c.unwatch()
		c.complete(reply, err)
	}
}

func (c *pending[R]) expire() {
	if c.claimed.CompareAndSwap(false, true) {
		c.complete(nil, c.ctx.Err())
	}
}

// leadBatch sends one batch with self first, then passes the slot on.
func (q *coalescer[R]) leadBatch(self *pending[R]) {
	q.mu.Lock()
	batch := q.take(self)
	q.mu.Unlock()
	q.send(batch, self)
	q.passOn()
}

// drain holds one slot for callers that cannot lead, sending batches until the queue is
// empty.
func (q *coalescer[R]) drain() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.inFlight--
			q.mu.Unlock()
			return
		}
		batch := q.take(nil)
		q.mu.Unlock()
		q.send(batch, nil)
	}
}

// passOn hands a slot that has finished its work on: to a queued caller that can lead, else
// to a drainer, or frees it when nothing waits. The leader is the caller with the latest
// deadline: its batch takes only calls due no later than itself, so the thread it lends is
// never held past its own deadline (the others are released at theirs by their watch).
func (q *coalescer[R]) passOn() {
	q.mu.Lock()
	if len(q.queue) == 0 {
		q.inFlight--
		q.mu.Unlock()
		return
	}
	var leader *pending[R]
	for _, c := range q.queue {
		if c.lead != nil && !c.claimed.Load() && (leader == nil || !dueBefore(c, leader)) {
			leader = c
		}
	}
	if leader != nil && leader.claimed.CompareAndSwap(false, true) {
		leader.unwatch()
		q.mu.Unlock()
		leader.lead(Lead{run: func() { q.leadBatch(leader) }})
		return
	}
	q.mu.Unlock()
	go q.drain()
}

// dueBefore reports whether a's deadline comes before b's (no deadline comes last).
func dueBefore[R any](a, b *pending[R]) bool {
	da, okA := a.ctx.Deadline()
	db, okB := b.ctx.Deadline()
	return okA && (!okB || da.Before(db))
}

// take removes and returns the next batch: self (if not nil) first, then the oldest calls
// that may join it and, when self leads, are due no later than self. Called with q.mu held.
func (q *coalescer[R]) take(self *pending[R]) []*pending[R] {
	if self != nil {
		if i := slices.Index(q.queue, self); i >= 0 {
			q.queue = slices.Delete(q.queue, i, i+1)
		}
	}
	batch := make([]*pending[R], 0, min(len(q.queue)+1, q.maxBatch))
	if self != nil {
		batch = append(batch, self)
	}
	kept := q.queue[:0]
	for _, c := range q.queue {
		if len(batch) < q.maxBatch && (len(batch) == 0 || q.joins == nil || q.joins(batch[0].req, c.req)) &&
			(self == nil || !dueBefore(self, c)) {
			batch = append(batch, c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(q.queue[len(kept):])
	q.queue = kept
	return batch
}

// send sends a batch and hands every caller its own outcome. Calls already completed at
// their deadline, or whose deadline has passed, are not sent: nobody would hear of them.
func (q *coalescer[R]) send(batch []*pending[R], self *pending[R]) {
	done := func(c *pending[R], reply any, err error) {
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
	switch len(live) {
	case 0:
		return
	case 1:
		reply, err := q.sendOne(live[0].ctx, live[0].req)
		done(live[0], reply, err)
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	reqs := make([]R, len(live))
	for i, c := range live {
		reqs[i] = c.req
	}
	outs := q.sendBatch(ctx, reqs)
	for i, c := range live {
		done(c, outs[i].reply, outs[i].err)
	}
}

// do makes one call for a goroutine that waits for it, lending the goroutine to send a batch
// when offered.
func (q *coalescer[R]) do(ctx context.Context, req R) (any, error) {
	if q.off {
		return q.sendOne(ctx, req)
	}
	var reply any
	var err error
	var turn Lead
	signal := make(chan bool, 1) // true: lead; false: completed
	q.submit(&pending[R]{ctx: ctx, req: req,
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
func batchContext[R any](batch []*pending[R]) (context.Context, context.CancelFunc) {
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
