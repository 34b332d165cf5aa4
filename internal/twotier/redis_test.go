package twotier

import (
	"context"
	"errors"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// On Redis, the leases are the policy's own check script on its own key: a plain policy
// with the same prefix sees exactly the units leased.
func TestLeasedOnRedis(t *testing.T) {
	url, ns := testenv.URL(t), testenv.Namespace(t)
	open := func(yaml string) *redisdoor.Backend {
		b, err := redisdoor.Open(url, []byte(yaml), redisdoor.Options{Namespace: ns}, redisdoor.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	leasedDoor := OverRedis(open("limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 3600000, prefix: api, twoTier: { batch: 10 } }\n"), redisdoor.Options{})
	plain := open("limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 3600000, prefix: api }\n")
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if got := check(t, leasedDoor, "fw", "k", 1, 0); !got.Allowed {
			t.Fatalf("check %d denied: %+v", i, got)
		}
	}
	peek, err := plain.Decide(ctx, front.OpPeek, "fw", "k", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if peek.Remaining != 1000-30 {
		t.Errorf("Redis holds %d remaining; want 970 (three leases of 10 for 25 checks)", peek.Remaining)
	}
}

// An L2 failure on a check's path is the check's error (the handle's or server's fail mode
// then applies); nothing is cached from it.
func TestLeasedL2Failure(t *testing.T) {
	b, err := redisdoor.Open("redis://"+testenv.SilentRedis(t), []byte("limiters:\n  fw: { strategy: fixedWindow, limit: 10, windowMs: 1000, twoTier: { batch: 5 } }\n"),
		redisdoor.Options{Timeout: 100e6}, redisdoor.ConnectOptions{Timeout: 100e6})
	if err != nil {
		t.Fatal(err)
	}
	d := OverRedis(b, redisdoor.Options{})
	t.Cleanup(func() { _ = d.Close() })
	for i := 0; i < 2; i++ {
		_, err := d.Decide(context.Background(), front.OpCheck, "fw", "k", 1, 0)
		if !errors.Is(err, front.ErrTimeout) && !errors.Is(err, front.ErrUnavailable) {
			t.Errorf("check on a Redis that never answers: %v; want timeout or unavailable", err)
		}
	}
}
