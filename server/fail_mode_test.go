package server_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

func synthesizedFlag(md metadata.MD) bool {
	v := md.Get(client.SynthesizedHeader)
	return len(v) == 1 && v[0] == "1"
}

func TestFailModesOnAnUnavailableStore(t *testing.T) {
	for _, kind := range []error{client.ErrUnavailable, client.ErrTimeout} {
		for _, mode := range []client.FailMode{client.FailOpen, client.FailClosed} {
			t.Run(kind.Error()+"/"+mode.String(), func(t *testing.T) {
				f := &fakeBackend{err: &client.Error{Kind: kind, Msg: "down " + secret}}
				c, ctx := serve(t, server.New(f, server.Options{FailMode: mode})), callCtx(t)
				var md metadata.MD
				r, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"}, grpc.Header(&md))
				if err != nil {
					t.Fatal(err)
				}
				d := r.GetDecision()
				if d.GetAllowed() != (mode == client.FailOpen) || d.GetResetAt() != 0 || d.GetRetryAfterMs() != 0 || !synthesizedFlag(md) {
					t.Fatalf("Check: %v, header %v", d, md)
				}
				md = nil
				rm, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"a", "b", "a"}}, grpc.Header(&md))
				if err != nil {
					t.Fatal(err)
				}
				if len(rm.GetDecisions()) != 3 || !synthesizedFlag(md) {
					t.Fatalf("CheckMany: %v, header %v", rm.GetDecisions(), md)
				}
				for _, d := range rm.GetDecisions() {
					if d.GetAllowed() != (mode == client.FailOpen) {
						t.Fatalf("CheckMany decision %v", d)
					}
				}
				// Never for Peek, Forecast or Debit.
				_, err = c.Peek(ctx, &contract.PeekRequest{Policy: "p", Key: "k"})
				wantCode(t, err, codes.Unavailable)
				_, err = c.Forecast(ctx, &contract.ForecastRequest{Policy: "p", Key: "k"})
				wantCode(t, err, codes.Unavailable)
				_, err = c.Debit(ctx, &contract.DebitRequest{Policy: "p", Key: "k"})
				wantCode(t, err, codes.Unavailable)
			})
		}
	}
}

func TestFailModeNeverCoversLogicFaultsOrBadRequests(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{&client.Error{Kind: client.ErrInternal, Msg: "WRONGTYPE"}, codes.Internal},
		{&client.Error{Kind: client.ErrPolicyNotFound, Msg: "no policy"}, codes.NotFound},
		{&client.Error{Kind: client.ErrInvalidArgument, Msg: "bad"}, codes.InvalidArgument},
		{&client.Error{Kind: client.ErrUnsupported, Msg: "budget"}, codes.Unimplemented},
		{&client.Error{Kind: client.ErrAuth, Msg: "NOAUTH"}, codes.Internal},
	}
	for _, tc := range cases {
		c, ctx := serve(t, server.New(&fakeBackend{err: tc.err}, server.Options{FailMode: client.FailOpen})), callCtx(t)
		var md metadata.MD
		_, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"}, grpc.Header(&md))
		wantCode(t, err, tc.code)
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"k"}}, grpc.Header(&md))
		wantCode(t, err, tc.code)
		if synthesizedFlag(md) {
			t.Errorf("%v: synthesized header on an error", tc.err)
		}
	}
}

func TestFailModeErrorAnswersUnavailable(t *testing.T) {
	f := &fakeBackend{err: &client.Error{Kind: client.ErrUnavailable, Msg: "down"}}
	c, ctx := serve(t, server.New(f, server.Options{FailMode: client.FailError})), callCtx(t)
	_, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"})
	wantCode(t, err, codes.Unavailable)
	_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"k"}})
	wantCode(t, err, codes.Unavailable)
}

// With a real backend the synthesized decision reports the policy's limit (burst for gcra).
func TestSynthesizedDecisionReportsThePolicysLimit(t *testing.T) {
	b := openEngine(t, testPolicies)
	svc := server.New(b, server.Options{FailMode: client.FailOpen})
	c, ctx := serve(t, svc), callCtx(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var md metadata.MD
	r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}, grpc.Header(&md))
	if err != nil {
		t.Fatal(err)
	}
	if d := r.GetDecision(); !d.GetAllowed() || d.GetLimit() != 5 || d.GetRemaining() != 5 || !synthesizedFlag(md) {
		t.Fatalf("synthesized: %v, header %v; want allowed, limit = remaining = burst 5", d, md)
	}
	// A policy the server does not have gets no made-up decision.
	md = nil
	_, err = c.Check(ctx, &contract.CheckRequest{Policy: "nope", Key: "k"}, grpc.Header(&md))
	wantCode(t, err, codes.Unavailable)
	if synthesizedFlag(md) {
		t.Fatal("a decision was synthesized for an unknown policy")
	}
}

type recordingObserver struct {
	mu        sync.Mutex
	decisions map[string]int // policy/result
	errors    map[string]int
}

func (o *recordingObserver) Decided(p string, ds []client.Decision, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range ds {
		r := "denied"
		switch {
		case d.Synthesized:
			r = "synthesized"
		case d.Allowed:
			r = "allowed"
		}
		o.decisions[p+"/"+r]++
	}
}

func (o *recordingObserver) StoreError(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors[kind]++
}

func TestObserverSeesDecisionsAndStoreErrors(t *testing.T) {
	o := &recordingObserver{decisions: map[string]int{}, errors: map[string]int{}}
	b := openEngine(t, testPolicies)
	c, ctx := serve(t, server.New(b, server.Options{Observer: o, FailMode: client.FailClosed})), callCtx(t)
	for range 7 { // burst 5: 5 allowed, 2 denied
		if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"x", "y"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Check(ctx, &contract.CheckRequest{Policy: "someone's arbitrary string", Key: "k"})
	wantCode(t, err, codes.NotFound)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Peek(ctx, &contract.PeekRequest{Policy: "api", Key: "k"})
	wantCode(t, err, codes.Unavailable)
	o.mu.Lock()
	defer o.mu.Unlock()
	want := map[string]int{"api/allowed": 7, "api/denied": 2, "api/synthesized": 1}
	for k, n := range want {
		if o.decisions[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, o.decisions[k], n, o.decisions)
		}
	}
	if len(o.decisions) != len(want) {
		t.Errorf("decisions %v, want %v", o.decisions, want)
	}
	if o.errors["unavailable"] != 2 || len(o.errors) != 1 {
		t.Errorf("store errors %v, want unavailable: 2", o.errors)
	}
}
