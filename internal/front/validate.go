package front

import (
	"strconv"

	"github.com/throttlekit/throttlekit-go/policy"
)

// maxCost is the largest cost a double represents exactly (2^53 - 1): the scripts compute in
// doubles, so anything larger could not be counted exactly.
const maxCost = policy.MaxSafeInteger

// normalizeAmount applies the contract's input rule to a cost or token count.
func NormalizeAmount(name string, n int64) (int64, error) {
	switch {
	case n < 0:
		return 0, NewError(ErrInvalidArgument, "%s must not be negative, got %d", name, n)
	case n > maxCost:
		return 0, NewError(ErrInvalidArgument, "%s must be at most 2^53-1 (%d), got %d", name, int64(maxCost), n)
	case n == 0:
		return 1, nil
	}
	return n, nil
}

func ValidateNow(nowMs int64) error {
	if nowMs <= 0 {
		return NewError(ErrInvalidArgument, "explicit clock now must be > 0 epoch ms, got %d", nowMs)
	}
	if nowMs > maxCost {
		return NewError(ErrInvalidArgument, "explicit clock now must be at most 2^53-1, got %d", nowMs)
	}
	return nil
}

func ValidateKey(key string) error {
	if err := policy.ValidateKey(key); err != nil {
		return &Error{Kind: ErrInvalidArgument, Msg: err.Error(), Cause: err}
	}
	return nil
}

// lookup resolves a policy name, with the errors the contract fixes.
func (ps *preparedSet) lookup(name string) (*preparedPolicy, error) {
	if name == "" {
		return nil, NewError(ErrInvalidArgument, "policy name is empty")
	}
	pp, ok := ps.policies[name]
	if !ok {
		// Built by hand, in one allocation when the name needs no escaping: a caller probing
		// unknown names (a typo in a hot loop, a bench of the C boundary) should not pay for fmt.
		return nil, &Error{Kind: ErrPolicyNotFound, Msg: "unknown policy " + quoted(name) + " (configured: " + ps.names + ")"}
	}
	if pp.p.Unsupported != "" {
		return nil, NewError(ErrUnsupported, "policy %q uses %q, a feature this version does not support", name, pp.p.Unsupported)
	}
	return pp, nil
}

// quoted is strconv.Quote(s), without its work when s is printable ASCII with nothing to
// escape (the usual policy name).
func quoted(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}
