package luascripts

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"slices"
	"testing"
)

// The drift gate: a script's bytes may change only together with its manifest entry, so an
// edit is always deliberate and visible in review (other implementations pin these digests).
func TestManifestMatchesScriptBytes(t *testing.T) {
	for _, s := range All() {
		sum := sha256.Sum256([]byte(s.Source))
		if got := hex.EncodeToString(sum[:]); got != s.SHA256 {
			t.Errorf("%s: %s has sha256 %s, manifest.json says %s; update the manifest only if the change is intended",
				s.Name, s.File, got, s.SHA256)
		}
	}
}

func TestEveryLuaFileIsInTheManifest(t *testing.T) {
	listed := map[string]bool{}
	for _, s := range All() {
		if listed[s.File] {
			t.Errorf("%s listed twice", s.File)
		}
		listed[s.File] = true
	}
	lua, err := fs.Glob(Files(), "*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range lua {
		if !listed[f] {
			t.Errorf("%s is not in manifest.json", f)
		}
	}
	if len(lua) != len(listed) {
		t.Errorf("%d .lua files, %d manifest entries", len(lua), len(listed))
	}
}

// The set of scripts and their ARGV order are part of the contract (lua-contract.md).
func TestManifestEntries(t *testing.T) {
	checkArgv := map[string][]string{
		"gcra":             {"now", "periodMs", "limit", "burst", "cost"},
		"tokenBucket":      {"now", "capacity", "refillPerSec", "cost"},
		"fixedWindow":      {"now", "limit", "windowMs", "cost"},
		"slidingWindow":    {"now", "windowMs", "limit", "cost", "buckets"},
		"slidingWindowLog": {"now", "windowMs", "limit", "cost"},
	}
	want := map[string][]string{}
	for strategy, argv := range checkArgv {
		want[strategy+".check"] = argv
		want[strategy+".forecast"] = argv
		want[strategy+".peek"] = slices.DeleteFunc(slices.Clone(argv), func(n string) bool { return n == "cost" })
	}
	want["tokenBudget.debit"] = []string{"now", "budget", "windowMs", "tokens"}
	want["tokenBudget.peek"] = []string{"now", "budget", "windowMs"}
	quota := []string{"now", "limit", "cost", "mode", "periodMs", "anchor", "offsetMs", "weekStartsOn"}
	want["quota.check"] = quota
	want["quota.forecast"] = quota
	want["quota.peek"] = slices.DeleteFunc(slices.Clone(quota), func(n string) bool { return n == "cost" })

	// Besides these, the scripts of our own operations (TestComposed, and the admission
	// script's own tests).
	strategyScripts := 0
	for _, s := range All() {
		if s.Strategy != "all" && s.Strategy != Federated && s.Role != RoleRefund && s.Role != RoleAdmission && s.Role != RoleOverride {
			strategyScripts++
		}
	}
	if strategyScripts != len(want) {
		t.Errorf("manifest has %d strategy scripts, want %d", strategyScripts, len(want))
	}
	for name, argv := range want {
		s, ok := byName[name]
		if !ok {
			t.Errorf("%s missing from manifest", name)
			continue
		}
		if s.Strategy+"."+s.Role != name || s.File != name+".lua" {
			t.Errorf("%s: strategy %q role %q file %q", name, s.Strategy, s.Role, s.File)
		}
		if !slices.Equal(s.Argv, argv) {
			t.Errorf("%s argv = %v, want %v", name, s.Argv, argv)
		}
		if !slices.Equal(s.Keys, []string{"key"}) {
			t.Errorf("%s keys = %v, want [key]", name, s.Keys)
		}
		if got, ok := Lookup(s.Strategy, s.Role); !ok || got != s {
			t.Errorf("Lookup(%q, %q) does not return the manifest entry", s.Strategy, s.Role)
		}
		if len(s.SHA1) != 40 || path.Ext(s.File) != ".lua" {
			t.Errorf("%s: bad digest %q or file %q", name, s.SHA1, s.File)
		}
	}
	if ContractVersion() != "1" {
		t.Errorf("contract version %q", ContractVersion())
	}
}

// The coordinator's scripts of federated budgets (two-tier.md §6.1): one HASH key, upstream's
// ARGV order.
func TestFederationScripts(t *testing.T) {
	want := map[string][]string{
		RoleLease:     {"now", "tokens", "windowMs", "perKeyBudget"},
		RoleReconcile: {"now", "leftover", "windowStart", "windowMs", "perKeyBudget"},
	}
	for role, argv := range want {
		s, ok := Lookup(Federated, role)
		if !ok {
			t.Errorf("%s.%s missing from the manifest", Federated, role)
			continue
		}
		if !slices.Equal(s.Argv, argv) || len(s.Keys) != 1 || s.File != s.Name+".lua" {
			t.Errorf("%s: argv %v keys %v file %q; want argv %v and one key", s.Name, s.Argv, s.Keys, s.File, argv)
		}
	}
}
