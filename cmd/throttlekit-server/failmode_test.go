package main

import (
	"errors"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// waitHealth polls until the server reports want, failing when it takes longer than within.
func waitHealth(t *testing.T, h healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r, err := h.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: "throttlekit.v1.RateLimiter"})
		if err == nil && r.GetStatus() == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("health is %v (%v) after %s, want %v", r.GetStatus(), err, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis killed under three servers, one per fail mode; health follows the store both ways.
func TestFailModesWithRedisKilled(t *testing.T) {
	rd := testenv.StartRedis(t)
	file := writeFile(t, "p.yaml", doorPolicies)
	modes := []string{"open", "closed", "error"}
	backends := map[string]*client.ServiceBackend{}
	health := map[string]healthpb.HealthClient{}
	procs := map[string]*proc{}
	for _, mode := range modes {
		p := launch(t, "-c", file, "--host", "127.0.0.1", "--port", "0", "--redis", rd.URL(),
			"--redis-prefix", "fm-"+mode, "--fail", mode, "--timeout", "300ms")
		addr := p.waitListening(t)
		b, err := client.OpenService(addr, client.ServiceOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		backends[mode], health[mode], procs[mode] = b, healthpb.NewHealthClient(dial(t, addr)), p
	}
	ctx := callCtx(t)
	for _, mode := range modes {
		if d, err := backends[mode].Check(ctx, "api", "k", 1); err != nil || !d.Allowed || d.Synthesized {
			t.Fatalf("%s, redis up: %+v, %v", mode, d, err)
		}
		waitHealth(t, health[mode], healthpb.HealthCheckResponse_SERVING, time.Second)
	}

	rd.Kill()
	for _, mode := range modes {
		took := waitHealth(t, health[mode], healthpb.HealthCheckResponse_NOT_SERVING, 1500*time.Millisecond)
		t.Logf("%s: NOT_SERVING %s after redis died", mode, took)
	}
	for _, mode := range modes {
		b := backends[mode]
		d, err := b.Check(ctx, "api", "k", 1)
		ds, errMany := b.CheckMany(ctx, "api", []string{"a", "b"}, 1)
		switch mode {
		case "open", "closed":
			want := client.Decision{Allowed: mode == "open", Limit: 5, Synthesized: true}
			if mode == "open" {
				want.Remaining = 5
			}
			if err != nil || d != want {
				t.Errorf("%s: Check %+v, %v; want %+v", mode, d, err, want)
			}
			if errMany != nil || len(ds) != 2 || ds[0] != want || ds[1] != want {
				t.Errorf("%s: CheckMany %+v, %v; want 2 x %+v", mode, ds, errMany, want)
			}
		case "error":
			if !errors.Is(err, client.ErrUnavailable) || !errors.Is(errMany, client.ErrUnavailable) {
				t.Errorf("error: Check %v, CheckMany %v; want ErrUnavailable", err, errMany)
			}
		}
		// Never synthesized, whatever the mode.
		if _, err := b.Peek(ctx, "api", "k"); !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("%s: Peek %v, want ErrUnavailable", mode, err)
		}
		if _, err := b.Debit(ctx, "llm", "k", 3); !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("%s: Debit %v, want ErrUnavailable", mode, err)
		}
		// An unknown policy is never papered over.
		if _, err := b.Check(ctx, "nope", "k", 1); !errors.Is(err, client.ErrPolicyNotFound) {
			t.Errorf("%s: unknown policy %v", mode, err)
		}
	}

	rd.Start()
	for _, mode := range modes {
		took := waitHealth(t, health[mode], healthpb.HealthCheckResponse_SERVING, 1500*time.Millisecond)
		t.Logf("%s: SERVING %s after redis returned", mode, took)
		d, err := backends[mode].Check(ctx, "api", "k2", 1)
		if err != nil || !d.Allowed || d.Synthesized || d.ResetAt == 0 {
			t.Errorf("%s, redis back: %+v, %v", mode, d, err)
		}
	}
	for _, mode := range modes {
		procs[mode].stop(t)
		log := procs[mode].stderr.String()
		for _, want := range []string{"health is NOT_SERVING", "health is SERVING"} {
			if !contains(log, want) {
				t.Errorf("%s: the log lacks %q:\n%s", mode, want, log)
			}
		}
	}
}
