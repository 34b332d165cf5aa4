package redisdoor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

const streamPolicies = `
limiters:
  gcra: { strategy: gcra, limit: 10, period: 1m, burst: 5 }
  fw:   { strategy: fixedWindow, limit: 100, windowMs: 1m }
`

var ctx = context.Background()

// testBackend is a Redis door with client.Limiter's methods, as client.RedisBackend offers
// them.
type testBackend struct {
	front.Calls
	*redisdoor.Backend
}

// openBackend opens a backend on the test Redis with its own key namespace.
func openBackend(t *testing.T, yaml string, conn redisdoor.ConnectOptions) *testBackend {
	t.Helper()
	return openURL(t, testenv.URL(t), yaml, redisdoor.Options{Namespace: testenv.Namespace(t)}, conn)
}

func openURL(t *testing.T, url, yaml string, opts redisdoor.Options, conn redisdoor.ConnectOptions) *testBackend {
	t.Helper()
	if conn.Timeout == 0 {
		conn.Timeout = 5 * time.Second
	}
	b, err := redisdoor.Open(url, []byte(yaml), opts, conn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &testBackend{front.NewCalls(b), b}
}

// doneFunc is a front.Waiter for callers that cannot wait (an event loop).
type doneFunc func(front.Decision, error)

func (f doneFunc) Done(d front.Decision, err error) { f(d, err) }

type result struct {
	d   front.Decision
	err error
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("calls still pending after %v", d)
	}
}
