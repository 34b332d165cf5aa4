package client

import "context"

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
// their call sent at once, on the calling goroutine, when nothing else is in flight.
type ThreadWaiter interface {
	Waiter
	Lead(l Lead)
}

// StartCheck makes the check Check(ctx, policy, key, cost) would make, or CheckAt's when
// nowMs > 0, and reports its outcome to w instead of returning it. With auto-pipelining,
// concurrent started checks share round trips like concurrent Checks do. A plain Waiter's
// call never runs on the calling goroutine (StartCheck returns at once: suitable for an event
// loop); a ThreadWaiter's may. Input errors reach w.Done before StartCheck returns.
func (b *scripted) StartCheck(ctx context.Context, policy, key string, cost, nowMs int64, w Waiter) {
	pp, call, cost, err := b.resolve(opCheck, policy, cost)
	if err == nil {
		err = validateKey(key)
	}
	if err == nil && nowMs != 0 {
		err = validateNow(nowMs)
	}
	if err != nil {
		w.Done(Decision{}, err)
		return
	}
	ctx, cancel := b.bound(ctx)
	complete := func(reply any, err error) {
		cancel()
		if err != nil {
			w.Done(Decision{}, err)
			return
		}
		w.Done(decisionFromReply(call.script, reply))
	}
	b.runner.start(ctx, call, pp.p.RedisKey(b.namespace, key), nowMs, cost, complete, leadOf(w))
}

// leadOf is w's Lead when its caller lends its thread (a ThreadWaiter), else nil.
func leadOf(w Waiter) func(Lead) {
	if tw, ok := w.(ThreadWaiter); ok {
		return tw.Lead
	}
	return nil
}
