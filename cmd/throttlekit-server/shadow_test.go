package main

import (
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

// A shadow policy's admissions reach service-door clients flagged, for Check, for the
// Checks the client batches into CheckMany, and for CheckAll (the throttlekit-shadow header).
func TestShadowThroughTheServiceDoor(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", "limiters:\n  new: { strategy: fixedWindow, limit: 1, windowMs: 1h, shadow: true }\n  real: { strategy: fixedWindow, limit: 5, windowMs: 1h }\n"),
		"--host", "127.0.0.1", "--port", "0")
	b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := callCtx(t)
	if d, err := b.Check(ctx, "new", "k", 1); err != nil || d.Shadow || !d.Allowed {
		t.Fatalf("first: %+v, %v", d, err)
	}
	if d, err := b.Check(ctx, "new", "k", 1); err != nil || !d.Shadow || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("over the shadow limit: %+v, %v; want admitted and flagged", d, err)
	}
	ds, err := b.CheckMany(ctx, "new", []string{"fresh", "k"}, 1)
	if err != nil || ds[0].Shadow || !ds[1].Shadow {
		t.Fatalf("CheckMany: %+v, %v; want only the second flagged", ds, err)
	}
	all, ok, err := b.CheckAll(ctx, []client.CheckItem{{Policy: "real", Key: "k"}, {Policy: "new", Key: "k"}})
	if err != nil || !ok || all[0].Shadow || !all[1].Shadow {
		t.Fatalf("CheckAll: %+v, %v, %v; want all admitted, the second flagged", all, ok, err)
	}
}

// --shadow makes every policy a shadow: denials admitted and flagged, and a CheckAll item
// that denies refuses no other item.
func TestShadowSwitch(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", "limiters:\n  one: { strategy: fixedWindow, limit: 1, windowMs: 1h }\n  five: { strategy: fixedWindow, limit: 5, windowMs: 1h }\n"),
		"--host", "127.0.0.1", "--port", "0", "--shadow")
	b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := callCtx(t)
	b.Check(ctx, "one", "k", 1)
	if d, err := b.Check(ctx, "one", "k", 1); err != nil || !d.Allowed || !d.Shadow {
		t.Fatalf("over the limit under --shadow: %+v, %v; want admitted and flagged", d, err)
	}
	all, ok, err := b.CheckAll(ctx, []client.CheckItem{{Policy: "one", Key: "k"}, {Policy: "five", Key: "k"}})
	if err != nil || !ok || !all[0].Shadow || all[1].Remaining != 4 {
		t.Fatalf("CheckAll under --shadow: %+v, %v, %v; want all admitted, five consumed", all, ok, err)
	}
	if d, err := b.Peek(ctx, "five", "k"); err != nil || d.Remaining != 4 {
		t.Errorf("five after the CheckAll: %+v, %v; want 4 left", d, err)
	}
}
