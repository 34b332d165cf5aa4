package client

import "errors"

// FailMode says what a check answers when the store cannot be reached in time.
type FailMode int

const (
	// FailError returns the error (ErrUnavailable or ErrTimeout): the caller decides.
	FailError FailMode = iota
	// FailOpen admits: a synthesized decision with Allowed true.
	FailOpen
	// FailClosed denies: a synthesized decision with Allowed false.
	FailClosed
)

func (m FailMode) String() string {
	switch m {
	case FailError:
		return "error"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "FailMode(?)"
}

// Synthesize returns the decision the fail mode gives a check that failed with err, and
// whether it applies: only in FailOpen or FailClosed, and only when the store was unavailable
// or timed out. Bad input, unknown policies and logic faults are never papered over. The
// decision reports limit, the limit a check of the policy would (policy.ReportedLimit: burst
// for gcra; 0 where it is unknown), remaining = limit when open and 0 when closed, no reset
// time and no retry hint.
func (m FailMode) Synthesize(limit int64, err error) (Decision, bool) {
	if (m != FailOpen && m != FailClosed) || !(errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout)) {
		return Decision{}, false
	}
	d := Decision{Allowed: m == FailOpen, Limit: limit, Synthesized: true}
	if d.Allowed {
		d.Remaining = d.Limit
	}
	return d, true
}
