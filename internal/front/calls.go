package front

import "context"

// Calls are the ten methods of client.Limiter over a Door: the one place where the store's
// clock (the plain methods, nowMs 0) and an explicit one (the *At twins) meet the door.
type Calls struct{ door Door }

// NewCalls offers door's operations as client.Limiter's methods.
func NewCalls(door Door) Calls { return Calls{door: door} }

func (c Calls) Check(ctx context.Context, policy, key string, cost int64) (Decision, error) {
	return c.door.Decide(ctx, OpCheck, policy, key, cost, 0)
}

func (c Calls) Peek(ctx context.Context, policy, key string) (Decision, error) {
	return c.door.Decide(ctx, OpPeek, policy, key, 1, 0)
}

func (c Calls) Debit(ctx context.Context, policy, key string, tokens int64) (Decision, error) {
	return c.door.Decide(ctx, OpDebit, policy, key, tokens, 0)
}

func (c Calls) Forecast(ctx context.Context, policy, key string, cost int64) (Forecast, error) {
	return c.door.Foresee(ctx, policy, key, cost, 0)
}

func (c Calls) CheckMany(ctx context.Context, policy string, keys []string, cost int64) ([]Decision, error) {
	return c.door.DecideMany(ctx, policy, keys, cost, 0)
}

func (c Calls) CheckAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error) {
	if nowMs == 0 {
		return Decision{}, errNoInstant
	}
	return c.door.Decide(ctx, OpCheck, policy, key, cost, nowMs)
}

func (c Calls) PeekAt(ctx context.Context, policy, key string, nowMs int64) (Decision, error) {
	if nowMs == 0 {
		return Decision{}, errNoInstant
	}
	return c.door.Decide(ctx, OpPeek, policy, key, 1, nowMs)
}

func (c Calls) DebitAt(ctx context.Context, policy, key string, tokens, nowMs int64) (Decision, error) {
	if nowMs == 0 {
		return Decision{}, errNoInstant
	}
	return c.door.Decide(ctx, OpDebit, policy, key, tokens, nowMs)
}

func (c Calls) ForecastAt(ctx context.Context, policy, key string, cost, nowMs int64) (Forecast, error) {
	if nowMs == 0 {
		return Forecast{}, errNoInstant
	}
	return c.door.Foresee(ctx, policy, key, cost, nowMs)
}

func (c Calls) CheckManyAt(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]Decision, error) {
	if nowMs == 0 {
		return nil, errNoInstant
	}
	return c.door.DecideMany(ctx, policy, keys, cost, nowMs)
}

// Refund gives back cost units a check (or, on a token budget, a debit) consumed, never
// beyond full, and answers the Decision a Peek gives right after.
func (c Calls) Refund(ctx context.Context, policy, key string, cost int64) (Decision, error) {
	return c.door.Decide(ctx, OpRefund, policy, key, cost, 0)
}

func (c Calls) RefundAt(ctx context.Context, policy, key string, cost, nowMs int64) (Decision, error) {
	if nowMs == 0 {
		return Decision{}, errNoInstant
	}
	return c.door.Decide(ctx, OpRefund, policy, key, cost, nowMs)
}

// Reset forgets the key's state under policy: its limiter is full again.
func (c Calls) Reset(ctx context.Context, policy, key string) error {
	_, err := c.door.Decide(ctx, OpReset, policy, key, 0, 0)
	return err
}

// CheckAll checks every item at one instant and consumes all or none; allAllowed says
// whether they were consumed (see Door.DecideAll).
func (c Calls) CheckAll(ctx context.Context, items []CheckItem) (ds []Decision, allAllowed bool, err error) {
	return decidedAll(c.door.DecideAll(ctx, items, 0))
}

func (c Calls) CheckAllAt(ctx context.Context, items []CheckItem, nowMs int64) ([]Decision, bool, error) {
	if nowMs == 0 {
		return nil, false, errNoInstant
	}
	return decidedAll(c.door.DecideAll(ctx, items, nowMs))
}

func decidedAll(ds []Decision, err error) ([]Decision, bool, error) {
	if err != nil {
		return nil, false, err
	}
	return ds, AllAllowed(ds), nil
}

// errNoInstant answers an *At call without an instant: 0 would mean the store's clock.
var errNoInstant = ValidateNow(0)
