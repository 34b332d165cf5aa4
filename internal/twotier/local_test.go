package twotier

import (
	"math"
	"sync"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// holding is a LocalStore in Go (the C slots' rules): one chunk per key, kept until taken back.
type holding struct {
	mu      sync.Mutex
	units   map[string]int64
	until   map[string]int64
	tmpl    map[string]front.Decision
	forgets int
}

func newHolding() *holding {
	return &holding{units: map[string]int64{}, until: map[string]int64{}, tmpl: map[string]front.Decision{}}
}

func (h *holding) Keep(policy, key string, tmpl front.Decision, granted, untilMs int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.units[policy+"/"+key] += granted
	h.until[policy+"/"+key], h.tmpl[policy+"/"+key] = untilMs, tmpl
	return true
}

func (h *holding) TakeBack(policy, key string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.units[policy+"/"+key]
	delete(h.units, policy+"/"+key)
	return n
}

func (h *holding) Forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.units = map[string]int64{}
	h.forgets++
}

func (h *holding) held(key string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.units[key]
}

// TakeLocal hands a sixteenth of a batch at most, counted as spent here, with the template a
// local hit would report; a coupled chunk ends with its window; nothing without a store, for
// keys without credits, strict or cached-deny policies, or a window that has ended.
func TestTakeLocal(t *testing.T) {
	for _, coupled := range []bool{true, false} {
		yaml := "limiters:\n" +
			"  fw: { strategy: fixedWindow, limit: 1000, windowMs: 1000, twoTier: { batch: 160, windowCoupled: " +
			map[bool]string{true: "true", false: "false"}[coupled] + " } }\n" +
			"  deny: { strategy: fixedWindow, limit: 10, windowMs: 1000, twoTier: { mode: cached-deny } }\n"
		d, l2 := overEngine(t, yaml, Options{})
		base := int64(t0)
		check(t, d, "fw", "k", 1, base+100) // the lease: 159 left
		if g := d.TakeLocal("fw", "k", 64, base+100); g != 0 {
			t.Errorf("no store: granted %d; want 0", g)
		}
		st := newHolding()
		d.SetLocalStore(st)
		if g := d.TakeLocal("fw", "k", 64, base+100); g != 10 || st.held("fw/k") != 10 {
			t.Errorf("coupled=%v: granted %d, held %d; want 10", coupled, g, st.held("fw/k"))
		}
		wantUntil := int64(math.MaxInt64)
		if coupled {
			wantUntil = base + 1000
		}
		if st.until["fw/k"] != wantUntil {
			t.Errorf("coupled=%v: until %d; want %d", coupled, st.until["fw/k"], wantUntil)
		}
		same(t, "the template", st.tmpl["fw/k"],
			front.Decision{Allowed: true, Limit: 1000, Remaining: 149, ResetAt: base + 1000, Local: true, WindowMs: 1000})
		same(t, "L1's next local hit", check(t, d, "fw", "k", 1, base+200),
			front.Decision{Allowed: true, Limit: 1000, Remaining: 148, ResetAt: base + 1000, Local: true, WindowMs: 1000})
		if g := d.TakeLocal("fw", "k", 3, base+200); g != 3 {
			t.Errorf("want 3: granted %d", g)
		}
		if g := d.TakeLocal("fw", "k", 64, base+1000); coupled && g != 0 {
			t.Errorf("coupled, window ended: granted %d; want 0", g)
		}
		if g := d.TakeLocal("deny", "k", 64, base+200); g != 0 {
			t.Errorf("cached-deny: granted %d; want 0", g)
		}
		if g := d.TakeLocal("fw", "other", 64, base+200); g != 0 {
			t.Errorf("a key without credits: granted %d; want 0", g)
		}
		if n := l2.checks.Load(); n != 1 {
			t.Errorf("L2 checks = %d; want 1 (chunks come from L1)", n)
		}
	}
}

// L1 takes the store's units back before it leases: drained, it answers from them locally,
// and leases only once they are spent too.
func TestTakeBackBeforeLease(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 1h, twoTier: { batch: 160 } }\n", Options{})
	st := newHolding()
	d.SetLocalStore(st)
	base := int64(t0)
	check(t, d, "fw", "k", 1, base)       // the lease: 159 left
	g := d.TakeLocal("fw", "k", 64, base) // 10 held outside, 149 in L1
	for i := 0; i < 149; i++ {
		check(t, d, "fw", "k", 1, base)
	}
	got := check(t, d, "fw", "k", 1, base)
	if !got.Local || got.Remaining != g-1 || st.held("fw/k") != 0 || l2.checks.Load() != 1 {
		t.Errorf("drained L1: %+v, held %d, L2 checks %d; want local, remaining %d, nothing held, 1 check",
			got, st.held("fw/k"), l2.checks.Load(), g-1)
	}
	for i := int64(1); i < g; i++ {
		check(t, d, "fw", "k", 1, base)
	}
	if check(t, d, "fw", "k", 1, base); l2.checks.Load() != 2 {
		t.Errorf("L2 checks = %d; want 2 (the next lease once all %d units were spent)", l2.checks.Load(), 160)
	}
}

// The low-water refill takes the chunk back first, and a chunk never takes L1 to the mark;
// reset drops the key's chunk, retiring L1 (a policy swap, Close) every chunk.
func TestTakeBackLowWaterResetSwap(t *testing.T) {
	d, _ := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 1h, twoTier: { batch: 160, lowWater: 140 } }\n", Options{})
	st := newHolding()
	d.SetLocalStore(st)
	base := int64(t0)
	check(t, d, "fw", "k", 1, base) // 159
	if g := d.TakeLocal("fw", "k", 64, base); g != 10 {
		t.Errorf("granted %d; want 10 (149 left, above the mark)", g)
	}
	for i := 0; i < 8; i++ { // 141 left: one above the mark
		check(t, d, "fw", "k", 1, base)
	}
	if g := d.TakeLocal("fw", "k", 64, base); g != 0 {
		t.Errorf("at the mark: granted %d; want 0", g)
	}
	if got := check(t, d, "fw", "k", 1, base); got.Remaining != 150 || st.held("fw/k") != 0 {
		t.Errorf("the spend that reaches the mark: %+v, held %d; want the chunk back (150 left), nothing held", got, st.held("fw/k"))
	}
	d.TakeLocal("fw", "k", 64, base)
	if _, err := d.Decide(t.Context(), front.OpReset, "fw", "k", 0, base); err != nil {
		t.Fatal(err)
	}
	if st.held("fw/k") != 0 {
		t.Errorf("after reset: held %d; want 0", st.held("fw/k"))
	}
	d.build(d.Policies())
	if st.forgets != 1 {
		t.Errorf("L1 rebuilt: %d forgets; want 1", st.forgets)
	}
}

// A window-coupled chunk taken back after its window ended by the call's instant lapses: the
// check leases for the new window instead of spending the old one's units.
func TestTakeBackAfterWindowEnd(t *testing.T) {
	d, l2 := overEngine(t, "limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 1000, twoTier: { batch: 160, windowCoupled: true } }\n", Options{})
	st := newHolding()
	d.SetLocalStore(st)
	base := int64(t0)
	check(t, d, "fw", "k", 1, base+100) // the lease of the window ending at base+1000
	if g := d.TakeLocal("fw", "k", 64, base+100); g != 10 {
		t.Fatalf("granted %d; want 10", g)
	}
	got := check(t, d, "fw", "k", 1, base+1000)
	if got.Local || got.ResetAt != base+2000 || got.Remaining != 159 || l2.checks.Load() != 2 || st.held("fw/k") != 0 {
		t.Errorf("first check of the next window: %+v, L2 checks %d, held %d; want a new lease (159 left, reset %d), nothing held",
			got, l2.checks.Load(), st.held("fw/k"), base+2000)
	}
}
