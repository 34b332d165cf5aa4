package server_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// secret stands for what a store's error may hold and a caller must never see: an address,
// a reply, a credential.
const secret = "10.0.0.7:6379 hunter2"

func TestStoreErrorsMapToStatuses(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"unavailable", &client.Error{Kind: client.ErrUnavailable, Msg: "redis: dial " + secret}, codes.Unavailable},
		{"timeout", &client.Error{Kind: client.ErrTimeout, Msg: "redis: i/o timeout " + secret}, codes.Unavailable},
		{"logic fault", &client.Error{Kind: client.ErrInternal, Msg: "WRONGTYPE " + secret}, codes.Internal},
		{"store auth", &client.Error{Kind: client.ErrAuth, Msg: "WRONGPASS " + secret}, codes.Internal},
		{"config", &client.Error{Kind: client.ErrConfig, Msg: secret}, codes.Internal},
		{"unknown", errors.New(secret), codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log logBuffer
			svc := server.New(&fakeBackend{err: tc.err}, server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			c, ctx := serve(t, svc), callCtx(t)
			calls := map[string]func() error{
				"Check": func() error {
					_, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"})
					return err
				},
				"CheckMany": func() error {
					_, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: []string{"k"}})
					return err
				},
				"Peek": func() error {
					_, err := c.Peek(ctx, &contract.PeekRequest{Policy: "p", Key: "k"})
					return err
				},
				"Forecast": func() error {
					_, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "p", Key: "k"})
					return err
				},
				"Debit": func() error {
					_, err := c.Debit(ctx, &contract.DebitRequest{Policy: "p", Key: "k"})
					return err
				},
			}
			for method, do := range calls {
				err := do()
				wantCode(t, err, tc.code)
				if msg := status.Convert(err).Message(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "10.0.0.7") {
					t.Errorf("%s: the caller sees the store's details: %q", method, msg)
				}
			}
			// The operator does see them.
			if !strings.Contains(log.String(), "hunter2") {
				t.Errorf("the server log lacks the store's error:\n%s", log.String())
			}
		})
	}
}

func TestStoreAuthFailureIsNotTheCallersAuthFailure(t *testing.T) {
	svc := server.New(&fakeBackend{err: &client.Error{Kind: client.ErrAuth, Msg: "NOAUTH"}}, server.Options{})
	_, err := serve(t, svc).Check(callCtx(t), &contract.CheckRequest{Policy: "p", Key: "k"})
	wantCode(t, err, codes.Internal, "store")
}

func TestPanicBecomesInternalAndServingGoesOn(t *testing.T) {
	var log logBuffer
	f := &fakeBackend{panicky: "boom " + secret}
	svc := server.New(f, server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	c, ctx := serve(t, svc), callCtx(t)
	for range 2 {
		_, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"})
		wantCode(t, err, codes.Internal)
		msg := status.Convert(err).Message()
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
			t.Fatalf("the caller sees the panic: %q", msg)
		}
	}
	if out := log.String(); !strings.Contains(out, "hunter2") || !strings.Contains(out, "stack=") {
		t.Errorf("the server log lacks the panic and its stack:\n%s", out)
	}
}

func TestTimeoutBoundsEachStoreCall(t *testing.T) {
	svc := server.New(&fakeBackend{hang: true}, server.Options{Timeout: 50 * time.Millisecond})
	c, ctx := serve(t, svc), callCtx(t) // the caller allows 10 s
	start := time.Now()
	_, err := c.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"})
	wantCode(t, err, codes.Unavailable, "in time")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %s; the service's timeout is 50ms", d)
	}
}

func TestCallerThatGaveUpIsNotBlamedOnTheStore(t *testing.T) {
	var log logBuffer
	svc := server.New(&fakeBackend{hang: true}, server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := svc.Check(ctx, &contract.CheckRequest{Policy: "p", Key: "k"})
	wantCode(t, err, codes.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = svc.Peek(ctx, &contract.PeekRequest{Policy: "p", Key: "k"})
	wantCode(t, err, codes.Canceled)
	if out := log.String(); out != "" {
		t.Errorf("a caller giving up is not a store failure, yet the log says:\n%s", out)
	}
}

func TestStoreFailuresAreLoggedAtMostOncePerSecond(t *testing.T) {
	var log logBuffer
	svc := server.New(&fakeBackend{err: &client.Error{Kind: client.ErrUnavailable, Msg: "down"}},
		server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	for range 100 {
		_, err := svc.Check(context.Background(), &contract.CheckRequest{Policy: "p", Key: "k"})
		wantCode(t, err, codes.Unavailable)
	}
	if n := strings.Count(log.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings for 100 failures within a second, want 1:\n%s", n, log.String())
	}
}

func TestClosedBackendIsUnavailable(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		b := open(t, testPolicies)
		c, ctx := serve(t, server.New(b, server.Options{})), callCtx(t)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"})
		wantCode(t, err, codes.Unavailable)
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"k"}})
		wantCode(t, err, codes.Unavailable)
		_, err = c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: "k"})
		wantCode(t, err, codes.Unavailable)
	})
}
