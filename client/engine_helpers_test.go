package client_test

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

// openEngine opens an EngineBackend closed at the end of the test.
func openEngine(t testing.TB, yaml string, opts client.EngineOptions) *client.EngineBackend {
	t.Helper()
	b, err := client.OpenEngine([]byte(yaml), opts)
	if err != nil {
		t.Fatalf("OpenEngine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
