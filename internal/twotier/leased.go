package twotier

import (
	"context"
	"sync"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keytable"
	"github.com/throttlekit/throttlekit-go/policy"
)

// leased is a leased policy's L1 (two-tier.md §2.3): per key, credits granted by the
// policy's own check script (L2) in batches, spent here.
type leased struct {
	l2      front.Door
	p       *policy.Policy
	cfg     policy.TwoTier
	limit   int64 // limitS: what a check of the strategy reports
	keys    *keytable.Table[credit]
	clock   func() int64 // the door's clock, for calls without an explicit instant
	local   *localRef    // the door's LocalStore, holding chunks of these credits
	stopIdl func()
}

// credit is one key's L1 state.
type credit struct {
	credits   int64
	last      front.Decision // the last L2 decision that landed
	hasLast   bool
	lastUse   int64 // wall clock ms, for the idle drop
	lease     *flight
	refilling bool
}

// flight is an on-demand lease in flight: concurrent misses on a key share it.
type flight struct{ waiters []pending }

// pending is a check waiting for a lease: nowMs is its clock for L2 (0: the store's), now
// the instant it compares credits with (0 until read).
type pending struct {
	q, nowMs, now int64
	w             front.Waiter
	rounds        int
}

// maxRounds bounds how often one check leases again after other checks drained the lease
// it waited for, so that a starved check ends with an error rather than never.
const maxRounds = 1024

func newLeased(l2 front.Door, p *policy.Policy, maxKeys int, clock func() int64, local *localRef) *leased {
	t := &leased{l2: l2, p: p, cfg: *p.TwoTier, limit: p.ReportedLimit(), keys: keytable.New[credit](maxKeys, nil), clock: clock, local: local}
	if idle := t.cfg.ReturnIdleAfterMs; idle > 0 {
		t.stopIdl = every(time.Duration(idle)*time.Millisecond, func() {
			now := time.Now().UnixMilli()
			t.keys.Sweep(func(c *credit) bool { return now-c.lastUse > idle })
		})
	}
	return t
}

func (t *leased) close() {
	if t.stopIdl != nil {
		t.stopIdl()
	}
}

// start makes a check and reports it to w; a local hit is reported before start returns.
func (t *leased) start(ctx context.Context, key string, q, nowMs, now int64, w front.Waiter) {
	if d, ok := t.hit(key, q, nowMs, now); ok {
		w.Done(d, nil)
		return
	}
	t.miss(ctx, key, pending{q: q, nowMs: nowMs, now: now, w: w})
}

// decide makes a check and returns it.
func (t *leased) decide(ctx context.Context, key string, q, nowMs, now int64) (front.Decision, error) {
	if d, ok := t.hit(key, q, nowMs, now); ok {
		return d, nil
	}
	c := make(chanWaiter, 1)
	t.miss(ctx, key, pending{q: q, nowMs: nowMs, now: now, w: c})
	return c.wait(ctx)
}

// hit spends q local credits if the key holds them (after the window-coupled discard).
func (t *leased) hit(key string, q, nowMs, now int64) (front.Decision, bool) {
	s := t.keys.Shard(key)
	s.Lock()
	c := s.Ensure(key)
	t.touch(c)
	if t.cfg.WindowCoupled && c.hasLast && c.credits > 0 && t.read(&now) >= c.last.ResetAt {
		c.credits = 0 // granted for a window that has ended
	}
	d, ok, refill := t.spend(key, c, q, now)
	s.Unlock()
	if refill {
		t.refill(key, c, nowMs)
	}
	d.Local = true
	return d, ok
}

// spend takes q credits when c holds them; refill says the low-water rule asks for one.
// Before a miss or a refill it takes back the LocalStore's chunk of the key.
func (t *leased) spend(key string, c *credit, q, now int64) (d front.Decision, ok, refill bool) {
	// now: see pending.
	lw := t.cfg.LowWater
	if c.credits < q || (lw > 0 && c.credits-q <= lw && !c.refilling) {
		t.takeBack(key, c, now)
	}
	if c.credits < q {
		return front.Decision{}, false, false
	}
	c.credits -= q
	resetAt := c.last.ResetAt
	if !c.hasLast { // unreachable: a local hit follows a lease
		resetAt = t.read(&now)
	}
	if lw > 0 && c.credits <= lw && !c.refilling {
		c.refilling, refill = true, true
	}
	return front.Decision{Allowed: true, Limit: t.limit, Remaining: c.credits, ResetAt: resetAt, WindowMs: c.last.WindowMs}, true, refill
}

// miss joins the key's lease in flight, or starts one.
func (t *leased) miss(ctx context.Context, key string, p pending) {
	s := t.keys.Shard(key)
	s.Lock()
	c := s.Ensure(key)
	t.touch(c)
	d, ok, refill := t.spend(key, c, p.q, p.now) // a lease may have landed meanwhile
	if ok {
		s.Unlock()
		if refill {
			t.refill(key, c, p.nowMs)
		}
		p.w.Done(d, nil)
		return
	}
	f := c.lease
	if f == nil {
		f = &flight{}
		c.lease = f
	}
	f.waiters = append(f.waiters, p)
	starts := len(f.waiters) == 1
	s.Unlock()
	if starts {
		t.lease(ctx, key, c, f, p)
	}
}

// lease asks L2 for max(batch, q) units: the policy's own check on its own key.
func (t *leased) lease(ctx context.Context, key string, c *credit, f *flight, p pending) {
	a := max(t.cfg.Batch, p.q)
	done := onDone(func(d front.Decision, err error) { t.landed(key, c, f, a, d, err) })
	t.l2.StartCheck(context.WithoutCancel(ctx), t.p.Name, key, a, p.nowMs, forCaller(p.w, done))
}

// landed records a lease and resumes every check that waited for it.
func (t *leased) landed(key string, c *credit, f *flight, a int64, d front.Decision, err error) {
	s := t.keys.Shard(key)
	s.Lock()
	if err == nil && s.Get(key) == c {
		c.last, c.hasLast = d, true
		if !denied(d) {
			c.credits += a
		}
	}
	if c.lease == f {
		c.lease = nil
	}
	waiters := f.waiters
	f.waiters = nil
	s.Unlock()
	for _, p := range waiters {
		t.resume(key, p, d, err)
	}
}

// resume ends a check that waited for a lease, or sends it to wait for the next one when
// other checks drained this one first.
func (t *leased) resume(key string, p pending, d front.Decision, err error) {
	if err != nil {
		p.w.Done(front.Decision{}, err)
		return
	}
	s := t.keys.Shard(key)
	s.Lock()
	c := s.Ensure(key) // recreated empty if dropped while waiting
	mine, ok, refill := t.spend(key, c, p.q, p.now)
	s.Unlock()
	switch {
	case ok:
		if refill {
			t.refill(key, c, p.nowMs)
		}
		p.w.Done(mine, nil)
	case denied(d):
		p.w.Done(d, nil) // L2's answer to the lease, verbatim
	case p.rounds >= maxRounds:
		p.w.Done(front.Decision{}, front.NewError(front.ErrUnavailable,
			"policy %q: key leased %d times and drained each time by other checks", t.p.Name, maxRounds))
	default:
		p.rounds++
		t.miss(context.Background(), key, p)
	}
}

// refill is the low-water rule's background lease of batch units; nobody waits for it and
// its failure is silent (the next miss leases on demand).
func (t *leased) refill(key string, c *credit, nowMs int64) {
	t.l2.StartCheck(context.Background(), t.p.Name, key, t.cfg.Batch, nowMs, onDone(func(d front.Decision, err error) {
		s := t.keys.Shard(key)
		s.Lock()
		defer s.Unlock()
		c.refilling = false
		late := t.cfg.WindowCoupled && t.at(nowMs) >= d.ResetAt // a grant for a window that rolled
		if err != nil || late || s.Get(key) != c {
			return
		}
		c.last, c.hasLast = d, true
		if !denied(d) {
			c.credits += t.cfg.Batch
		}
	}))
}

// touch records a use for the idle drop, which runs on the wall clock.
func (t *leased) touch(c *credit) {
	if t.stopIdl != nil {
		c.lastUse = time.Now().UnixMilli()
	}
}

// read reads the clock into *now unless it was read already.
func (t *leased) read(now *int64) int64 {
	if *now == 0 {
		*now = t.clock()
	}
	return *now
}

// forget drops a key's credits (tk_reset): nothing is given back to L2.
func (t *leased) forget(key string) {
	s := t.keys.Shard(key)
	s.Lock()
	s.Remove(key)
	if st := t.local.get(); st != nil {
		st.TakeBack(t.p.Name, key) // dropped with L1's
	}
	s.Unlock()
}

// denied: L2 refused (a shadow policy's refusal comes back admitted, flagged Shadow, and
// grants nothing either).
func denied(d front.Decision) bool { return !d.Allowed || d.Shadow }

// at is the instant a call uses: its explicit one, else the door's clock.
func (t *leased) at(nowMs int64) int64 {
	if nowMs > 0 {
		return nowMs
	}
	return t.clock()
}

// every runs f every period until the returned stop is called.
func every(period time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				f()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
