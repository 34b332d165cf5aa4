package luascripts

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the composed scripts and their manifest digests from their sources")

// The generated scripts are the composition of today's sources: a check, peek or part that
// changes without them being composed again fails here (regenerate with -update).
func TestComposed(t *testing.T) {
	want := composed(All())
	byFile := map[string]*Script{}
	for _, s := range All() {
		byFile[s.File] = s
	}
	for file, source := range want {
		s, ok := byFile[file]
		if !ok {
			t.Errorf("%s is composed but missing from manifest.json", file)
			continue
		}
		if *update {
			writeComposed(t, s, source)
			continue
		}
		if s.Source != source {
			t.Errorf("%s is not the composition of its sources: run go test ./luascripts -run TestComposed -update", file)
		}
	}
	batch := byName[BatchName]
	for _, c := range All() {
		if c.Role == RoleCheck && !strings.Contains(batch.Source, c.Source) {
			t.Errorf("%s does not hold %s byte for byte", batch.File, c.File)
		}
	}
	if batch.Strategy != "all" || batch.Role != RoleBatch || batch.File != BatchName+".lua" {
		t.Errorf("%s: strategy %q role %q file %q", BatchName, batch.Strategy, batch.Role, batch.File)
	}
	for _, s := range All() {
		if s.Role == RoleRefund {
			if _, ok := want[s.File]; !ok {
				t.Errorf("%s: a refund script without a part to compose it from", s.File)
			}
		}
	}
}

func writeComposed(t *testing.T, s *Script, source string) {
	if err := os.WriteFile(s.File, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(source))
	updated := strings.Replace(string(manifest), s.SHA256, hex.EncodeToString(sum[:]), 1)
	if err := os.WriteFile("manifest.json", []byte(updated), 0o644); err != nil {
		t.Fatal(err)
	}
}
