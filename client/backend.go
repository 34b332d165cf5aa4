package client

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// calls gives every backend Limiter's ten methods over its door.
type calls = front.Calls

// backend is what every public backend shares: Limiter's methods and the door's life cycle.
type backend struct {
	calls
	door front.Door
}

func newBackend(door front.Door) backend { return backend{calls: front.NewCalls(door), door: door} }

// StartCheck makes the check Check(ctx, policy, key, cost) would make, or CheckAt's when
// nowMs > 0, and reports its outcome to w instead of returning it. With auto-pipelining,
// concurrent started checks share round trips like concurrent Checks do. The call never
// blocks the calling goroutine (StartCheck returns at once, after at most one non-blocking
// write: suitable for an event loop). Input errors reach w.Done before StartCheck returns.
func (b backend) StartCheck(ctx context.Context, policy, key string, cost, nowMs int64, w Waiter) {
	b.door.StartCheck(ctx, policy, key, cost, nowMs, w)
}

// Policies returns the policy set in force (nil for a ServiceBackend: the server holds it).
func (b backend) Policies() *policy.Set { return b.door.Policies() }

// Close releases the backend's connections. Later calls fail with ErrUnavailable; a second
// Close does nothing.
func (b backend) Close() error { return b.door.Close() }
