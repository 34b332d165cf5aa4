// Package golden loads the ThrottleKit 1.x golden vectors for the conformance tests: the copy
// vendored at contract/golden-vectors.json (pinned by contract/golden-vectors.json.sha256), or
// the file $THROTTLEKIT_GOLDEN_VECTORS names when that variable is set and not empty.
package golden

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
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

// ModulePath is the module whose root holds contract/.
const ModulePath = "github.com/throttlekit/throttlekit-go"

// VendoredName is the vendored copy's file name, inside contract/; ChecksumName pins its bytes
// (one sha256sum line: `sha256sum -c` in contract/ checks it).
const (
	VendoredName = "golden-vectors.json"
	ChecksumName = VendoredName + ".sha256"
)

// RepoRoot is the root of this module's source tree: the directory three levels above this
// file when the build recorded an absolute path for it, else the nearest directory at or above
// the working directory whose go.mod declares ModulePath.
func RepoRoot() (string, error) {
	if _, here, _, ok := runtime.Caller(0); ok && filepath.IsAbs(here) {
		root := filepath.Join(filepath.Dir(here), "..", "..")
		if isModuleRoot(root) {
			return filepath.Clean(root), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no directory at or above the working directory holds the go.mod of %s", ModulePath)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == ModulePath {
			return true
		}
	}
	return false
}

// VendoredPath is the vendored copy: <repo root>/contract/golden-vectors.json.
func VendoredPath() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "contract", VendoredName), nil
}

// Path is where Load reads: $THROTTLEKIT_GOLDEN_VECTORS when set and not empty, else the
// vendored copy.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	return VendoredPath()
}

// Load reads and checks the vectors. Anything missing or malformed fails the test: the
// vendored copy is part of the repository, so there is nothing to skip.
func Load(tb testing.TB) *File {
	tb.Helper()
	path, err := Path()
	if err != nil {
		tb.Fatalf("golden vectors: %v", err)
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden vectors: %v", err)
		return nil
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatalf("%s: %v", path, err)
		return nil
	}
	if f.ContractVersion != "1" || len(f.Suites) == 0 {
		tb.Fatalf("%s: contract version %q with %d suites; expected version 1", path, f.ContractVersion, len(f.Suites))
		return nil
	}
	return &f
}

// VerifyChecksum checks data against a sha256sum-format checksum file that must hold exactly
// one line, for the file called name.
func VerifyChecksum(data, sumFile []byte, name string) error {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(sumFile))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			lines = append(lines, sc.Text())
		}
	}
	if len(lines) != 1 {
		return fmt.Errorf("checksum file: want one line, got %d", len(lines))
	}
	// sha256sum writes "<64 hex digits>  <name>" (text mode) or "<hex> *<name>" (binary mode).
	sum, file, ok := strings.Cut(lines[0], " ")
	file = strings.TrimPrefix(strings.TrimPrefix(file, " "), "*")
	if !ok || file != name {
		return fmt.Errorf("checksum file: line %q does not name %s", lines[0], name)
	}
	want, err := hex.DecodeString(sum)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("checksum file: %q is not a sha256 digest", sum)
	}
	got := sha256.Sum256(data)
	if !bytes.Equal(got[:], want) {
		return errors.New("sha256 " + hex.EncodeToString(got[:]) + ", but the checksum file pins " + sum)
	}
	return nil
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
