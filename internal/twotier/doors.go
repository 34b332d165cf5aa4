package twotier

import (
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
)

// OverRedis puts L1 in front of a Redis door: one handle (or server process) is one process
// of two-tier.md §3; federated policies lease from the coordinator in that Redis.
func OverRedis(b *redisdoor.Backend, opts redisdoor.Options) *Door {
	return Wrap(b, Options{MaxKeys: opts.LocalMaxKeys, Federation: b.Federation()})
}

// OverEngine puts L1 in front of the embedded engine, on the engine's clock; federated
// policies answer unsupported (one process has no coordinator to lease from).
func OverEngine(b *engine.Backend, opts engine.Options) *Door {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	return Wrap(b, Options{MaxKeys: opts.LocalMaxKeys, Clock: func() int64 { return clock().UnixMilli() }})
}
