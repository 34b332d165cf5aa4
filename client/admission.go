package client

import (
	"context"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Admission is the outcome of an Admit: Decision (the combination of the axes consulted);
// LeaseID, 32 lowercase hex characters naming the slot held, "" exactly when refused;
// LeaseExpiresAt, epoch ms after which the slot is reclaimed unless renewed (0 when
// refused); BindingAxis, "concurrency" or "rate" when refused, "" when allowed; PolicyDenied,
// a joint-LP denial upstream, always false for policies from YAML.
type Admission = front.Admission

// HeartbeatResult is the outcome of a Heartbeat: Live, the lease ids renewed; Reclaimed, the
// ones gone (their work counts as dropped), each in request order; NextDeadline, epoch ms by
// which the next beat must arrive.
type HeartbeatResult = front.Heartbeat

// The binding axes a refused Admission names.
const (
	AxisConcurrency = front.AxisConcurrency
	AxisRate        = front.AxisRate
)

// DefaultLeaseTTL is how long a lease lives unless renewed.
const DefaultLeaseTTL = front.DefaultLeaseTTL

// Admitter is concurrency admission (admission.md), offered by every backend: Admit takes a
// slot of a concurrency policy (a unified one also checks its rate axis at cost 1), Release
// returns it (idempotent: an unknown id is success; dropped says the work failed, which
// shrinks an adaptive limit), Heartbeat renews leases. Release and Heartbeat name the policy
// and key the lease was admitted with, so that any process can release on the Redis door;
// the service door sends only the ids, as the wire does. A lease not renewed within its TTL
// is reclaimed as dropped. On RedisBackend the ceiling holds fleet-wide; on EngineBackend
// it holds in this process. The *At twins evaluate at nowMs (epoch ms, > 0).
type Admitter interface {
	Admit(ctx context.Context, policy, key string, cost int64) (Admission, error)
	Release(ctx context.Context, policy, key, leaseID string, dropped bool) error
	Heartbeat(ctx context.Context, policy, key string, leaseIDs []string) (HeartbeatResult, error)

	AdmitAt(ctx context.Context, policy, key string, cost, nowMs int64) (Admission, error)
	ReleaseAt(ctx context.Context, policy, key, leaseID string, dropped bool, nowMs int64) error
	HeartbeatAt(ctx context.Context, policy, key string, leaseIDs []string, nowMs int64) (HeartbeatResult, error)
}

var (
	_ Admitter = (*RedisBackend)(nil)
	_ Admitter = (*EngineBackend)(nil)
	_ Admitter = (*ServiceBackend)(nil)
)

// SetLeaseTTL changes how long the leases this backend issues live unless renewed (default
// DefaultLeaseTTL; 0 or less restores it).
func (b *RedisBackend) SetLeaseTTL(ttl time.Duration) { b.redis.SetLeaseTTL(ttl) }

// SetLeaseTTL changes how long the leases this backend issues live unless renewed (default
// DefaultLeaseTTL; 0 or less restores it).
func (b *EngineBackend) SetLeaseTTL(ttl time.Duration) { b.engine.SetLeaseTTL(ttl) }
