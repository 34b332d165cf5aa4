package twotier

import (
	"math"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// TakeLocal hands a sixteenth of a batch at most, counted as spent here; a coupled chunk ends
// with its window; nothing for keys without credits, strict or cached-deny policies, or a
// window that has ended.
func TestTakeLocal(t *testing.T) {
	for _, coupled := range []bool{true, false} {
		yaml := "limiters:\n" +
			"  fw: { strategy: fixedWindow, limit: 1000, windowMs: 1000, twoTier: { batch: 160, windowCoupled: " +
			map[bool]string{true: "true", false: "false"}[coupled] + " } }\n" +
			"  deny: { strategy: fixedWindow, limit: 10, windowMs: 1000, twoTier: { mode: cached-deny } }\n"
		d, l2 := overEngine(t, yaml, Options{})
		base := int64(t0)
		if g, _ := d.TakeLocal("fw", "k", 64, base+100); g != 0 {
			t.Errorf("no lease yet: granted %d; want 0", g)
		}
		check(t, d, "fw", "k", 1, base+100) // the lease: 159 left
		g, until := d.TakeLocal("fw", "k", 64, base+100)
		wantUntil := int64(math.MaxInt64)
		if coupled {
			wantUntil = base + 1000
		}
		if g != 10 || until != wantUntil {
			t.Errorf("coupled=%v: granted %d until %d; want 10 until %d", coupled, g, until, wantUntil)
		}
		same(t, "the core's next local hit", check(t, d, "fw", "k", 1, base+200),
			front.Decision{Allowed: true, Limit: 1000, Remaining: 148, ResetAt: base + 1000, Local: true, WindowMs: 1000})
		if g, _ := d.TakeLocal("fw", "k", 3, base+200); g != 3 {
			t.Errorf("want 3: granted %d", g)
		}
		if g, _ := d.TakeLocal("fw", "k", 64, base+1000); coupled && g != 0 {
			t.Errorf("coupled, window ended: granted %d; want 0", g)
		}
		if g, _ := d.TakeLocal("deny", "k", 64, base+200); g != 0 {
			t.Errorf("cached-deny: granted %d; want 0", g)
		}
		if g, _ := d.TakeLocal("fw", "other", 64, base+200); g != 0 {
			t.Errorf("a key without credits: granted %d; want 0", g)
		}
		if n := l2.checks.Load(); n != 1 {
			t.Errorf("L2 checks = %d; want 1 (chunks come from L1)", n)
		}
	}
}
