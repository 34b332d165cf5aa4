package luascripts

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite all.batch.lua and its manifest digest from the check scripts")

// The batch script is the composition of today's check scripts: a check script that changes
// without the batch being composed again fails here (regenerate with -update).
func TestBatchIsComposed(t *testing.T) {
	s, ok := byName[BatchName]
	if !ok {
		t.Fatalf("%s missing from manifest.json", BatchName)
	}
	want := composeBatch(All())
	if *update {
		writeBatch(t, s, want)
		return
	}
	if s.Source != want {
		t.Fatalf("%s is not the composition of the check scripts: run go test ./luascripts -run TestBatchIsComposed -update", s.File)
	}
	for _, c := range All() {
		if c.Role == RoleCheck && !strings.Contains(s.Source, c.Source) {
			t.Errorf("%s does not hold %s byte for byte", s.File, c.File)
		}
	}
	if s.Strategy != "all" || s.Role != RoleBatch || s.File != BatchName+".lua" {
		t.Errorf("%s: strategy %q role %q file %q", BatchName, s.Strategy, s.Role, s.File)
	}
}

func writeBatch(t *testing.T, s *Script, source string) {
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
