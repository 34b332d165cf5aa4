package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

const policies = `
limiters:
  api: { strategy: gcra, limit: 10, period: 1m, burst: 3 }
  monthly: { fairEscrow: { anything: goes } }
`

// checkBurst expects a cold key to admit exactly the burst of 3, then deny.
func checkBurst(t *testing.T, ctx context.Context, c contract.RateLimiterClient) {
	t.Helper()
	for i := range 4 {
		r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "user-1", Cost: 1})
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		d := r.GetDecision()
		if want := i < 3; d.GetAllowed() != want || d.GetLimit() != 3 {
			t.Fatalf("check %d: %v, want allowed=%v with limit 3", i, d, want)
		}
		if i == 3 && d.GetRetryAfterMs() <= 0 {
			t.Fatalf("the denial has retry_after_ms %d, want > 0", d.GetRetryAfterMs())
		}
	}
}

func checkHealth(t *testing.T, ctx context.Context, h healthpb.HealthClient) {
	t.Helper()
	for _, service := range []string{"", "throttlekit.v1.RateLimiter"} {
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v, %v; want SERVING", service, r.GetStatus(), err)
		}
	}
	_, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("health of an unknown service: %v, want NOT_FOUND", err)
	}
}

func TestServeMemoryStore(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "policies.yaml", policies), "--port", "0", "--host", "127.0.0.1")
	addr := p.waitListening(t)
	conn := dial(t, addr)
	ctx := callCtx(t)
	checkBurst(t, ctx, contract.NewRateLimiterClient(conn))
	checkHealth(t, ctx, healthpb.NewHealthClient(conn))
	_, err := contract.NewRateLimiterClient(conn).Check(ctx, &contract.CheckRequest{Policy: "monthly", Key: "k"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("check on an unsupported policy: %v, want UNIMPLEMENTED", err)
	}
	p.stop(t)

	log := p.stderr.String()
	for _, want := range []string{"store=memory", "policies=2", "monthly", "fairEscrow", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "without TLS") {
		t.Errorf("a loopback address got the plain-text warning:\n%s", log)
	}
}

func TestServeRedisStore(t *testing.T) {
	url, ns := testenv.URL(t), testenv.Namespace(t)
	p := launch(t, "-c", writeFile(t, "policies.yaml", policies), "--port", "0", "--host", "127.0.0.1",
		"--redis", url, "--redis-prefix", ns, "--log-format", "json")
	conn := dial(t, p.waitListening(t))
	ctx := callCtx(t)
	checkBurst(t, ctx, contract.NewRateLimiterClient(conn))
	checkHealth(t, ctx, healthpb.NewHealthClient(conn))

	// The state is in Redis, under the namespace, where a fleet's other servers see it.
	if n, err := testenv.Client(t).Exists(ctx, ns+":api:user-1").Result(); err != nil || n != 1 {
		t.Fatalf("key %s:api:user-1 in redis: %d, %v; want it there", ns, n, err)
	}
	p.stop(t)
	if log := p.stderr.String(); !strings.Contains(log, `"store":"redis"`) || !strings.Contains(log, `"namespace":"`+ns+`"`) {
		t.Errorf("the startup line does not describe the store:\n%s", log)
	}
}

// A Redis that is down does not stop startup; its calls fail as UNAVAILABLE; its password
// appears nowhere; and a public address draws the plain-text warning.
func TestServeWithRedisDownAndPublicAddress(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "policies.yaml", policies), "--port", "0", "--host", "0.0.0.0",
		"--redis", "redis://ops:hunter2@127.0.0.1:1/0", "--timeout", "200ms", "--fail", "error")
	_, port, err := net.SplitHostPort(p.waitListening(t))
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, net.JoinHostPort("127.0.0.1", port))
	_, err = contract.NewRateLimiterClient(conn).Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: "k"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("check with redis down: %v, want UNAVAILABLE", err)
	}
	if strings.Contains(status.Convert(err).Message(), "127.0.0.1:1") {
		t.Errorf("the caller sees the store's address: %v", err)
	}
	p.stop(t)

	log := p.stderr.String()
	if strings.Contains(log, "hunter2") {
		t.Errorf("the log shows the redis password:\n%s", log)
	}
	for _, want := range []string{"redis://ops:xxxxx@127.0.0.1:1/0", "does not answer", "without TLS", "the store failed a call"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
