package policy

import "testing"

func TestEffectivePrefix(t *testing.T) {
	cases := []struct {
		name, src string
		want      map[string]string // policy -> Prefix
	}{
		{"name by default", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n",
			map[string]string{"api": "api"}},
		{"defaults.prefix applies", "defaults: { prefix: prod }\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n",
			map[string]string{"api": "prod"}},
		{"own prefix beats defaults", "defaults: { prefix: prod }\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n  login: { strategy: gcra, limit: 1, period: 1s, prefix: auth }\n",
			map[string]string{"api": "prod", "login": "auth"}},
		{"explicit empty prefix", "defaults: { prefix: prod }\nlimiters:\n  api: { strategy: gcra, limit: 1, period: 1s, prefix: \"\" }\n",
			map[string]string{"api": ""}},
		{"defaults after limiters", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\ndefaults: { prefix: late }\n",
			map[string]string{"api": "late"}},
		{"meter prefix", "limiters:\n  llm: { prefix: tok, tokenBudget: { budget: 5, windowMs: 1s } }\n",
			map[string]string{"llm": "tok"}},
		{"unsupported policies never clash", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n  q: { strategy: quota, prefix: api }\n  c: { concurrency: {}, prefix: api }\n",
			map[string]string{"api": "api", "q": "api", "c": "api"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.src)
			for name, prefix := range c.want {
				if got := lookup(t, s, name).Prefix; got != prefix {
					t.Errorf("%s: Prefix = %q, want %q", name, got, prefix)
				}
			}
		})
	}
}

func TestPrefixClash(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // full messages, in order
	}{
		{"same own prefix", "limiters:\n  a: { strategy: gcra, limit: 1, period: 1s }\n  b: { strategy: tokenBucket, capacity: 1, refillPerSec: 1, prefix: a }\n",
			[]string{`config.limiters[b].prefix: policies "a" and "b" share the key prefix "a"; give one of them its own prefix`}},
		{"defaults.prefix shared", "defaults: { prefix: prod }\nlimiters:\n  a: { strategy: gcra, limit: 1, period: 1s }\n  b: { strategy: gcra, limit: 1, period: 1s }\n  c: { strategy: gcra, limit: 1, period: 1s }\n",
			[]string{
				`config.limiters[b].prefix: policies "a" and "b" share the key prefix "prod"; give one of them its own prefix`,
				`config.limiters[c].prefix: policies "a" and "c" share the key prefix "prod"; give one of them its own prefix`,
			}},
		{"two empty prefixes", "limiters:\n  a: { strategy: gcra, limit: 1, period: 1s, prefix: \"\" }\n  m: { prefix: \"\", tokenBudget: { budget: 1, windowMs: 1 } }\n",
			[]string{`config.limiters[m].prefix: policies "a" and "m" share the key prefix ""; give one of them its own prefix`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustFail(t, c.src)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %q", got, c.want)
			}
			for i := range got {
				if got[i].Error() != c.want[i] {
					t.Errorf("problem %d:\n got %q\nwant %q", i, got[i].Error(), c.want[i])
				}
			}
		})
	}
}
