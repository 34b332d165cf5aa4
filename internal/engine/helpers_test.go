package engine_test

import (
	"context"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// testEngine is an engine with client.Limiter's methods, as client.EngineBackend offers them.
type testEngine struct {
	front.Calls
	*engine.Backend
}

func wrap(b *engine.Backend) *testEngine { return &testEngine{front.NewCalls(b), b} }

// openEngine opens an engine closed at the end of the test.
func openEngine(t testing.TB, yaml string, opts engine.Options) *testEngine {
	t.Helper()
	b, err := engine.Open([]byte(yaml), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return wrap(b)
}

var ctx = context.Background()
