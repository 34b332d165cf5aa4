package federation

import "github.com/throttlekit/throttlekit-go/internal/front"

// LeaseSpender spends a client's reserved credits for one key (two-tier.md §5.1). It never
// denies: a denial only comes from the server, as a grant of 0. Not safe for concurrent use.
type LeaseSpender struct {
	Limit         int64 // reported as Decision.Limit; it does not bound spending
	TTLMs         int64 // resetAt = now + TTLMs while no grant has set expiresAt
	WindowCoupled bool  // discard credits once now ≥ expiresAt

	credits   int64
	expiresAt int64
	hasExpiry bool
}

// Grant applies a lease: its capacity adds to what is left, its expiry replaces the old one.
func (s *LeaseSpender) Grant(capacity, expiresAt int64) {
	s.credits += capacity
	s.expiresAt, s.hasExpiry = expiresAt, true
}

// Spend discards credits of an ended window (when coupled), then takes cost units at now.
// ok is false when the credits fall short (nothing is taken: reserve more and spend again);
// an error when cost is not > 0.
func (s *LeaseSpender) Spend(now, cost int64) (d front.Decision, ok bool, err error) {
	s.Discard(now)
	return s.Take(now, cost)
}

// Discard drops the credits when the spender is window-coupled and now ≥ expiresAt.
func (s *LeaseSpender) Discard(now int64) {
	if s.WindowCoupled && s.hasExpiry && now >= s.expiresAt && s.credits > 0 {
		s.credits = 0
	}
}

// Take is Spend without the discard: the refresh loop discards once, before its first round,
// so that a grant already expired on the caller's clock is still spent once (§5.1).
func (s *LeaseSpender) Take(now, cost int64) (d front.Decision, ok bool, err error) {
	if cost <= 0 {
		return d, false, front.NewError(front.ErrInvalidArgument, "cost must be greater than 0, got %d", cost)
	}
	if s.credits < cost {
		return d, false, nil
	}
	s.credits -= cost
	resetAt := now + s.TTLMs
	if s.hasExpiry {
		resetAt = s.expiresAt
	}
	return front.Decision{Allowed: true, Limit: s.Limit, Remaining: max(0, s.credits), ResetAt: resetAt}, true, nil
}

// Credits is what is left to spend (before any discard).
func (s *LeaseSpender) Credits() int64 { return s.credits }
