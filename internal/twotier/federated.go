package twotier

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// federated hands a federated policy's checks to the door's Federation.
type federated struct {
	fed Federation
	p   *policy.Policy
}

func (f federated) decide(ctx context.Context, key string, q, nowMs, _ int64) (front.Decision, error) {
	if f.fed == nil {
		return front.Decision{}, front.NewError(front.ErrUnsupported,
			"policy %q is federated: it needs a shared store (Redis) to lease from", f.p.Name)
	}
	d, err := f.fed.Check(ctx, f.p, key, q, nowMs)
	if err == nil && d.WindowMs == 0 && !d.Synthesized {
		d.WindowMs = f.p.FederationWindowMs()
	}
	return d, err
}

// start checks on the caller's goroutine when its thread waits anyway, else on one of its
// own, so that a plain Waiter's caller is never blocked.
func (f federated) start(ctx context.Context, key string, q, nowMs, now int64, w front.Waiter) {
	if _, waits := w.(front.ThreadWaiter); waits {
		w.Done(f.decide(ctx, key, q, nowMs, now))
		return
	}
	go func() { w.Done(f.decide(context.WithoutCancel(ctx), key, q, nowMs, now)) }()
}

func (federated) forget(string) {}
func (federated) close()        {}
