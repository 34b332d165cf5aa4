// Package twotier puts per-process state (L1) in front of a door for the policies with a
// twoTier block (two-tier.md §2, §8): cached-deny remembers denials until their retry time,
// leased spends credits that the policy's own check script granted in batches. It also
// routes federated policies to a Federation. Decisions stay in Lua: L1 only subtracts from
// and compares with what a script granted.
package twotier

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// A Federation serves the checks of federated policies (two-tier.md §6.2): a budget per
// window leased from a coordinator. nowMs 0 is the process's clock, > 0 an explicit instant.
type Federation interface {
	Check(ctx context.Context, p *policy.Policy, key string, cost, nowMs int64) (front.Decision, error)
}
