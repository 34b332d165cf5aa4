package twotier

import "math"

// TakeLocal hands up to want of a leased key's credits to a caller that spends them itself
// (the C shim, so that an event loop's local hits need not enter Go): they count as spent
// here, with the low-water rule applied as for any spend. validUntil is when they expire: the
// window's end for a window-coupled policy, never otherwise. granted is 0 when the policy is
// not leased or the key holds no credits.
func (d *Door) TakeLocal(policyName, key string, want, nowMs int64) (granted, validUntil int64) {
	t, ok := d.tier(policyName).(*leased)
	if !ok || want <= 0 {
		return 0, 0
	}
	return t.take(key, want, nowMs)
}

func (t *leased) take(key string, want, nowMs int64) (granted, validUntil int64) {
	s := t.keys.Shard(key)
	s.Lock()
	c := s.Get(key)
	now := nowMs
	if c == nil || !c.hasLast || c.credits <= 0 || (t.cfg.WindowCoupled && t.read(&now) >= c.last.ResetAt) {
		s.Unlock()
		return 0, 0
	}
	n := min(want, max(t.cfg.Batch/16, 1), c.credits) // a sixteenth of a lease at most: little to lapse
	_, _, refill := t.spend(c, n, now)
	validUntil = int64(math.MaxInt64)
	if t.cfg.WindowCoupled {
		validUntil = c.last.ResetAt
	}
	s.Unlock()
	if refill {
		t.refill(key, c, nowMs)
	}
	return n, validUntil
}
