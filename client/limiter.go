package client

import "context"

// Limiter is what every backend offers: the five operations of the contract, each also with
// an explicit clock. A zero cost or token count means 1; a negative one is an invalid
// argument. The *At twins evaluate at nowMs (epoch ms, > 0) instead of the store's clock;
// they are for replay and tests, and a backend without them answers ErrUnsupported.
type Limiter interface {
	Check(ctx context.Context, policy, key string, cost int64) (Decision, error)
	CheckMany(ctx context.Context, policy string, keys []string, cost int64) ([]Decision, error)
	Peek(ctx context.Context, policy, key string) (Decision, error)
	Forecast(ctx context.Context, policy, key string, cost int64) (Forecast, error)
	Debit(ctx context.Context, policy, key string, tokens int64) (Decision, error)

	CheckAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error)
	CheckManyAt(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]Decision, error)
	PeekAt(ctx context.Context, policy, key string, nowMs int64) (Decision, error)
	ForecastAt(ctx context.Context, policy, key string, cost, nowMs int64) (Forecast, error)
	DebitAt(ctx context.Context, policy, key string, tokens, nowMs int64) (Decision, error)

	// Refund gives back cost units a check (a debit, on a token budget) consumed, never
	// beyond full, and answers the Decision a Peek gives right after; ErrUnsupported where
	// the policy's strategy has no refund.
	Refund(ctx context.Context, policy, key string, cost int64) (Decision, error)
	RefundAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error)
	// Reset forgets the key's state under policy: its limiter is full again.
	Reset(ctx context.Context, policy, key string) error

	// CheckAll checks every item at one instant: when all allow, all are consumed
	// (allAllowed true); when any denies, none is, and the decisions say which denied.
	CheckAll(ctx context.Context, items []CheckItem) (ds []Decision, allAllowed bool, err error)
	CheckAllAt(ctx context.Context, items []CheckItem, nowMs int64) (ds []Decision, allAllowed bool, err error)

	// Close releases the backend's connections. Calls after Close fail with ErrUnavailable.
	Close() error
}
