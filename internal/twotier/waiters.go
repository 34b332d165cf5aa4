package twotier

import (
	"context"
	"errors"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// onDone is a Waiter for an L2 call that L1 started on behalf of a caller.
type onDone func(front.Decision, error)

func (f onDone) Done(d front.Decision, err error) { f(d, err) }

// lendingDone is an onDone whose caller's thread waits for the L2 call anyway: it is lent to
// send it, as the caller's own call would have been.
type lendingDone struct {
	onDone
	lead func(coalesce.Lead)
}

func (w lendingDone) Lead(l coalesce.Lead) { w.lead(l) }

// queuedDone is an onDone whose caller waited in a queue first: the L2 call's deadline
// counts from then, as the caller's own call's would.
type queuedDone struct {
	onDone
	queued time.Time
}

func (w queuedDone) Queued() time.Time { return w.queued }

// forCaller makes the Waiter of an L2 call that caller waits for: it lends the caller's
// thread or keeps its queueing time, like the caller's own check would.
func forCaller(caller front.Waiter, done onDone) front.Waiter {
	switch c := caller.(type) {
	case front.QueuedWaiter:
		return queuedDone{done, c.Queued()}
	case front.ThreadWaiter:
		return lendingDone{done, c.Lead}
	}
	return done
}

// outcome is what a synchronous caller waits for.
type outcome struct {
	d   front.Decision
	err error
}

// chanWaiter turns a started check back into a call that returns.
type chanWaiter chan outcome

func (c chanWaiter) Done(d front.Decision, err error) { c <- outcome{d, err} }

func (c chanWaiter) wait(ctx context.Context) (front.Decision, error) {
	select {
	case o := <-c:
		return o.d, o.err
	case <-ctx.Done():
		kind := front.ErrUnavailable
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			kind = front.ErrTimeout
		}
		return front.Decision{}, &front.Error{Kind: kind, Msg: "two-tier check: " + ctx.Err().Error(), Cause: ctx.Err()}
	}
}
