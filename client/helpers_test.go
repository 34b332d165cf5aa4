package client_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testredis"
)

// openBackend opens a RedisBackend on the test Redis with its own key namespace.
func openBackend(t *testing.T, yaml string) (*client.RedisBackend, string) {
	t.Helper()
	ns := testredis.Namespace(t)
	b, err := client.OpenRedis(testredis.URL(t), []byte(yaml), client.RedisOptions{Namespace: ns},
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

// silentRedis listens on a loopback port, accepts connections and never answers: a Redis
// that hangs. It returns the address.
func silentRedis(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // hold it open, say nothing
		}
	}()
	return l.Addr().String()
}
