package front

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/throttlekit/throttlekit-go/internal/keyslot"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// OverrideKey is the key of the override record of the state key stateKey
// (docs/redis-keys.md), always in stateKey's Cluster slot and never a key another policy's
// state could take (it starts with "{"):
//   - stateKey has a hash tag T: "{T}:override:" + stateKey;
//   - it has none and holds no "}": "{" + stateKey + "}:override";
//   - it has none but holds a "}" (so it cannot sit inside a tag), or is empty:
//     "{S}:override:" + stateKey, S the shortest decimal number hashing to its slot.
//
// The forms cannot meet: the second is the only one that ends with "}:override" right after
// its tag.
func OverrideKey(stateKey string) string {
	if tag, ok := hashTag(stateKey); ok {
		return "{" + tag + "}:override:" + stateKey
	}
	if stateKey != "" && !strings.Contains(stateKey, "}") {
		return "{" + stateKey + "}:override"
	}
	return "{" + slotTag(keyslot.Of(stateKey)) + "}:override:" + stateKey
}

// hashTag is the part of key between its first "{" and the next "}" when not empty.
func hashTag(key string) (string, bool) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return "", false
	}
	n := strings.IndexByte(key[open+1:], '}')
	if n <= 0 {
		return "", false
	}
	return key[open+1 : open+1+n], true
}

var (
	slotTagsOnce sync.Once
	slotTags     [keyslot.Slots]string
)

// slotTag is the shortest decimal number (the smallest among equals) whose slot is slot.
func slotTag(slot int) string {
	slotTagsOnce.Do(func() {
		left := keyslot.Slots
		for i := 0; left > 0; i++ {
			s := strconv.Itoa(i)
			if k := keyslot.Of(s); slotTags[k] == "" {
				slotTags[k] = s
				left--
			}
		}
	})
	return slotTags[slot]
}

// OverrideScript stores and clears override records.
var OverrideScript = mustLookup("all", luascripts.RoleSetOverride)

// Overrides reports whether the call is a check that honours overrides (an override script).
func (c *ScriptCall) Overrides() bool { return c.Script.Role == luascripts.RoleOverride }

// forKey is the call for one key: an override check carries the policy file's spec of the
// key (a copy of c when there is one), any other call is c.
func (c *ScriptCall) forKey(key string) *ScriptCall {
	if !c.Overrides() {
		return c
	}
	spec := c.Policy.Overrides.For(key)
	if spec == "" {
		return c
	}
	k := *c
	k.Spec, k.origin = spec, c
	return &k
}

// An Overrider stores and clears the override records of its store (the Redis door and the
// embedded engine; the service door has none).
type Overrider interface {
	SetOverride(ctx context.Context, policy, key, spec string, ttlMs int64) error
	ClearOverride(ctx context.Context, policy, key string) error
}

var _ Overrider = (*Scripted)(nil)

// SetOverride stores the override record of a key of a policy with an `overrides:` block:
// spec as the block takes it ("unlimited", "deny", or name=value pairs such as "limit=4"),
// validated as the file's overrides are; ttlMs 0 keeps it until cleared. Every check of the
// key, on every process, honours it from the next call on, before the file's override.
func (b *Scripted) SetOverride(ctx context.Context, policyName, key, spec string, ttlMs int64) error {
	pp, err := b.overridable(policyName, key)
	if err != nil {
		return err
	}
	if ttlMs < 0 || ttlMs > maxTTL {
		return NewError(ErrInvalidArgument, "ttl_ms must be 0 (no expiry) or a number of milliseconds up to %d, got %d", int64(maxTTL), ttlMs)
	}
	canonical, err := pp.p.OverrideSpec(spec)
	if err != nil {
		return NewError(ErrInvalidArgument, "%s", err.Error())
	}
	return b.writeOverride(ctx, pp, key, canonical, ttlMs)
}

// ClearOverride removes the override record of a key (nothing when there is none): its
// checks follow the policy file again.
func (b *Scripted) ClearOverride(ctx context.Context, policyName, key string) error {
	pp, err := b.overridable(policyName, key)
	if err != nil {
		return err
	}
	return b.writeOverride(ctx, pp, key, "", 0)
}

// maxTTL bounds a record's expiry (any larger ttl would overflow a store's clock).
const maxTTL = 1 << 53

func (b *Scripted) overridable(policyName, key string) (*preparedPolicy, error) {
	if b.closed.Load() {
		return nil, NewError(ErrUnavailable, "the backend is closed")
	}
	pp, err := b.set.Load().lookup(policyName)
	if err != nil {
		return nil, err
	}
	if !pp.p.HasOverrides() || pp.check == nil || !pp.check.Overrides() {
		return nil, NewError(ErrUnsupported, "policy %q has no overrides block, so it reads no override records (add `overrides: {}` to it)", pp.p.Name)
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return pp, nil
}

func (b *Scripted) writeOverride(ctx context.Context, pp *preparedPolicy, key, spec string, ttlMs int64) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	_, err := b.runner.RunArgs(ctx, OverrideScript, []string{OverrideKey(pp.p.RedisKey(b.namespace, key))},
		[]any{0, spec, ttlMs})
	return err
}
