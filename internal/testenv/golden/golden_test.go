package golden

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func vendored(t *testing.T) (path string, data []byte) {
	t.Helper()
	path, err := VendoredPath()
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatalf("the vendored golden vectors must be in the repository: %v", err)
	}
	return path, data
}

// The vendored copy's bytes are the ones contract/golden-vectors.json.sha256 pins.
func TestVendoredVectorsMatchChecksum(t *testing.T) {
	path, data := vendored(t)
	sumPath := filepath.Join(filepath.Dir(path), ChecksumName)
	sumFile, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatalf("the checksum file must be in the repository: %v", err)
	}
	if err := VerifyChecksum(data, sumFile, VendoredName); err != nil {
		t.Fatalf("%s does not match %s: %v", path, sumPath, err)
	}
}

// VerifyChecksum accepts the pinned bytes and refuses any other, and refuses malformed files.
func TestVerifyChecksumRefusesDrift(t *testing.T) {
	data := []byte(`{"contractVersion": "1"}` + "\n")
	sum := sha256.Sum256(data)
	line := hex.EncodeToString(sum[:]) + "  " + VendoredName + "\n"
	if err := VerifyChecksum(data, []byte(line), VendoredName); err != nil {
		t.Fatalf("matching bytes refused: %v", err)
	}
	if err := VerifyChecksum(data, []byte(hex.EncodeToString(sum[:])+" *"+VendoredName+"\n"), VendoredName); err != nil {
		t.Fatalf("binary-mode line refused: %v", err)
	}
	changed := bytes.Replace(data, []byte("1"), []byte("2"), 1)
	bad := map[string]struct {
		data []byte
		sums string
	}{
		"one byte changed":      {changed, line},
		"a byte appended":       {append(bytes.Clone(data), ' '), line},
		"other file named":      {data, hex.EncodeToString(sum[:]) + "  other.json\n"},
		"short digest":          {data, hex.EncodeToString(sum[:20]) + "  " + VendoredName + "\n"},
		"not hex":               {data, strings.Repeat("z", 64) + "  " + VendoredName + "\n"},
		"two lines":             {data, line + line},
		"empty":                 {data, ""},
		"no file name":          {data, hex.EncodeToString(sum[:]) + "\n"},
		"wrong but same length": {data, strings.Repeat("0", 64) + "  " + VendoredName + "\n"},
	}
	for name, c := range bad {
		if err := VerifyChecksum(c.data, []byte(c.sums), VendoredName); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The vendored copy equals the shared contract's when the repository sits beside one
// (../shared/contract); a plain clone has none, and then there is nothing to compare.
func TestVendoredVectorsMatchSharedContract(t *testing.T) {
	path, data := vendored(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(root, "..", "shared", "contract", VendoredName)
	want, err := os.ReadFile(shared)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no shared contract at %s (a standalone clone): nothing to compare", shared)
	}
	if err != nil {
		t.Fatalf("reading the shared contract: %v", err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("%s differs from %s: copy the shared file over it and update %s with `sha256sum %s > %s` in contract/",
			path, shared, ChecksumName, VendoredName, ChecksumName)
	}
}

// By default Load reads the vendored copy, and finds both primitives in it.
func TestLoadReadsTheVendoredCopyByDefault(t *testing.T) {
	t.Setenv(EnvPath, "")
	want, err := VendoredPath()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Path(); err != nil || got != want {
		t.Fatalf("Path() = %q, %v; want %q", got, err, want)
	}
	f := Load(t)
	if len(f.Of("rateLimit")) == 0 || len(f.Of("tokenBudget")) == 0 {
		t.Fatalf("rateLimit suites %d, tokenBudget suites %d", len(f.Of("rateLimit")), len(f.Of("tokenBudget")))
	}
	fields := strings.Join(f.DecisionFields, ",")
	if fields != "allowed,limit,remaining,resetAt,retryAfterMs" {
		t.Fatalf("decisionFields %s", fields)
	}
}

// THROTTLEKIT_GOLDEN_VECTORS, when set, replaces the vendored copy.
func TestLoadHonoursTheOverride(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vectors.json")
	doc := `{"contractVersion": "1", "suites": [{"primitive": "rateLimit", "name": "only-one"}]}`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPath, p)
	f := Load(t)
	if len(f.Suites) != 1 || f.Suites[0].Name != "only-one" {
		t.Fatalf("Load read %+v, not the override", f.Suites)
	}
}

// fatalTB records a Fatalf or Skipf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, format
	runtime.Goexit()
}
func (f *fatalTB) Skipf(format string, args ...any) {
	f.skipped = true
	runtime.Goexit()
}

func loadWith(tb *fatalTB) (f *File) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f = Load(tb)
	}()
	wg.Wait()
	return f
}

// Missing or malformed vectors fail the test; they are never a skip.
func TestLoadFailsInsteadOfSkipping(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.json")
	wrongVersion := filepath.Join(dir, "v2.json")
	if err := os.WriteFile(notJSON, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrongVersion, []byte(`{"contractVersion": "2", "suites": [{}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing":       filepath.Join(dir, "absent.json"),
		"not JSON":      notJSON,
		"wrong version": wrongVersion,
	} {
		t.Setenv(EnvPath, path)
		tb := &fatalTB{}
		if f := loadWith(tb); f != nil || !tb.failed || tb.skipped {
			t.Errorf("%s: Load returned %v, failed %v, skipped %v", name, f != nil, tb.failed, tb.skipped)
		}
	}
}
