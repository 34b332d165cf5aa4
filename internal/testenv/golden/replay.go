package golden

import "testing"

// A Step makes one op of a suite at nowMs (the op's now plus the contract's offset): a check
// of op.Cost for a rateLimit suite, a debit of op.Tokens for a tokenBudget one. It answers the
// decision's five contract fields.
type Step func(op Op, nowMs int64) (Expect, error)

// Replay runs every rateLimit and tokenBudget suite as a subtest of t named prefix+suite:
// open prepares a fresh limiter serving the suite's policy as "p" on its key, and every field
// of every answer is compared with the vectors. It is the one replay of every Go door.
func Replay(t *testing.T, prefix string, open func(t *testing.T, s Suite) Step) {
	t.Helper()
	vectors := Load(t)
	for _, primitive := range []string{"rateLimit", "tokenBudget"} {
		suites := vectors.Of(primitive)
		if len(suites) == 0 {
			t.Fatalf("no %s suites in the golden vectors", primitive)
		}
		offset := int64(RateLimitOffsetMs)
		if primitive == "tokenBudget" {
			offset = TokenBudgetOffsetMs
		}
		for _, s := range suites {
			t.Run(prefix+s.Name, func(t *testing.T) {
				step := open(t, s)
				for i, op := range s.Ops {
					got, err := step(op, op.Now+offset)
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
					want := op.Expect
					want.ResetAt += offset
					if got != want {
						t.Errorf("op %d:\n got  %+v\n want %+v", i, got, want)
					}
				}
			})
		}
	}
}
