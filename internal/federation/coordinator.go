package federation

import (
	"context"
	"fmt"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// A Runner runs one script by EVALSHA (EVAL when Redis lost it). The Redis door's runner is
// one; RedisRunner makes one from a bare client.
type Runner interface {
	RunArgs(ctx context.Context, s *luascripts.Script, keys []string, argv []any) (any, error)
}

// Coordinator runs the coordinator scripts of §6.1 for federated policies. Its keys are
// `<prefix>:<leaseKey>`, never under a door's namespace, so its state is upstream's.
type Coordinator struct {
	run       Runner
	lease     *luascripts.Script
	reconcile *luascripts.Script
}

// NewCoordinator runs the scripts through run.
func NewCoordinator(run Runner) *Coordinator {
	lease, _ := luascripts.Lookup(luascripts.Federated, luascripts.RoleLease)
	reconcile, _ := luascripts.Lookup(luascripts.Federated, luascripts.RoleReconcile)
	return &Coordinator{run: run, lease: lease, reconcile: reconcile}
}

// Key is the coordinator HASH of a lease key under a policy.
func Key(p *policy.Policy, leaseKey string) string { return p.Federated.Prefix + ":" + leaseKey }

// Lease asks for tokens units of the window holding nowMs (0: Redis's clock) and returns how
// many were granted and the window's end. Asking for nothing is answered 0 without a call.
func (c *Coordinator) Lease(ctx context.Context, p *policy.Policy, leaseKey string, tokens, nowMs int64) (granted, expiresAt int64, err error) {
	if tokens <= 0 {
		return 0, 0, nil
	}
	reply, err := c.run.RunArgs(ctx, c.lease, []string{Key(p, leaseKey)},
		[]any{nowMs, tokens, p.FederationWindowMs(), p.ReportedLimit()})
	if err != nil {
		return 0, 0, err
	}
	pair, ok := reply.([]any)
	if !ok || len(pair) != 2 {
		return 0, 0, badReply("LEASE", reply)
	}
	granted, ok1 := pair[0].(int64)
	expiresAt, ok2 := pair[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, badReply("LEASE", reply)
	}
	return granted, expiresAt, nil
}

// Reconcile returns leftover units of the window that started at windowStart into the window
// holding nowMs; false when that window was reconciled already.
func (c *Coordinator) Reconcile(ctx context.Context, p *policy.Policy, leaseKey string, leftover, windowStart, nowMs int64) (bool, error) {
	reply, err := c.run.RunArgs(ctx, c.reconcile, []string{Key(p, leaseKey)},
		[]any{nowMs, leftover, windowStart, p.FederationWindowMs(), p.ReportedLimit()})
	if err != nil {
		return false, err
	}
	n, ok := reply.(int64)
	if !ok {
		return false, badReply("RECONCILE", reply)
	}
	return n == 1, nil
}

func badReply(script string, reply any) error {
	return front.NewError(front.ErrInternal, "federation: %s answered %s", script, fmt.Sprint(reply))
}
