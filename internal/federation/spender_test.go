package federation_test

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/federation"
	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
)

// goldenSpender drives a LeaseSpender through the golden lease suites.
type goldenSpender struct{ s *federation.LeaseSpender }

func (g goldenSpender) Grant(capacity, expiresAt int64) { g.s.Grant(capacity, expiresAt) }

func (g goldenSpender) Spend(now, cost int64) (golden.Expect, bool, error) {
	d, ok, err := g.s.Spend(now, cost)
	return golden.Expect{Allowed: d.Allowed, Limit: d.Limit, Remaining: d.Remaining, ResetAt: d.ResetAt,
		RetryAfterMs: d.RetryAfterMs}, ok, err
}

func TestLeaseSpenderGoldenVectors(t *testing.T) {
	golden.ReplayLease(t, "", func(s golden.LeaseSuite) golden.LeaseSpender {
		return goldenSpender{&federation.LeaseSpender{Limit: s.Limit, TTLMs: s.TTLMs, WindowCoupled: s.Coupled()}}
	})
}

func TestLeaseSpenderRefusesANonPositiveCost(t *testing.T) {
	s := &federation.LeaseSpender{Limit: 5}
	s.Grant(5, 1000)
	for _, cost := range []int64{0, -1} {
		if _, _, err := s.Spend(0, cost); err == nil {
			t.Errorf("cost %d accepted", cost)
		}
	}
	if s.Credits() != 5 {
		t.Errorf("credits %d after refused spends, want 5", s.Credits())
	}
}
