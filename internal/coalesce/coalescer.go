package coalesce

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Coalescer turns concurrent calls into batches: calls that arrive while every slot is
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
type Coalescer[R any] struct {
	Off      bool // every call is sent on its own (auto-pipelining disabled)
	Slots    int  // batches (and lone calls) in flight at most
	MaxBatch int
	// SendOne sends a lone call; SendBatch sends len(reqs) >= 2 calls as one batch under ctx
	// and returns one Outcome per call. Errors are for each caller to classify.
	SendOne   func(ctx context.Context, req R) (any, error)
	SendBatch func(ctx context.Context, reqs []R) []Outcome
	// Joins reports whether req may travel in a batch led by head (nil: any may).
	Joins func(head, req R) bool
	// Panicked makes the error each caller hears when sending its call panicked with p
	// (nil: a plain error).
	Panicked func(p any) error

	mu       sync.Mutex
	queue    []*Pending[R]
	inFlight int // slots taken: lone calls, leaders and drainers at work
}

// Outcome is one call's result within a batch.
type Outcome struct {
	Reply any
	Err   error
}

// Pending is one call on its way. Exactly one party claims it: the leader that sends it, the
// deadline watch, or a slot offering its caller the lead.
type Pending[R any] struct {
	Ctx      context.Context
	Req      R
	Complete func(reply any, err error) // must not block
	Lead     func(Lead)                 // nil when the caller has no thread to lend
	claimed  atomic.Bool
	unwatch  func() bool // stops the deadline watch; set before the call is queued
}

// A Lead is a turn to send a batch, offered to a caller that waits on a thread of its own.
// Run sends the batch (the caller's own call first) on the calling goroutine; the caller's
// own Outcome arrives through its completion, as always, before Run returns.
type Lead struct{ run func() }

// Run sends the batch. Call it once, promptly, from the thread that was offered the lead.
func (l Lead) Run() { l.run() }

// Submit starts c: on the calling goroutine when c's caller can lead and a slot is free (then
// c completes before submit returns), else queued, to complete by c.Ctx's deadline. When the
// coalescer is off, c is sent on its own: on the calling goroutine if its caller lends it,
// else on a goroutine of its own.
func (q *Coalescer[R]) Submit(c *Pending[R]) {
	if q.Off {
		if c.Lead != nil {
			c.Complete(q.one(c.Ctx, c.Req))
		} else {
			go func() { c.Complete(q.one(c.Ctx, c.Req)) }()
		}
		return
	}
	q.mu.Lock()
	if c.Lead != nil && q.inFlight < q.Slots {
		q.inFlight++
		c.claimed.Store(true)
		if len(q.queue) == 0 {
			q.mu.Unlock()
			reply, err := q.one(c.Ctx, c.Req)
			q.passOn()
			c.Complete(reply, err)
			return
		}
		q.mu.Unlock()
		q.leadBatch(c) // c first, then what is queued
		return
	}
	// The watch completes the call at its deadline if no batch has by then: a caller is never
	// held past its deadline by batches ahead of it.
	c.unwatch = context.AfterFunc(c.Ctx, c.expire)
	q.queue = append(q.queue, c)
	startDrainer := q.inFlight < q.Slots
	if startDrainer {
		q.inFlight++
	}
	q.mu.Unlock()
	if startDrainer {
		go q.drain()
	}
}

// Idle reports whether no call is in flight or queued.
func (q *Coalescer[R]) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight == 0 && len(q.queue) == 0
}

// finish completes a queued call unless another party claimed it first.
func (c *Pending[R]) finish(reply any, err error) {
	if c.claimed.CompareAndSwap(false, true) {
		c.unwatch()
		c.Complete(reply, err)
	}
}

func (c *Pending[R]) expire() {
	if c.claimed.CompareAndSwap(false, true) {
		c.Complete(nil, c.Ctx.Err())
	}
}

// leadBatch sends one batch with self first, then passes the slot on.
func (q *Coalescer[R]) leadBatch(self *Pending[R]) {
	q.mu.Lock()
	batch := q.take(self)
	q.mu.Unlock()
	q.send(batch, self)
	q.passOn()
}

// drain holds one slot for callers that cannot lead, sending batches until the queue is
// empty.
func (q *Coalescer[R]) drain() {
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
func (q *Coalescer[R]) passOn() {
	q.mu.Lock()
	if len(q.queue) == 0 {
		q.inFlight--
		q.mu.Unlock()
		return
	}
	var leader *Pending[R]
	for _, c := range q.queue {
		if c.Lead != nil && !c.claimed.Load() && (leader == nil || !dueBefore(c, leader)) {
			leader = c
		}
	}
	if leader != nil && leader.claimed.CompareAndSwap(false, true) {
		leader.unwatch()
		q.mu.Unlock()
		leader.Lead(Lead{run: func() { q.leadBatch(leader) }})
		return
	}
	q.mu.Unlock()
	go q.drain()
}

// dueBefore reports whether a's deadline comes before b's (no deadline comes last).
func dueBefore[R any](a, b *Pending[R]) bool {
	da, okA := a.Ctx.Deadline()
	db, okB := b.Ctx.Deadline()
	return okA && (!okB || da.Before(db))
}

// take removes and returns the next batch: self (if not nil) first, then the oldest calls
// that may join it and, when self leads, are due no later than self. Called with q.mu held.
func (q *Coalescer[R]) take(self *Pending[R]) []*Pending[R] {
	if self != nil {
		if i := slices.Index(q.queue, self); i >= 0 {
			q.queue = slices.Delete(q.queue, i, i+1)
		}
	}
	batch := make([]*Pending[R], 0, min(len(q.queue)+1, q.MaxBatch))
	if self != nil {
		batch = append(batch, self)
	}
	kept := q.queue[:0]
	for _, c := range q.queue {
		if len(batch) < q.MaxBatch && (len(batch) == 0 || q.Joins == nil || q.Joins(batch[0].Req, c.Req)) &&
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

// send sends a batch and hands every caller its own Outcome. Calls already completed at
// their deadline, or whose deadline has passed, are not sent: nobody would hear of them.
func (q *Coalescer[R]) send(batch []*Pending[R], self *Pending[R]) {
	done := func(c *Pending[R], reply any, err error) {
		if c == self {
			c.Complete(reply, err)
		} else {
			c.finish(reply, err)
		}
	}
	live := batch[:0]
	for _, c := range batch {
		switch {
		case c != self && c.claimed.Load():
		case c.Ctx.Err() != nil:
			done(c, nil, c.Ctx.Err())
		default:
			live = append(live, c)
		}
	}
	switch len(live) {
	case 0:
		return
	case 1:
		reply, err := q.one(live[0].Ctx, live[0].Req)
		done(live[0], reply, err)
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	reqs := make([]R, len(live))
	for i, c := range live {
		reqs[i] = c.Req
	}
	outs := q.batch(ctx, reqs)
	for i, c := range live {
		done(c, outs[i].Reply, outs[i].Err)
	}
}

// one is SendOne, and batch SendBatch, with a panic turned into each call's error: a fault
// while sending must not leave callers waiting (a C thread would wait forever), nor unwind
// into a host's thread or end the process from a drainer goroutine.
func (q *Coalescer[R]) one(ctx context.Context, req R) (reply any, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, err = nil, q.panicked(p)
		}
	}()
	return q.SendOne(ctx, req)
}

func (q *Coalescer[R]) batch(ctx context.Context, reqs []R) (outs []Outcome) {
	defer func() {
		if p := recover(); p != nil {
			err := q.panicked(p)
			outs = make([]Outcome, len(reqs))
			for i := range outs {
				outs[i].Err = err
			}
		}
	}()
	return q.SendBatch(ctx, reqs)
}

// panicked is the error a call hears when sending it panicked with p.
func (q *Coalescer[R]) panicked(p any) error {
	if q.Panicked != nil {
		return q.Panicked(p)
	}
	return fmt.Errorf("internal error while sending a batch: %v", p)
}

// Do makes one call for a goroutine that waits for it, lending the goroutine to send a batch
// when offered.
func (q *Coalescer[R]) Do(ctx context.Context, req R) (any, error) {
	if q.Off {
		return q.one(ctx, req)
	}
	var reply any
	var err error
	var turn Lead
	signal := make(chan bool, 1) // true: lead; false: completed
	q.Submit(&Pending[R]{Ctx: ctx, Req: req,
		Complete: func(r any, e error) { reply, err = r, e; signal <- false },
		Lead:     func(l Lead) { turn = l; signal <- true },
	})
	for <-signal {
		turn.Run()
	}
	return reply, err
}

// batchContext lasts as long as the most patient caller in the batch: each caller still
// stops waiting at its own deadline.
func batchContext[R any](batch []*Pending[R]) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.Ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}
