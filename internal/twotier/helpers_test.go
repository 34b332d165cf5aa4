package twotier

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// counting is a real door with its checks counted: how often L1 reached L2.
type counting struct {
	front.Door
	checks atomic.Int64
	units  atomic.Int64
}

func (c *counting) Decide(ctx context.Context, op front.Op, name, key string, amount, nowMs int64) (front.Decision, error) {
	if op == front.OpCheck {
		c.checks.Add(1)
		c.units.Add(amount)
	}
	return c.Door.Decide(ctx, op, name, key, amount, nowMs)
}

func (c *counting) StartCheck(ctx context.Context, name, key string, cost, nowMs int64, w front.Waiter) {
	c.checks.Add(1)
	c.units.Add(cost)
	c.Door.StartCheck(ctx, name, key, cost, nowMs, w)
}

// overEngine is L1 over a counted embedded engine loaded with yaml.
func overEngine(t *testing.T, yaml string, opts Options) (*Door, *counting) {
	t.Helper()
	return overEngineTB(t, yaml, opts)
}

func overEngineTB(t testing.TB, yaml string, opts Options) (*Door, *counting) {
	t.Helper()
	b, err := engine.Open([]byte(yaml), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l2 := &counting{Door: b}
	d := Wrap(l2, opts)
	t.Cleanup(func() { _ = d.Close() })
	return d, l2
}

func check(t *testing.T, d front.Door, name, key string, cost, nowMs int64) front.Decision {
	t.Helper()
	dec, err := d.Decide(context.Background(), front.OpCheck, name, key, cost, nowMs)
	if err != nil {
		t.Fatalf("check %s/%s at %d: %v", name, key, nowMs, err)
	}
	return dec
}

func same(t *testing.T, what string, got, want front.Decision) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
