package server_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/server"
	"github.com/throttlekit/throttlekit-go/server/monitor"
)

const admissionPolicies = `
limiters:
  api: { strategy: gcra, limit: 5, period: 1h, burst: 5 }
  budget:
    tokenBudget: { budget: 5, windowMs: 1h }
  cc: { concurrency: { minLimit: 3, maxLimit: 3 } }
  unified: { strategy: gcra, limit: 5, period: 1h, burst: 5, concurrency: { minLimit: 2, maxLimit: 2 } }
`

// The RPCs on both stores at an injected clock: decisions as admission.md §3 gives them,
// Release by id alone, Heartbeat renewing and reporting, the sweep reclaiming as §4.5 says,
// and the statuses of §4.
func TestAdmissionRPCs(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		var now atomic.Int64
		now.Store(1_700_000_000_000)
		svc := server.New(open(t, admissionPolicies), server.Options{Clock: now.Load})
		t.Cleanup(svc.Close)
		rl := serve(t, svc)
		ctx := callCtx(t)
		t0 := now.Load()

		var ids []string
		for i := int64(0); i < 3; i++ {
			r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"})
			d := r.GetDecision()
			if err != nil || !d.GetAllowed() || d.GetLimit() != 3 || d.GetRemaining() != 2-i || d.GetResetAt() != t0 ||
				len(r.GetLeaseId()) != 32 || r.GetLeaseExpiresAt() != t0+2000 || r.GetBindingAxis() != "" {
				t.Fatalf("admit %d: %v, %v", i+1, r, err)
			}
			ids = append(ids, r.GetLeaseId())
		}
		r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"})
		if err != nil || r.GetDecision().GetAllowed() || r.GetLeaseId() != "" || r.GetLeaseExpiresAt() != 0 ||
			r.GetBindingAxis() != "concurrency" || r.GetDecision().GetRetryAfterMs() != 1 {
			t.Fatalf("admit 4: %v, %v", r, err)
		}
		// Release takes effect before it returns; twice, or an unknown id, is fine.
		for _, id := range []string{ids[0], ids[0], "nope", ""} {
			if _, err := rl.Release(ctx, &contract.ReleaseRequest{LeaseId: id}); err != nil {
				t.Fatalf("release %q: %v", id, err)
			}
		}
		if r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || !r.GetDecision().GetAllowed() {
			t.Fatalf("admit after a release: %v, %v", r, err)
		} else {
			ids[0] = r.GetLeaseId()
		}

		// At +1500 ids[1] is renewed; an unknown id is reported reclaimed.
		now.Store(t0 + 1500)
		hb, err := rl.Heartbeat(ctx, &contract.HeartbeatRequest{LeaseIds: []string{ids[1], "gone"}})
		if err != nil || !slices.Equal(hb.GetLiveIds(), []string{ids[1]}) || !slices.Equal(hb.GetReclaimedIds(), []string{"gone"}) ||
			hb.GetNextDeadline() != t0+3500 {
			t.Fatalf("heartbeat: %v, %v", hb, err)
		}
		if hb, err := rl.Heartbeat(ctx, &contract.HeartbeatRequest{}); err != nil || hb.GetNextDeadline() != t0+3500 {
			t.Fatalf("empty heartbeat: %v, %v", hb, err)
		}
		// At +2000 the other two leases are due: the sweep reclaims them, ids[1] stays.
		now.Store(t0 + 2000)
		svc.Sweep()
		if n := svc.Leases(); n != 1 {
			t.Fatalf("%d leases after the sweep, want 1", n)
		}
		hb, err = rl.Heartbeat(ctx, &contract.HeartbeatRequest{LeaseIds: []string{ids[0], ids[1], ids[2]}})
		if err != nil || !slices.Equal(hb.GetLiveIds(), []string{ids[1]}) || !slices.Equal(hb.GetReclaimedIds(), []string{ids[0], ids[2]}) {
			t.Fatalf("heartbeat after the sweep: %v, %v", hb, err)
		}
		for i := 0; i < 2; i++ {
			if r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || !r.GetDecision().GetAllowed() {
				t.Fatalf("admit %d after the sweep: %v, %v", i+1, r, err)
			}
		}

		// unified: the concurrency ceiling of 2 binds before the rate burst of 5.
		for i, want := range []bool{true, true, false} {
			r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "unified", Key: "u", Cost: 3})
			if err != nil || r.GetDecision().GetAllowed() != want {
				t.Fatalf("unified admit %d: %v, %v", i+1, r, err)
			}
			if !want && r.GetBindingAxis() != "concurrency" {
				t.Fatalf("unified admit %d: binding axis %q", i+1, r.GetBindingAxis())
			}
		}

		_, err = rl.Admit(ctx, &contract.AdmitRequest{Policy: "api", Key: "k"})
		wantCode(t, err, codes.Unimplemented, `policy "api" does not support admit`)
		_, err = rl.Admit(ctx, &contract.AdmitRequest{Policy: "budget", Key: "k"})
		wantCode(t, err, codes.Unimplemented, "does not support admit")
		_, err = rl.Admit(ctx, &contract.AdmitRequest{Policy: "nope", Key: "k"})
		wantCode(t, err, codes.NotFound, "nope", "api")
		_, err = rl.Check(ctx, &contract.CheckRequest{Policy: "cc", Key: "k"})
		wantCode(t, err, codes.Unimplemented, `policy "cc" does not support check`)
		_, err = rl.CheckMany(ctx, &contract.CheckManyRequest{Policy: "cc", Keys: []string{"k"}})
		wantCode(t, err, codes.Unimplemented, `policy "cc" does not support checkMany`)
		_, err = rl.Peek(ctx, &contract.PeekRequest{Policy: "cc", Key: "k"})
		wantCode(t, err, codes.Unimplemented, `policy "cc" does not support peek`)
		_, err = rl.Forecast(ctx, &contract.ForecastRequest{Policy: "cc", Key: "k"})
		wantCode(t, err, codes.Unimplemented, `policy "cc" does not support forecast`)
		_, err = rl.Debit(ctx, &contract.DebitRequest{Policy: "cc", Key: "k"})
		wantCode(t, err, codes.Unimplemented)
	})
}

// Two servers on one Redis (the same namespace) share one ceiling: the store, not either
// server, holds the leases (admission.md §9, ours).
func TestAdmissionOnARedisStoreIsFleetWide(t *testing.T) {
	ns := testenv.Namespace(t)
	var rls []contract.RateLimiterClient
	for i := 0; i < 2; i++ {
		b, err := client.OpenRedis(testenv.URL(t), []byte(admissionPolicies), client.RedisOptions{Namespace: ns},
			client.ConnectOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		svc := server.New(b, server.Options{})
		t.Cleanup(svc.Close)
		rls = append(rls, serve(t, svc))
	}
	ctx := callCtx(t)
	var ids []string
	for i := 0; i < 3; i++ {
		r, err := rls[i%2].Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"})
		if err != nil || !r.GetDecision().GetAllowed() {
			t.Fatalf("admit %d: %v, %v", i+1, r, err)
		}
		ids = append(ids, r.GetLeaseId())
	}
	for i, rl := range rls {
		if r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || r.GetDecision().GetAllowed() {
			t.Fatalf("server %d admitted a fourth: %v, %v", i+1, r, err)
		}
	}
	// A lease is released through the server that issued it.
	if _, err := rls[0].Release(ctx, &contract.ReleaseRequest{LeaseId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if r, err := rls[1].Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || !r.GetDecision().GetAllowed() {
		t.Fatalf("the other server, after a release: %v, %v", r, err)
	}
}

// The sweep runs by itself on the server's clock: a lease nobody renews comes back within
// its TTL and the sweep's second (bounded generously here: a loaded machine is slow, never
// early).
func TestAbandonedLeasesComeBackByThemselves(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		svc := server.New(open(t, admissionPolicies), server.Options{LeaseTTL: time.Second})
		t.Cleanup(svc.Close)
		rl := serve(t, svc)
		ctx := callCtx(t)
		for i := 0; i < 3; i++ {
			if r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || r.GetLeaseExpiresAt() == 0 {
				t.Fatalf("admit %d: %v, %v", i+1, r, err)
			}
		}
		start := time.Now()
		for svc.Leases() > 0 {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%d leases still held after %v", svc.Leases(), time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("leases swept after %v, before their TTL of 1s", d)
		}
		if r, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil || r.GetDecision().GetRemaining() != 2 {
			t.Fatalf("admit after the sweep: %v, %v", r, err)
		}
	})
}

// The Monitor lists a concurrency policy as upstream does: kind "admitter", its ceiling, and
// its admissions counted like decisions.
func TestMonitorListsAdmitters(t *testing.T) {
	mon := monitor.New(monitor.Options{})
	svc := server.New(openEngine(t, admissionPolicies), server.Options{Recorder: mon})
	t.Cleanup(svc.Close)
	rl := serve(t, svc)
	ctx := callCtx(t)
	for i := 0; i < 4; i++ {
		if _, err := rl.Admit(ctx, &contract.AdmitRequest{Policy: "cc", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	snap := server.NewMonitorService(mon, svc).Snapshot()
	for _, p := range snap.Policies {
		switch p.Name {
		case "cc":
			if p.Kind != "admitter" || p.Limit != 3 || p.Allowed != 3 || p.Denied != 1 {
				t.Errorf("cc: %+v", p)
			}
		case "api":
			if p.Kind != "limiter" {
				t.Errorf("api: %+v", p)
			}
		}
	}
}
