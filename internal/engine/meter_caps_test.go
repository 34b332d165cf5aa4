package engine_test

import (
	"strconv"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/policy"
)

// A meter's maxKeys bounds its keys in the engine: past it, the policy's oldest key goes
// (its budget starts afresh), and other policies' keys are never touched.
func TestEngineHonoursMeterMaxKeys(t *testing.T) {
	b := openEngine(t, `limiters:
  llm:
    tokenBudget: { budget: 100, windowMs: 1h, maxKeys: 3 }
  fleet:
    fleetBudget: { budget: 100, windowMs: 3600000, maxKeys: 2, prefix: f }
  api: { strategy: fixedWindow, limit: 10, windowMs: 1h }
`, engine.Options{Namespace: "ns"})
	for i := range 5 {
		k := "u" + strconv.Itoa(i)
		for _, p := range []string{"llm", "fleet"} {
			if _, err := b.Debit(ctx, p, k, 10); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Check(ctx, "api", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	present := func(key string) bool { return b.DumpForTest(key).Type != "none" }
	for i := range 5 {
		k := "u" + strconv.Itoa(i)
		if got, want := present("ns:llm:"+k), i >= 2; got != want {
			t.Errorf("llm key %s present %v, want %v (maxKeys 3 keeps the newest three)", k, got, want)
		}
		if got, want := present("ns:f:"+k), i >= 3; got != want {
			t.Errorf("fleet key %s present %v, want %v (maxKeys 2)", k, got, want)
		}
		if !present("ns:api:" + k) {
			t.Errorf("api key %s was evicted: only meters have a key cap", k)
		}
	}
	// An evicted meter starts afresh; a kept one still has its debit.
	if d, err := b.Peek(ctx, "llm", "u0"); err != nil || d.Remaining != 100 {
		t.Errorf("evicted llm u0: %v, %v; want the whole budget", d, err)
	}
	if d, err := b.Peek(ctx, "llm", "u4"); err != nil || d.Remaining != 90 {
		t.Errorf("kept llm u4: %v, %v; want 90 left", d, err)
	}
	// A reload lowering the cap applies at the next write.
	set, err := policy.Parse([]byte("limiters:\n  llm:\n    tokenBudget: { budget: 100, windowMs: 1h, maxKeys: 1 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetPolicies(set); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Debit(ctx, "llm", "u9", 1); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"u2", "u3", "u4"} {
		if present("ns:llm:" + k) {
			t.Errorf("llm %s survived a reload to maxKeys 1", k)
		}
	}
	if !present("ns:llm:u9") {
		t.Error("the newest llm key was evicted")
	}
}
