package front

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Admission is the outcome of an Admit (admission.md §3-§4): a Decision, and a lease on a
// concurrency slot when allowed.
type Admission struct {
	Decision       Decision
	LeaseID        string // 32 lowercase hex characters; "" exactly when refused
	LeaseExpiresAt int64  // epoch ms; 0 when refused
	BindingAxis    string // AxisConcurrency or AxisRate when refused, "" when allowed
	PolicyDenied   bool   // a joint-LP denial upstream; YAML cannot configure one, so always false
}

// Heartbeat is the outcome of renewing leases: the ids renewed and the ids gone (reclaimed,
// released or never issued; their work counts as dropped), in request order.
type Heartbeat struct {
	Live         []string
	Reclaimed    []string
	NextDeadline int64 // epoch ms by which the next beat must arrive
}

// The binding axes a refused Admission names.
const (
	AxisConcurrency = "concurrency"
	AxisRate        = "rate"
)

// DefaultLeaseTTL is how long a lease lives unless renewed (admission.md §4.2).
const DefaultLeaseTTL = 2 * time.Second

// MaxLeaseIDBytes bounds a lease id a caller passes: a longer one cannot have been issued,
// so it is unknown without asking the store.
const MaxLeaseIDBytes = 64

// NewLeaseID draws 16 random bytes as 32 lowercase hex characters: the id is the only
// capability Release and Heartbeat check, so it must be unguessable.
func NewLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// CombineDecisions is the field-wise combination of two axes' Decisions (admission.md §3):
// allowed AND, limit and remaining min, resetAt and retryAfterMs max.
func CombineDecisions(a, b Decision) Decision {
	return Decision{
		Allowed:      a.Allowed && b.Allowed,
		Limit:        min(a.Limit, b.Limit),
		Remaining:    min(a.Remaining, b.Remaining),
		ResetAt:      max(a.ResetAt, b.ResetAt),
		RetryAfterMs: max(a.RetryAfterMs, b.RetryAfterMs),
	}
}

// Admitter is the admission half of a Door: Admit, Release and Heartbeat of concurrency
// policies. nowMs follows Door's clock rule.
type Admitter interface {
	// Admit takes a slot of policy's guard for key (cost is inert: the rate axis of a
	// unified policy always checks 1).
	Admit(ctx context.Context, policy, key string, cost, nowMs int64) (Admission, error)
	// Release returns a lease; an unknown or empty id is success.
	Release(ctx context.Context, policy, key, leaseID string, dropped bool, nowMs int64) error
	// Heartbeat renews the leases that are live and reports the others as reclaimed.
	Heartbeat(ctx context.Context, policy, key string, leaseIDs []string, nowMs int64) (Heartbeat, error)
}
