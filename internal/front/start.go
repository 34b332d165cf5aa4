package front

import (
	"context"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/coalesce"
)

// A Waiter hears how a check started with StartCheck ends.
type Waiter interface {
	// Done delivers the outcome: exactly once, by the call's deadline, from any goroutine,
	// possibly before StartCheck returns. It must not block.
	Done(Decision, error)
}

// A ThreadWaiter is a Waiter whose caller blocks a thread of its own until Done (a goroutine
// in a loop, a C thread in tk_check), and lends that thread to send a batch of pipelined
// calls when offered: Lead must arrange for l.Run to be called soon on that thread (it sends
// the caller's own call too, so Done follows). Callers that lend their thread may also have
// their call sent at once, on the calling goroutine, when nothing else is in flight. On a
// backend with a stream (see StartCheck), concurrent calls travel on it and lend no thread.
type ThreadWaiter interface {
	Waiter
	Lead(l coalesce.Lead)
}

// A QueuedWaiter is a Waiter whose call waited in a queue of its caller's before reaching
// StartCheck (the C ABI's submitted tk_checks): on a RedisBackend or an EngineBackend, the
// call's deadline counts from Queued, so that the time spent queued is part of its bound, not
// added to it.
type QueuedWaiter interface {
	Waiter
	Queued() time.Time
}

// StartCheck makes the check Check(ctx, policy, key, cost) would make, or CheckAt's when
// nowMs > 0, and reports its outcome to w instead of returning it. With auto-pipelining,
// concurrent started checks share round trips like concurrent Checks do. A plain Waiter's
// call never blocks the calling goroutine (StartCheck returns at once, after at most one
// non-blocking write: suitable for an event loop); a ThreadWaiter's may run on it. Input
// errors reach w.Done before StartCheck returns. How the call travels is the runner's choice
// (the Redis door's: its stream or its auto-pipeline, see redisdoor's runner.Start).
func (b *Scripted) StartCheck(ctx context.Context, policy, key string, cost, nowMs int64, w Waiter) {
	pp, call, cost, err := b.resolve(OpCheck, policy, cost, nowMs)
	if err == nil {
		err = ValidateKey(key)
	}
	if err != nil {
		w.Done(Decision{}, err)
		return
	}
	call = call.forKey(key)
	decode := func(reply any, err error) {
		if err != nil {
			w.Done(Decision{}, err)
			return
		}
		w.Done(checkDecision(pp.p.Shadow, call, reply))
	}
	start := Start{Lead: LeadOf(w), Timeout: b.timeout}
	if qw, ok := w.(QueuedWaiter); ok {
		start.Queued = qw.Queued()
	}
	b.runner.Start(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, cost, start, decode)
}

// Start is how a started call is to be bounded and who can send it.
type Start struct {
	// Lead is the caller's offer of its thread (nil when it has none to lend): see
	// coalesce.Lead.
	Lead func(coalesce.Lead)
	// Timeout bounds a call whose context has no deadline (0: no bound), counted from Queued
	// (a QueuedWaiter's time in its caller's queue is part of it), or from now when Queued is
	// zero.
	Timeout time.Duration
	Queued  time.Time
}

// Bound applies st's timeout to a context without a deadline of its own.
func (st Start) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok || st.Timeout <= 0 {
		return ctx, func() {}
	}
	if st.Queued.IsZero() {
		return context.WithTimeout(ctx, st.Timeout)
	}
	return context.WithDeadline(ctx, st.Queued.Add(st.Timeout))
}

// LeadOf is w's Lead when its caller lends its thread (a ThreadWaiter), else nil.
func LeadOf(w Waiter) func(coalesce.Lead) {
	if tw, ok := w.(ThreadWaiter); ok {
		return tw.Lead
	}
	return nil
}
