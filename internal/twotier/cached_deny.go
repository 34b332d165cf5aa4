package twotier

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keytable"
	"github.com/throttlekit/throttlekit-go/policy"
)

// cachedDeny is a cached-deny policy's L1 (two-tier.md §2.2): a denial is remembered until
// its retry time, so a flood against a blocked key stays here; allows are never cached, so
// allowed traffic stays exact.
type cachedDeny struct {
	l2    front.Door
	name  string
	keys  *keytable.Table[denial]
	clock func() int64
}

// at is the instant a check compares with: now once read, else its explicit one, else the
// door's clock.
func (t *cachedDeny) at(nowMs, now int64) int64 {
	switch {
	case now > 0:
		return now
	case nowMs > 0:
		return nowMs
	}
	return t.clock()
}

type denial struct {
	until int64
	d     front.Decision
}

func newCachedDeny(l2 front.Door, p *policy.Policy, maxKeys int, clock func() int64) *cachedDeny {
	return &cachedDeny{l2: l2, name: p.Name, keys: keytable.New[denial](maxKeys, nil), clock: clock}
}

// cached answers from a denial still in force.
func (t *cachedDeny) cached(key string, now int64) (front.Decision, bool) {
	s := t.keys.Shard(key)
	s.Lock()
	defer s.Unlock()
	c := s.Get(key)
	if c == nil {
		return front.Decision{}, false
	}
	if now >= c.until {
		s.Remove(key)
		return front.Decision{}, false
	}
	d := front.Decision{Allowed: false, Limit: c.d.Limit, ResetAt: c.d.ResetAt, RetryAfterMs: c.until - now,
		Local: true, WindowMs: c.d.WindowMs}
	if c.d.Shadow {
		d = front.Shade(d)
	}
	return d, true
}

// remember keeps L2's denial until its retry time.
func (t *cachedDeny) remember(key string, now int64, d front.Decision) {
	if !denied(d) {
		return
	}
	s := t.keys.Shard(key)
	s.Lock()
	*s.Ensure(key) = denial{until: now + d.RetryAfterMs, d: d}
	s.Unlock()
}

func (t *cachedDeny) start(ctx context.Context, key string, q, nowMs, now int64, w front.Waiter) {
	now = t.at(nowMs, now)
	if d, ok := t.cached(key, now); ok {
		w.Done(d, nil)
		return
	}
	t.l2.StartCheck(ctx, t.name, key, q, nowMs, forCaller(w, func(d front.Decision, err error) {
		if err == nil {
			t.remember(key, now, d)
		}
		w.Done(d, err)
	}))
}

func (t *cachedDeny) decide(ctx context.Context, key string, q, nowMs, now int64) (front.Decision, error) {
	now = t.at(nowMs, now)
	if d, ok := t.cached(key, now); ok {
		return d, nil
	}
	d, err := t.l2.Decide(ctx, front.OpCheck, t.name, key, q, nowMs)
	if err == nil {
		t.remember(key, now, d)
	}
	return d, err
}

// forget drops the key's cached denial (a reset or a refund changed L2).
func (t *cachedDeny) forget(key string) {
	s := t.keys.Shard(key)
	s.Lock()
	s.Remove(key)
	s.Unlock()
}
func (t *cachedDeny) close() {}
