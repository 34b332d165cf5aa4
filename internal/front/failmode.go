package front

import (
	"errors"

	"github.com/throttlekit/throttlekit-go/policy"
)

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

// Apply is Synthesize for a failed check of policyName, with the limit the policy reports in
// set. A nil set (the service door: its server holds the policies) reports limit 0; a set
// without the policy (swapped meanwhile) synthesizes nothing, and the error stands. Every
// fail mode in the project, the server's and the C ABI's, is this function.
func (m FailMode) Apply(set *policy.Set, policyName string, err error) (Decision, bool) {
	var limit int64
	if set != nil {
		p, ok := set.Lookup(policyName)
		if !ok {
			return Decision{}, false
		}
		limit = p.ReportedLimit()
	}
	return m.Synthesize(limit, err)
}
