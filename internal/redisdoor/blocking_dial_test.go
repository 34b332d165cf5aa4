package redisdoor_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
)

const blockingPolicies = `
limiters:
  gcra:  { strategy: gcra, limit: 10, period: 1s, burst: 5 }
  fixed: { strategy: fixedWindow, limit: 1000, windowMs: 1m }
`

// The C ABI's blocking sockets: the same decisions as the poller's, and the same bounds.
func TestBlockingDialDecides(t *testing.T) {
	b := openBackend(t, blockingPolicies, redisdoor.ConnectOptions{Timeout: time.Second, Dialer: redisdoor.BlockingDial})
	const now = 1_700_000_000_000
	for i, want := range []int64{4, 3, 2, 1, 0} {
		d, err := b.CheckAt(ctx, "gcra", "k", 1, now)
		if err != nil || !d.Allowed || d.Remaining != want {
			t.Fatalf("check %d: %+v, %v", i, d, err)
		}
	}
	if d, err := b.CheckAt(ctx, "gcra", "k", 1, now); err != nil || d.Allowed || d.RetryAfterMs != 100 {
		t.Fatalf("sixth check: %+v, %v", d, err)
	}
	ds, err := b.CheckMany(ctx, "fixed", []string{"a", "b", "a"}, 1)
	if err != nil || len(ds) != 3 || ds[2].Remaining != ds[0].Remaining-1 {
		t.Fatalf("check many: %v, %v", ds, err)
	}
}

func TestBlockingDialBounds(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	for _, c := range []struct {
		addr string
		want error
	}{{deadAddr, front.ErrUnavailable}, {silent.Addr().String(), front.ErrTimeout}} {
		b := openURL(t, "redis://"+c.addr, blockingPolicies, redisdoor.Options{},
			redisdoor.ConnectOptions{Timeout: 150 * time.Millisecond, Dialer: redisdoor.BlockingDial})
		start := time.Now()
		_, err = b.Check(ctx, "gcra", "k", 1)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.addr, err, c.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v with a 150 ms timeout", c.addr, d)
		}
		_ = b.Close()
	}
}
