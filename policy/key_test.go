package policy

import (
	"strings"
	"testing"
)

// The examples of policies.md "Redis key", for key K.
func TestRedisKeySpecExamples(t *testing.T) {
	s := mustParse(t, `limiters:
  api: { strategy: gcra, limit: 1, period: 1s }
  login: { strategy: gcra, limit: 1, period: 1s, prefix: auth }
`)
	// prefix: "" takes raw keys, so it clashes with any other policy: it stands alone.
	raw := mustParse(t, "limiters:\n  raw: { strategy: gcra, limit: 1, period: 1s, prefix: \"\" }\n")
	cases := []struct{ policy, namespace, want string }{
		{"api", "", "api:K"},
		{"login", "", "auth:K"},
		{"raw", "", "K"},
		{"api", "ns", "ns:api:K"},
		{"login", "ns", "ns:auth:K"},
		{"raw", "ns", "ns:K"},
	}
	for _, c := range cases {
		set := s
		if c.policy == "raw" {
			set = raw
		}
		if got := lookup(t, set, c.policy).RedisKey(c.namespace, "K"); got != c.want {
			t.Errorf("%s with namespace %q: %q, want %q", c.policy, c.namespace, got, c.want)
		}
	}
	d := mustParse(t, "defaults: { prefix: prod }\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n")
	if got := lookup(t, d, "api").RedisKey("", "K"); got != "prod:K" {
		t.Errorf("defaults.prefix: %q, want prod:K", got)
	}
	if got := lookup(t, s, "api").RedisKey("", "a:{b} c"); got != "api:a:{b} c" {
		t.Errorf("opaque key: %q", got)
	}
}

func TestValidateKey(t *testing.T) {
	cases := []struct {
		name, key string
		ok        bool
	}{
		{"empty", "", true},
		{"max length", strings.Repeat("k", MaxKeyBytes), true},
		{"one over", strings.Repeat("k", MaxKeyBytes+1), false},
		{"NUL", "a\x00b", false},
		{"invalid UTF-8", "\xff\xfe:{}", true},
		{"separators and spaces", "user:42 {x}", true},
	}
	for _, c := range cases {
		if err := ValidateKey(c.key); (err == nil) != c.ok {
			t.Errorf("%s: ValidateKey = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
