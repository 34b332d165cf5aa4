package golden

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// QuotaVectorsName is the project's own quota vectors, in contract/ beside upstream's: worked
// by hand from spec quota.md, since upstream publishes none for quota.
const QuotaVectorsName = "quota-vectors.json"

// QuotaState is a key's raw state as the vectors give it: its hash fields and PTTL, at the
// op's clock.
type QuotaState struct {
	Hash map[string]string `json:"hash"`
	TTL  int64             `json:"ttl"`
}

// ForecastExpect is one expected forecast.
type ForecastExpect struct {
	SpendableNow    int64 `json:"spendableNow"`
	NextReplenishAt int64 `json:"nextReplenishAt"`
	FullAt          int64 `json:"fullAt"`
}

// QuotaOp is one step: a check, peek or forecast at Now, or a write that sets the key's
// state up; State is the key after it (nil: no key).
type QuotaOp struct {
	Op       string          `json:"op"` // check, peek, forecast, write
	Now      int64           `json:"now"`
	Cost     int64           `json:"cost"`
	Expect   *Expect         `json:"expect"`
	Forecast *ForecastExpect `json:"forecast"`
	State    *QuotaState     `json:"state"`
}

// Writes reports whether the op stores state: an admitted check, or a set-up write.
func (op QuotaOp) Writes() bool {
	return op.Op == "write" || op.Op == "check" && op.Expect != nil && op.Expect.Allowed
}

// QuotaSuite is one timeline on a fresh key of one policy.
type QuotaSuite struct {
	Name   string    `json:"name"`
	Policy string    `json:"policy"` // a YAML flow mapping
	Ops    []QuotaOp `json:"ops"`
}

// PolicyYAML is a policy file holding the suite's policy as the policy called name.
func (s QuotaSuite) PolicyYAML(name string) string {
	return "limiters:\n  " + name + ": " + s.Policy + "\n"
}

// LoadQuota reads contract/quota-vectors.json; anything missing or malformed fails the test.
func LoadQuota(tb testing.TB) []QuotaSuite {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("quota vectors: %v", err)
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(root, "contract", QuotaVectorsName))
	if err != nil {
		tb.Fatalf("quota vectors: %v", err)
		return nil
	}
	var f struct {
		Suites []QuotaSuite `json:"suites"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatalf("quota vectors: %v", err)
		return nil
	}
	if len(f.Suites) == 0 {
		tb.Fatal("quota vectors: no suites")
	}
	return f.Suites
}

// QuotaRunner makes a suite's ops on one door. Check, Peek and Forecast are required; the
// rest are optional, for doors whose store the test can see.
type QuotaRunner struct {
	Check    func(nowMs, cost int64) (Expect, error)
	Peek     func(nowMs int64) (Expect, error)
	Forecast func(nowMs, cost int64) (ForecastExpect, error)

	// State reads the key's raw state at nowMs (nil: the key does not exist). Without it the
	// state is not compared.
	State func(nowMs int64) (*QuotaState, error)
	// Write stores a state as given (the vectors' write op); required when State is set.
	Write func(nowMs int64, st QuotaState) error

	// RealTimeTTL says the store's TTLs run on real time, not on the ops' clocks (Redis).
	// Then a TTL is compared only right after the op that set it, within TTLSlack ms, and a
	// key whose TTL is shorter than that may already be gone; Expire removes the key when the
	// ops' clock says it has expired, and Pin keeps a key the ops' clock says is live (its
	// state as the vectors give it, a long TTL), so the next op sees what the vectors assume.
	RealTimeTTL bool
	TTLSlack    int64
	Expire      func() error
	Pin         func(st QuotaState) error
}

// ReplayQuota runs every quota suite as a subtest of t named prefix+suite: open prepares a
// fresh door serving the suite's policy as "q" on a fresh key. Every field of every answer,
// and the raw state after every op where the runner can read it, are compared.
func ReplayQuota(t *testing.T, prefix string, open func(t *testing.T, s QuotaSuite) QuotaRunner) {
	t.Helper()
	for _, s := range LoadQuota(t) {
		t.Run(prefix+s.Name, func(t *testing.T) {
			r := open(t, s)
			var expireAt int64 // when the ops' clock says the key expires; 0: no key
			for i, op := range s.Ops {
				if r.RealTimeTTL && expireAt != 0 && expireAt <= op.Now {
					if err := r.Expire(); err != nil {
						t.Fatalf("op %d: expiring the key: %v", i, err)
					}
					expireAt = 0
				}
				if err := quotaStep(r, op); err != nil {
					t.Fatalf("op %d (%s at %d): %v", i, op.Op, op.Now, err)
				}
				if r.State != nil {
					quotaCompareState(t, r, i, op)
				}
				if op.Writes() && op.State != nil {
					expireAt = op.Now + op.State.TTL
					if r.Pin != nil {
						if err := r.Pin(*op.State); err != nil {
							t.Fatalf("op %d: pinning the key: %v", i, err)
						}
					}
				}
			}
		})
	}
}

// quotaStep makes one op and compares its answer.
func quotaStep(r QuotaRunner, op QuotaOp) error {
	switch op.Op {
	case "check", "peek":
		var got Expect
		var err error
		if op.Op == "check" {
			got, err = r.Check(op.Now, op.Cost)
		} else {
			got, err = r.Peek(op.Now)
		}
		if err != nil {
			return err
		}
		if op.Expect == nil || got != *op.Expect {
			return mismatch(got, op.Expect)
		}
	case "forecast":
		got, err := r.Forecast(op.Now, op.Cost)
		if err != nil {
			return err
		}
		if op.Forecast == nil || got != *op.Forecast {
			return mismatch(got, op.Forecast)
		}
	case "write":
		if r.Write == nil {
			return nil // a door that cannot write state cannot see it either
		}
		if op.State == nil {
			return fmt.Errorf("a write op needs a state")
		}
		return r.Write(op.Now, *op.State)
	default:
		return fmt.Errorf("unknown op %q", op.Op)
	}
	return nil
}

func quotaCompareState(t *testing.T, r QuotaRunner, i int, op QuotaOp) {
	t.Helper()
	got, err := r.State(op.Now)
	if err != nil {
		t.Fatalf("op %d: reading the state: %v", i, err)
	}
	want := op.State
	switch {
	case want == nil && got == nil:
		return
	case want == nil:
		t.Errorf("op %d (%s at %d): key holds %+v, want no key", i, op.Op, op.Now, *got)
		return
	case got == nil && r.RealTimeTTL && op.Writes() && want.TTL <= r.TTLSlack:
		// Real time may have used up a TTL this short already; Pin restores the key.
		t.Logf("op %d: the key's %d ms TTL ran out in real time before it could be read", i, want.TTL)
		return
	case got == nil:
		t.Errorf("op %d (%s at %d): no key, want %+v", i, op.Op, op.Now, *want)
		return
	}
	if !maps.Equal(got.Hash, want.Hash) {
		t.Errorf("op %d (%s at %d): hash %v, want %v", i, op.Op, op.Now, got.Hash, want.Hash)
	}
	switch {
	case !r.RealTimeTTL:
		if got.TTL != want.TTL {
			t.Errorf("op %d (%s at %d): TTL %d ms, want %d", i, op.Op, op.Now, got.TTL, want.TTL)
		}
	case op.Writes():
		if got.TTL > want.TTL || got.TTL <= want.TTL-r.TTLSlack {
			t.Errorf("op %d (%s at %d): TTL %d ms, want %d (less at most %d ms of real time)", i, op.Op, op.Now, got.TTL, want.TTL, r.TTLSlack)
		}
	}
}

func mismatch(got, want any) error { return fmt.Errorf("got %+v, want %+v", got, want) }
