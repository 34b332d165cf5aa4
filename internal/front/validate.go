package front

import (
	"strconv"
	"strings"
	"unicode/utf8"

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
		// Built by hand, without fmt: a caller probing unknown names (a typo in a hot loop, a
		// bench of the C boundary) should not pay for it. Bounded whatever the name and the
		// number of policies (wire-contract.md: an error message is at most 1,024 bytes).
		return nil, &Error{Kind: ErrPolicyNotFound, Msg: "unknown policy " + quotedCut(name, maxQuotedName) +
			" (configured: " + ps.names + ")"}
	}
	if pp.p.Unsupported != "" {
		return nil, &Error{Kind: ErrUnsupported, Msg: "policy " + quotedCut(name, maxQuotedName) + " uses " +
			quotedCut(pp.p.Unsupported, maxQuotedName) + ", a feature this version does not support"}
	}
	return pp, nil
}

// The bounds of the messages lookup builds. Worst case (every byte of a quoted name escaped
// as \xNN, every listed name cut) they stay under 600 bytes, well within the contract's 1,024
// and short enough that the C ABI's 256-byte message buffer still shows the caller's name.
const (
	maxQuotedName = 64 // bytes of a caller's name shown before the cut
	maxListedName = 32 // bytes of a configured name shown before the cut
	maxListed     = 5  // configured names listed before "and N more"
)

// quotedCut is quoted(s) when s has at most max bytes; otherwise its first max bytes (cut at
// a character boundary) quoted, then "…" and the full length, e.g. "aaaa"… (8192 bytes).
// The ellipsis stays outside the quotes, so it cannot be mistaken for part of the name.
func quotedCut(s string, max int) string {
	if len(s) <= max {
		return quoted(s)
	}
	return quoted(s[:cutAt(s, max)]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// cutAt is the largest i <= max at which s can be cut without splitting a UTF-8 character.
func cutAt(s string, max int) int {
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	if i == 0 { // not UTF-8 at all: cut at the byte
		i = max
	}
	return i
}

// listNames lists the first configured names (sorted), each cut to maxListedName bytes, then
// how many more there are: "a, b, c, d, e, and 99995 more". Built once per policy set, so that
// a miss costs one concatenation however many policies there are.
func listNames(names []string) string {
	var b strings.Builder
	for i, name := range names[:min(len(names), maxListed)] {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(name) > maxListedName {
			name = name[:cutAt(name, maxListedName)] + "…"
		}
		b.WriteString(name)
	}
	if more := len(names) - maxListed; more > 0 {
		b.WriteString(", and " + strconv.Itoa(more) + " more")
	}
	return b.String()
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
