// Package golden loads the ThrottleKit 1.x golden vectors (../shared/contract beside the
// project, or $THROTTLEKIT_GOLDEN_VECTORS) for the conformance tests.
package golden

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// EnvPath overrides where the vectors are read from.
const EnvPath = "THROTTLEKIT_GOLDEN_VECTORS"

// Offsets the contract's README fixes for replaying against a real clock origin.
const (
	RateLimitOffsetMs   = 1000
	TokenBudgetOffsetMs = 3_600_000
)

// Expect is one expected decision.
type Expect struct {
	Allowed      bool  `json:"allowed"`
	Limit        int64 `json:"limit"`
	Remaining    int64 `json:"remaining"`
	ResetAt      int64 `json:"resetAt"`
	RetryAfterMs int64 `json:"retryAfterMs"`
}

// Op is one step of a suite: a check (Cost) or a debit (Tokens) at Now.
type Op struct {
	Now    int64  `json:"now"`
	Cost   int64  `json:"cost"`
	Tokens int64  `json:"tokens"`
	Expect Expect `json:"expect"`
}

// Suite is one timeline on a fresh key.
type Suite struct {
	Primitive string `json:"primitive"` // rateLimit, tokenBudget, lease
	Name      string `json:"name"`
	Strategy  struct {
		Kind    string         `json:"kind"`
		Options map[string]any `json:"options"`
	} `json:"strategy"`
	Options map[string]any `json:"options"` // tokenBudget: budget, windowMs
	Key     string         `json:"key"`
	Ops     []Op           `json:"ops"`
}

// File is the whole vectors file.
type File struct {
	ContractVersion string   `json:"contractVersion"`
	DecisionFields  []string `json:"decisionFields"`
	Suites          []Suite  `json:"suites"`
}

// Load reads the vectors, or stops the test (skip locally, fail under CI=true).
func Load(tb testing.TB) *File {
	tb.Helper()
	path := os.Getenv(EnvPath)
	if path == "" {
		_, here, _, _ := runtime.Caller(0)
		path = filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "contract", "golden-vectors.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		testenv.Require(tb, "golden vectors not readable ("+err.Error()+"); set "+EnvPath)
		return nil
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if f.ContractVersion != "1" || len(f.Suites) == 0 {
		tb.Fatalf("%s: contract version %q with %d suites; expected version 1", path, f.ContractVersion, len(f.Suites))
	}
	return &f
}

// Of returns the suites of one primitive.
func (f *File) Of(primitive string) []Suite {
	var out []Suite
	for _, s := range f.Suites {
		if s.Primitive == primitive {
			out = append(out, s)
		}
	}
	return out
}

// PolicyYAML is a policy file holding the suite's limiter (rateLimit) or meter (tokenBudget)
// as the policy called name, its parameters under their contract names.
func (s Suite) PolicyYAML(name string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "limiters:\n  %s:\n", name)
	if s.Primitive == "tokenBudget" {
		fmt.Fprintf(&sb, "    tokenBudget: { budget: %v, windowMs: %v }\n", s.Options["budget"], s.Options["windowMs"])
		return sb.String()
	}
	fmt.Fprintf(&sb, "    strategy: %s\n", s.Strategy.Kind)
	for _, k := range slices.Sorted(maps.Keys(s.Strategy.Options)) {
		fmt.Fprintf(&sb, "    %s: %v\n", k, s.Strategy.Options[k])
	}
	return sb.String()
}

// KeyOrDefault is the suite's key ("k" when it names none, as the tokenBudget suites do).
func (s Suite) KeyOrDefault() string {
	if s.Key == "" {
		return "k"
	}
	return s.Key
}
