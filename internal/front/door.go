// Package front holds what every door shares: the Decision and Forecast types, the error
// kinds, the fail mode, the input rules, and Scripted, the front of the doors whose decisions
// are Lua scripts (Redis and the embedded engine). Doors live in their own packages below
// client and implement Door; client and the C boundary call them through it.
package front

import (
	"context"

	"github.com/throttlekit/throttlekit-go/policy"
)

// A Door reaches a limiter: Redis, the embedded engine or the service. Every method takes
// the clock as an argument: nowMs 0 is the store's clock, > 0 an explicit instant (epoch ms),
// anything else an invalid argument; a door without explicit clocks answers ErrUnsupported
// for nowMs != 0.
type Door interface {
	// Decide makes a Check, Peek (amount ignored), Debit, Refund or Reset (amount ignored, a
	// zero Decision).
	Decide(ctx context.Context, op Op, policy, key string, amount, nowMs int64) (Decision, error)
	// DecideMany checks every key at one instant, results in input order; a failure fails
	// the whole call and charges no key (per Cluster slot on a Cluster: docs/redis-keys.md).
	DecideMany(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]Decision, error)
	// DecideAll checks every item at one instant; when all allow, all are consumed, when any
	// denies, none is (the decisions say which denied). Results in input order.
	DecideAll(ctx context.Context, items []CheckItem, nowMs int64) ([]Decision, error)
	// Foresee makes a Forecast: what a check of cost could get, consuming nothing.
	Foresee(ctx context.Context, policy, key string, cost, nowMs int64) (Forecast, error)
	// StartCheck makes the check Decide(OpCheck) would and reports it to w (see Scripted).
	StartCheck(ctx context.Context, policy, key string, cost, nowMs int64, w Waiter)
	// Admitter: Admit, Release and Heartbeat of concurrency policies (admission.md).
	Admitter
	// Policies is the policy set in force, or nil when the door does not hold it (the
	// service door: the server does).
	Policies() *policy.Set
	// Close releases the door's connections; later calls fail with ErrUnavailable.
	Close() error
}

// Op is what a call asks of a policy; it decides which script serves it (CheckMany is OpCheck
// for many keys).
type Op int

// The operations of the contract.
const (
	OpCheck Op = iota
	OpPeek
	OpForecast
	OpDebit
	OpRefund // give back units a check (or debit) consumed; its Decision is a peek's right after
	OpReset  // forget the key's state; its Decision is zero
)

func (op Op) String() string {
	return [...]string{"Check", "Peek", "Forecast", "Debit", "Refund", "Reset"}[op]
}

// AmountName is what the operation's amount is called in messages.
func (op Op) AmountName() string {
	if op == OpDebit {
		return "tokens"
	}
	return "cost"
}
