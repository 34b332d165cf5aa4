package client_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

const admissionYAML = `limiters:
  pool: { concurrency: { minLimit: 3, maxLimit: 3 } }
  api: { strategy: gcra, limit: 5, period: 1h }
`

// Every backend is a client.Admitter with the same behaviour: 64 goroutines admitting and
// releasing never hold more than the pinned ceiling of 3 at once; Release and Heartbeat
// behave as admission.md says; the errors are the ones every door shares.
func TestEveryBackendAdmits(t *testing.T) {
	addr, _ := serveEngine(t, admissionYAML)
	svc, err := client.OpenService(addr, client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	redisBackend, _ := openBackend(t, admissionYAML)
	backends := []struct {
		name string
		b    client.Admitter
	}{{"redis", redisBackend}, {"engine", openEngine(t, admissionYAML, client.EngineOptions{})}, {"service", svc}}
	for _, tc := range backends {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			var inflight, most, admitted atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < 64; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 20; i++ {
						a, err := b.Admit(ctx, "pool", "k", 1)
						if err != nil {
							t.Error(err)
							return
						}
						if !a.Decision.Allowed {
							continue
						}
						admitted.Add(1)
						n := inflight.Add(1)
						for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
						}
						time.Sleep(100 * time.Microsecond)
						inflight.Add(-1)
						if err := b.Release(ctx, "pool", "k", a.LeaseID, false); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			if most.Load() > 3 || admitted.Load() == 0 {
				t.Fatalf("%d admitted, at most %d in flight; want at most 3", admitted.Load(), most.Load())
			}
			a, err := b.Admit(ctx, "pool", "k", 1)
			if err != nil || !a.Decision.Allowed || len(a.LeaseID) != 32 {
				t.Fatalf("admit after the run: %+v, %v", a, err)
			}
			hb, err := b.Heartbeat(ctx, "pool", "k", []string{"unknown", a.LeaseID})
			if err != nil || len(hb.Live) != 1 || hb.Live[0] != a.LeaseID || len(hb.Reclaimed) != 1 || hb.Reclaimed[0] != "unknown" {
				t.Fatalf("heartbeat: %+v, %v", hb, err)
			}
			if err := b.Release(ctx, "pool", "k", a.LeaseID, true); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Admit(ctx, "api", "k", 1); !errors.Is(err, client.ErrUnsupported) {
				t.Errorf("admit on a rate limiter: %v", err)
			}
			if _, err := b.Admit(ctx, "nope", "k", 1); !errors.Is(err, client.ErrPolicyNotFound) {
				t.Errorf("admit on an unknown policy: %v", err)
			}
			if _, err := b.Admit(ctx, "pool", "k", -1); !errors.Is(err, client.ErrInvalidArgument) {
				t.Errorf("negative cost: %v", err)
			}
			if _, err := b.AdmitAt(ctx, "pool", "k", 1, 0); !errors.Is(err, client.ErrInvalidArgument) {
				t.Errorf("AdmitAt without an instant: %v", err)
			}
		})
	}
}
