package front_test

import (
	"strings"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keyslot"
	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// The override record of a state key sits in the key's Cluster slot, starts with "{" (so no
// policy with a prefix can take it as a state key), and two state keys never share one.
func TestOverrideKeySlotAndShape(t *testing.T) {
	cases := map[string]string{
		"tiers:gold":       "{tiers:gold}:override",
		"ns:tiers:{u42}:a": "{u42}:override:ns:tiers:{u42}:a",
		"tiers:{u42}":      "{u42}:override:tiers:{u42}",
		"tiers:{x":         "{tiers:{x}:override",
		"tiers:{}x":        "{16458}:override:tiers:{}x",
	}
	for state, want := range cases {
		if got := front.OverrideKey(state); got != want {
			t.Errorf("OverrideKey(%q) = %q, want %q", state, got, want)
		}
	}
	seen := map[string]string{}
	keys := []string{"", "a", "a}", "}", "{}", "{a}", "x{a}y", "x{}y}", "x:{{a}}", "t:{a}:override", "{a}:override",
		"tiers:a}b", "tiers:}{", "p:\xff\x00}", "p:{" + strings.Repeat("z", 300)}
	for i := range 2000 {
		keys = append(keys, "tiers:"+strings.Repeat("}", i%3)+string(rune('a'+i%26))+strings.Repeat("{", i%2)+string(rune('0'+i%10))+strings.Repeat("x", i/26))
	}
	for _, k := range keys {
		o := front.OverrideKey(k)
		if keyslot.Of(o) != keyslot.Of(k) {
			t.Errorf("OverrideKey(%q) = %q: slot %d, the state key's is %d", k, o, keyslot.Of(o), keyslot.Of(k))
		}
		if !strings.HasPrefix(o, "{") {
			t.Errorf("OverrideKey(%q) = %q does not start with {", k, o)
		}
		if prev, dup := seen[o]; dup && prev != k {
			t.Errorf("%q and %q share the override key %q", prev, k, o)
		}
		seen[o] = k
	}
}

// The policy package names the fields an override replaces as the scripts do.
func TestOverrideFieldsMatchTheScripts(t *testing.T) {
	for _, s := range []policy.Strategy{policy.GCRA, policy.TokenBucket, policy.FixedWindow, policy.SlidingWindow, policy.SlidingWindowLog} {
		got, want := strings.Join(policy.OverrideFields(s), ","), strings.Join(luascripts.OverrideFields(string(s)), ",")
		if got != want || got == "" {
			t.Errorf("%s: policy says %q, luascripts %q", s, got, want)
		}
		if _, ok := luascripts.Lookup(string(s), luascripts.RoleOverride); !ok {
			t.Errorf("%s: no override script", s)
		}
	}
}
