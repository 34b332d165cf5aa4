package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/server"
)

// testPolicies: a gcra limiter (burst 5), a token-budget meter and a policy using a feature
// this version does not support.
const testPolicies = `
limiters:
  api: { strategy: gcra, limit: 10, period: 1m, burst: 5 }
  llm:
    tokenBudget: { budget: 1000, windowMs: 1h }
  monthly: { fairEscrow: { anything: goes } }
`

// opener opens a backend serving yaml, closed when the test ends.
type opener func(t *testing.T, yaml string) client.Limiter

// stores are the two backends every behaviour is checked on.
var stores = []struct {
	name string
	open opener
}{
	{"engine", openEngine},
	{"redis", openRedis},
}

func openEngine(t *testing.T, yaml string) client.Limiter {
	t.Helper()
	b, err := client.OpenEngine([]byte(yaml), client.EngineOptions{})
	if err != nil {
		t.Fatalf("OpenEngine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func openRedis(t *testing.T, yaml string) client.Limiter {
	t.Helper()
	b, err := client.OpenRedis(testenv.URL(t), []byte(yaml),
		client.RedisOptions{Namespace: testenv.Namespace(t)}, client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// forEachStore runs f once per backend, as subtests.
func forEachStore(t *testing.T, f func(t *testing.T, open opener)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { f(t, s.open) })
	}
}

// serve runs svc on a real gRPC server on loopback and returns a client of it; both stop
// when the test ends.
func serve(t *testing.T, svc *server.Service) contract.RateLimiterClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	contract.RegisterRateLimiterServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return contract.NewRateLimiterClient(conn)
}

// serveBackend is serve over a fresh backend of the test policies on the store's clock.
func serveBackend(t *testing.T, open opener) contract.RateLimiterClient {
	t.Helper()
	return serve(t, server.New(open(t, testPolicies), server.Options{}))
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is a status with code whose message holds every part.
func wantCode(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != code {
		t.Fatalf("got error %v, want status %s", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("status message %q does not mention %q", st.Message(), p)
		}
	}
}
