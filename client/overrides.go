package client

import "context"

// SetOverride stores the override record of key under policy, a policy with an `overrides:`
// block (docs/policies.md): spec is "unlimited", "deny", or name=value pairs of the
// strategy's fields such as "limit=4" or "windowMs=1h,limit=10", validated as the file's
// overrides are; ttlMs 0 keeps the record until ClearOverride. The record beats the file's
// override for the key, and every process sharing the Redis honours it from its next check.
// ErrUnsupported on a policy without the block.
func (b *RedisBackend) SetOverride(ctx context.Context, policy, key, spec string, ttlMs int64) error {
	return b.redis.SetOverride(ctx, policy, key, spec, ttlMs)
}

// ClearOverride removes the override record of key under policy (nothing when there is
// none): its checks follow the policy file again.
func (b *RedisBackend) ClearOverride(ctx context.Context, policy, key string) error {
	return b.redis.ClearOverride(ctx, policy, key)
}

// SetOverride is RedisBackend.SetOverride on the engine's own store (this process only).
func (b *EngineBackend) SetOverride(ctx context.Context, policy, key, spec string, ttlMs int64) error {
	return b.engine.SetOverride(ctx, policy, key, spec, ttlMs)
}

// ClearOverride is RedisBackend.ClearOverride on the engine's own store.
func (b *EngineBackend) ClearOverride(ctx context.Context, policy, key string) error {
	return b.engine.ClearOverride(ctx, policy, key)
}
