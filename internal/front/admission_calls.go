package front

import "context"

// The admission methods of client's backends over a Door, on the store's clock (the plain
// methods, nowMs 0) or an explicit one (the *At twins), as Calls does for the checks.

func (c Calls) Admit(ctx context.Context, policy, key string, cost int64) (Admission, error) {
	return c.door.Admit(ctx, policy, key, cost, 0)
}

func (c Calls) Release(ctx context.Context, policy, key, leaseID string, dropped bool) error {
	return c.door.Release(ctx, policy, key, leaseID, dropped, 0)
}

func (c Calls) Heartbeat(ctx context.Context, policy, key string, leaseIDs []string) (Heartbeat, error) {
	return c.door.Heartbeat(ctx, policy, key, leaseIDs, 0)
}

func (c Calls) AdmitAt(ctx context.Context, policy, key string, cost, nowMs int64) (Admission, error) {
	if nowMs == 0 {
		return Admission{}, errNoInstant
	}
	return c.door.Admit(ctx, policy, key, cost, nowMs)
}

func (c Calls) ReleaseAt(ctx context.Context, policy, key, leaseID string, dropped bool, nowMs int64) error {
	if nowMs == 0 {
		return errNoInstant
	}
	return c.door.Release(ctx, policy, key, leaseID, dropped, nowMs)
}

func (c Calls) HeartbeatAt(ctx context.Context, policy, key string, leaseIDs []string, nowMs int64) (Heartbeat, error) {
	if nowMs == 0 {
		return Heartbeat{}, errNoInstant
	}
	return c.door.Heartbeat(ctx, policy, key, leaseIDs, nowMs)
}
