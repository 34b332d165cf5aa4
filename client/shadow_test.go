package client_test

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

const shadowPolicies = `limiters:
  new:  { strategy: fixedWindow, limit: 1, windowMs: 1h, shadow: true }
  real: { strategy: fixedWindow, limit: 5, windowMs: 1h }
`

// A shadow policy's denial is admitted and flagged, and spends nothing; its CheckAll items
// never refuse the others. Redis door and engine alike.
func TestShadowPolicies(t *testing.T) {
	const now = 1_700_000_000_000
	redisDoor, _ := openBackend(t, shadowPolicies)
	engineDoor, err := client.OpenEngine([]byte(shadowPolicies), client.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engineDoor.Close() })
	for name, l := range map[string]client.Limiter{"redis": redisDoor, "engine": engineDoor} {
		t.Run(name, func(t *testing.T) {
			first, err := l.CheckAt(ctx, "new", "k", 1, now)
			if err != nil || !first.Allowed || first.Shadow {
				t.Fatalf("first check: %+v, %v; want a plain admission", first, err)
			}
			d, err := l.CheckAt(ctx, "new", "k", 1, now)
			if err != nil || !d.Allowed || !d.Shadow || d.Remaining != 0 || d.RetryAfterMs <= 0 {
				t.Fatalf("over the shadow limit: %+v, %v; want admitted, flagged Shadow, with the limiter's remaining and retry", d, err)
			}
			ds, err := l.CheckManyAt(ctx, "new", []string{"k", "other"}, 1, now)
			if err != nil || !ds[0].Shadow || !ds[0].Allowed || ds[1].Shadow || !ds[1].Allowed {
				t.Fatalf("CheckMany: %+v, %v", ds, err)
			}
			if p, err := l.PeekAt(ctx, "new", "k", now); err != nil || p.Allowed || p.Remaining != 0 {
				t.Errorf("peek after shadow denials: %+v, %v; want the limiter's own (denied): a shadow admission spends nothing", p, err)
			}
			all, ok, err := l.CheckAllAt(ctx, []client.CheckItem{{Policy: "new", Key: "k"}, {Policy: "real", Key: "k"}}, now)
			if err != nil || !ok || !all[0].Shadow || !all[1].Allowed || all[1].Remaining != 4 {
				t.Fatalf("CheckAll with a shadow item that denies: %+v, %v, %v; want all admitted, real consumed", all, ok, err)
			}
			if p, _ := l.PeekAt(ctx, "real", "k", now); p.Remaining != 4 {
				t.Errorf("real after the CheckAll: %+v; want its unit consumed (4 left)", p)
			}
		})
	}
}
