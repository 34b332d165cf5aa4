package server_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/policy"
	"github.com/throttlekit/throttlekit-go/server"
)

func TestInjectedClockDrivesEveryOperation(t *testing.T) {
	f := &fakeBackend{}
	var reads atomic.Int64
	clock := func() int64 { return 1_000_000 + reads.Add(1) }
	c, ctx := serve(t, server.New(f, server.Options{Clock: clock})), callCtx(t)

	if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k", Cost: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"a", "b", "c"}, Cost: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range r.GetDecisions() {
		if d.GetResetAt() != 1_000_002 {
			t.Errorf("decision %d evaluated at %d; the batch's one instant is 1000002", i, d.GetResetAt())
		}
	}
	if _, err := c.Peek(ctx, &contract.PeekRequest{Policy: "p", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "p", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Debit(ctx, &contract.DebitRequest{Policy: "p", Key: "k", Tokens: 7}); err != nil {
		t.Fatal(err)
	}

	want := []call{{"Check", 1_000_001, 2}, {"CheckMany", 1_000_002, 1}, {"Peek", 1_000_003, 0},
		{"Forecast", 1_000_004, 1}, {"Debit", 1_000_005, 7}}
	got := f.recorded()
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := reads.Load(); n != 5 {
		t.Errorf("the clock was read %d times for 5 calls; CheckMany must read it once", n)
	}
}

func TestWithoutClockTheStoreDecidesTime(t *testing.T) {
	f := &fakeBackend{}
	c, ctx := serve(t, server.New(f, server.Options{})), callCtx(t)
	if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.recorded() {
		if c.nowMs != 0 {
			t.Errorf("%s ran at an explicit %d; without a Clock the store's clock decides", c.op, c.nowMs)
		}
	}
}

func TestSetPoliciesSwapsTheBackendsSet(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		svc := server.New(open(t, testPolicies), server.Options{})
		c, ctx := serve(t, svc), callCtx(t)
		next, err := client.ParsePolicies([]byte("limiters:\n  web: { strategy: fixedWindow, limit: 2, period: 1m }\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SetPolicies(next); err != nil {
			t.Fatal(err)
		}
		if got := svc.Policies().Names(); len(got) != 1 || got[0] != "web" {
			t.Fatalf("Policies() after the swap: %v", got)
		}
		r, err := c.Check(ctx, &contract.CheckRequest{Policy: "web", Key: "k"})
		if err != nil || r.GetDecision().GetLimit() != 2 {
			t.Fatalf("the new policy: %v, %v", r.GetDecision(), err)
		}
		_, err = c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"})
		wantCode(t, err, codes.NotFound, "web")
	})
}

func TestSetPoliciesOnABackendWithoutIt(t *testing.T) {
	svc := server.New(&fakeBackend{}, server.Options{})
	if err := svc.SetPolicies(&policy.Set{}); !errors.Is(err, client.ErrUnsupported) {
		t.Fatalf("SetPolicies: %v, want ErrUnsupported", err)
	}
	if svc.Policies() != nil {
		t.Fatal("Policies() of a backend without policies is not nil")
	}
}
