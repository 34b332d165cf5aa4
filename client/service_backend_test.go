package client_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

func TestOpenServiceTargets(t *testing.T) {
	for _, target := range []string{"", "garbage", "127.0.0.1", "h:notaport", "h:0", "h:70000", "http://h:1", ":50051"} {
		if _, err := client.OpenService(target, client.ServiceOptions{}); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%q: got %v, want ErrInvalidArgument", target, err)
		}
	}
	b, err := client.OpenService("127.0.0.1:50051", client.ServiceOptions{})
	if err != nil {
		t.Fatalf("open must not dial: %v", err)
	}
	_ = b.Close()
}

// Input rules are enforced before sending, so that both doors refuse the same calls.
func TestServiceBackendRefusesBadInputBeforeSending(t *testing.T) {
	b, err := client.OpenService("127.0.0.1:1", client.ServiceOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"non-UTF-8 key", func() error { _, err := b.Check(ctx, "api", "a\xffb", 1); return err }, client.ErrInvalidArgument},
		{"non-UTF-8 key in a batch", func() error { _, err := b.CheckMany(ctx, "api", []string{"ok", "\xfe"}, 1); return err }, client.ErrInvalidArgument},
		{"negative cost", func() error { _, err := b.Check(ctx, "api", "k", -1); return err }, client.ErrInvalidArgument},
		{"cost 2^53", func() error { _, err := b.Forecast(ctx, "api", "k", 1<<53); return err }, client.ErrInvalidArgument},
		{"negative tokens", func() error { _, err := b.Debit(ctx, "llm", "k", -2); return err }, client.ErrInvalidArgument},
		{"empty policy", func() error { _, err := b.Peek(ctx, "", "k"); return err }, client.ErrInvalidArgument},
		// (A CheckAt asks the server first whether the policy is federated, whose credits it
		// spends on that clock: cmd/throttlekit-server's fleet door tests.)
		{"explicit clock, batch", func() error { _, err := b.CheckManyAt(ctx, "api", nil, 1, 1000); return err }, client.ErrUnsupported},
	}
	for _, c := range cases {
		start := time.Now()
		if err := c.call(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("%s took %v: it must be refused without a round trip", c.name, d)
		}
	}
}

func TestServiceBackendDeadServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	b, err := client.OpenService(addr, client.ServiceOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	_, err = b.Check(ctx, "api", "k", 1)
	if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("got %v, want unavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a dead server took %v (timeout 200ms)", d)
	}
}
