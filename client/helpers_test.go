package client_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// openBackend opens a RedisBackend on the test Redis with its own key namespace.
func openBackend(t *testing.T, yaml string) (*client.RedisBackend, string) {
	t.Helper()
	ns := testenv.Namespace(t)
	b, err := client.OpenRedis(testenv.URL(t), []byte(yaml), client.RedisOptions{Namespace: ns},
		client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, ns
}

// policyYAML renders one policy named "p" with the given fields (sorted, for stable text).
func policyYAML(fields map[string]any) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString("limiters:\n  p:\n")
	for _, n := range names {
		fmt.Fprintf(&sb, "    %s: %v\n", n, fields[n])
	}
	return sb.String()
}

func budgetYAML(budget, windowMs int64) string {
	return fmt.Sprintf("limiters:\n  p:\n    tokenBudget:\n      budget: %d\n      windowMs: %d\n", budget, windowMs)
}

var ctx = context.Background()

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

// testenvCount is the number of entries of a sorted set in the test Redis.
func testenvCount(t *testing.T, key string) int64 {
	t.Helper()
	n, err := testenv.Client(t).ZCard(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
