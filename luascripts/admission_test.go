package luascripts

import (
	"slices"
	"testing"
)

// The admission script's manifest entry is part of the contract like the strategies': one
// guard key, and its ARGV names in the order callers marshal them.
func TestAdmissionManifestEntry(t *testing.T) {
	s, ok := Lookup("concurrency", RoleAdmission)
	if !ok || s.Name != AdmissionName || s.File != AdmissionName+".lua" {
		t.Fatalf("Lookup(concurrency, admission) = %+v, %v", s, ok)
	}
	want := []string{"now", "op", "leaseTtlMs", "minLimit", "maxLimit", "initialLimit", "algorithm",
		"rttWindow", "smoothing", "tolerance", "backoffRatio", "args..."}
	if !slices.Equal(s.Argv, want) {
		t.Errorf("argv = %v, want %v", s.Argv, want)
	}
	if !slices.Equal(s.Keys, []string{"guard"}) {
		t.Errorf("keys = %v, want [guard]", s.Keys)
	}
}
