package twotier

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keytable"
	"github.com/throttlekit/throttlekit-go/policy"
)

// DefaultMaxKeys bounds L1 per policy (two-tier.md §8) unless Options say otherwise: the
// same bound as a federated policy's Tier 1.
const DefaultMaxKeys = keytable.DefaultMaxKeys

// Options shape the L1 of a door.
type Options struct {
	// Federation serves federated policies; nil: their checks answer unsupported (a store
	// that cannot federate, such as the embedded engine).
	Federation Federation
	// MaxKeys bounds the keys L1 holds per policy (0: DefaultMaxKeys).
	MaxKeys int
	// Clock is the instant (epoch ms) a call without an explicit one compares credits with
	// (default: the wall clock); the embedded engine passes its own.
	Clock func() int64
}

// Door is a door with L1 in front of it: the checks of cached-deny, leased and federated
// policies are answered here, every other call goes to the door below unchanged.
type Door struct {
	front.Door
	opts  Options
	tiers atomic.Pointer[map[string]tier]
	local localRef
}

// tier is one policy's L1. Its calls take nowMs, the clock for L2 (0: the store's), and
// now, the instant to compare with locally, 0 until read (reading the clock is a good part
// of a local hit's cost, and a leased policy without windowCoupled never needs it).
type tier interface {
	start(ctx context.Context, key string, q, nowMs, now int64, w front.Waiter)
	decide(ctx context.Context, key string, q, nowMs, now int64) (front.Decision, error)
	forget(key string)
	close()
}

// Wrap puts L1 in front of l2 for the policies in force.
func Wrap(l2 front.Door, opts Options) *Door {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Clock == nil {
		opts.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	d := &Door{Door: l2, opts: opts}
	d.build(l2.Policies())
	return d
}

// build makes a fresh L1 for set's policies and retires the old one (forfeiting its
// credits, the safe direction).
func (d *Door) build(set *policy.Set) {
	tiers := map[string]tier{}
	if set != nil {
		for _, name := range set.Names() {
			p, _ := set.Lookup(name)
			switch {
			case p.Unsupported != "":
			case p.Federated != nil:
				tiers[name] = federated{d.opts.Federation, p}
			case p.TwoTier.Local() && p.TwoTier.Mode == policy.ModeCachedDeny:
				tiers[name] = newCachedDeny(d.Door, p, d.opts.MaxKeys, d.opts.Clock)
			case p.TwoTier.Local():
				tiers[name] = newLeased(d.Door, p, d.opts.MaxKeys, d.opts.Clock, &d.local)
			}
		}
	}
	if old := d.tiers.Swap(&tiers); old != nil {
		for _, t := range *old {
			t.close()
		}
		if st := d.local.get(); st != nil {
			st.Forget() // the old tiers' chunks, forfeited with their credits
		}
	}
}

// SetPolicies swaps the policy set of the door below and rebuilds L1 for it.
func (d *Door) SetPolicies(set *policy.Set) error {
	swapper, ok := d.Door.(interface{ SetPolicies(*policy.Set) error })
	if !ok {
		return front.NewError(front.ErrUnsupported, "this door cannot swap its policies")
	}
	if err := swapper.SetPolicies(set); err != nil {
		return err
	}
	d.build(set)
	return nil
}

// Close retires L1 and closes the door below.
func (d *Door) Close() error {
	d.build(nil)
	return d.Door.Close()
}

// clock is the instant a call uses: its explicit one, else the door's clock.
func (d *Door) clock(nowMs int64) int64 {
	if nowMs > 0 {
		return nowMs
	}
	return d.opts.Clock()
}

func (d *Door) tier(name string) tier { return (*d.tiers.Load())[name] }

// inputs applies the contract's input rules to a check L1 answers.
func inputs(key string, cost, nowMs int64) (int64, error) {
	if nowMs != 0 {
		if err := front.ValidateNow(nowMs); err != nil {
			return 0, err
		}
	}
	if err := front.ValidateKey(key); err != nil {
		return 0, err
	}
	return front.NormalizeAmount("cost", cost)
}

func (d *Door) Decide(ctx context.Context, op front.Op, name, key string, amount, nowMs int64) (front.Decision, error) {
	t := d.tier(name)
	if t == nil {
		return d.Door.Decide(ctx, op, name, key, amount, nowMs)
	}
	switch op {
	case front.OpCheck:
		q, err := inputs(key, amount, nowMs)
		if err != nil {
			return front.Decision{}, err
		}
		return t.decide(ctx, key, q, nowMs, nowMs)
	case front.OpPeek:
		return front.Decision{}, front.Refuses(name, "peek")
	case front.OpRefund, front.OpReset:
		return d.changeL2(ctx, t, op, name, key, amount, nowMs)
	}
	return d.Door.Decide(ctx, op, name, key, amount, nowMs)
}

// changeL2 refunds or resets L2's state and forgets what L1 held for the key. Leased credits
// are never given back (two-tier.md §2.3), so a leased policy takes no refund.
func (d *Door) changeL2(ctx context.Context, t tier, op front.Op, name, key string, amount, nowMs int64) (front.Decision, error) {
	switch t.(type) {
	case federated:
		return front.Decision{}, front.Refuses(name, strings.ToLower(op.String()))
	case *leased:
		if op == front.OpRefund {
			return front.Decision{}, front.Refuses(name, "refund (leased credits are never given back)")
		}
	}
	dec, err := d.Door.Decide(ctx, op, name, key, amount, nowMs)
	if err == nil {
		t.forget(key)
	}
	return dec, err
}

func (d *Door) DecideMany(ctx context.Context, name string, keys []string, cost, nowMs int64) ([]front.Decision, error) {
	t := d.tier(name)
	if t == nil {
		return d.Door.DecideMany(ctx, name, keys, cost, nowMs)
	}
	var q int64
	var err error
	for _, k := range keys {
		if q, err = inputs(k, cost, nowMs); err != nil {
			return nil, err
		}
	}
	// In input order at one instant: a valid order of upstream's concurrent checks.
	now := d.clock(nowMs)
	out := make([]front.Decision, len(keys))
	for i, k := range keys {
		if out[i], err = t.decide(ctx, k, q, nowMs, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *Door) DecideAll(ctx context.Context, items []front.CheckItem, nowMs int64) ([]front.Decision, error) {
	if err := d.refuseLocal(items); err != nil {
		return nil, err
	}
	return d.Door.DecideAll(ctx, items, nowMs)
}

// ValidateItems is the door below's verdict on items for DecideAll, when it gives one
// before deciding, and L1's own: its policies take no all-or-nothing checks.
func (d *Door) ValidateItems(items []front.CheckItem) error {
	if err := d.refuseLocal(items); err != nil {
		return err
	}
	if v, ok := d.Door.(interface{ ValidateItems([]front.CheckItem) error }); ok {
		return v.ValidateItems(items)
	}
	return nil
}

// refuseLocal refuses all-or-nothing checks on policies whose checks L1 answers: their
// credits cannot be given back when another item denies.
func (d *Door) refuseLocal(items []front.CheckItem) error {
	for i, it := range items {
		if d.tier(it.Policy) != nil {
			return front.ItemError(i, front.Refuses(it.Policy, "all-or-nothing checks (its checks are answered from local credits); check it on its own"))
		}
	}
	return nil
}

func (d *Door) Foresee(ctx context.Context, name, key string, cost, nowMs int64) (front.Forecast, error) {
	if d.tier(name) != nil {
		return front.Forecast{}, front.Refuses(name, "forecast")
	}
	return d.Door.Foresee(ctx, name, key, cost, nowMs)
}

// AnswerLocally answers a check from L1 alone when it can (a leased policy's credits, a
// cached denial), consuming what Check would; ok is false otherwise, and for bad input (Check
// then reports it). policy and key are only read during the call and may be views of memory
// the caller owns (the C boundary's strings), so this path neither copies nor allocates.
func (d *Door) AnswerLocally(policyName, key string, cost, nowMs int64) (front.Decision, bool) {
	t := d.tier(policyName)
	if t == nil {
		return front.Decision{}, false
	}
	q, err := inputs(key, cost, nowMs)
	if err != nil {
		return front.Decision{}, false
	}
	switch t := t.(type) {
	case *leased:
		return t.hit(key, q, nowMs, nowMs)
	case *cachedDeny:
		return t.cached(key, t.at(nowMs, 0))
	}
	return front.Decision{}, false
}

func (d *Door) StartCheck(ctx context.Context, name, key string, cost, nowMs int64, w front.Waiter) {
	t := d.tier(name)
	if t == nil {
		d.Door.StartCheck(ctx, name, key, cost, nowMs, w)
		return
	}
	q, err := inputs(key, cost, nowMs)
	if err != nil {
		w.Done(front.Decision{}, err)
		return
	}
	t.start(ctx, key, q, nowMs, nowMs, w)
}
