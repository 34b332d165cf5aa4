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
		{"unsupported policies never clash", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s }\n  q: { fairEscrow: {}, prefix: api }\n  c: { concurrency: {}, prefix: api }\n",
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
		t.Run(c.name, func(t *testing.T) { expectProblems(t, c.src, c.want) })
	}
}

// The two clashes, with the messages that name both policies and the rule.
func TestPrefixClashRules(t *testing.T) {
	const g = "{ strategy: gcra, limit: 1, period: 1s"
	cases := []struct {
		name, src string
		want      []string // full messages, in order
	}{
		{"a prefix and its \":\"-extension", "limiters:\n  x: " + g + " }\n  xy: " + g + ", prefix: \"x:y\" }\n",
			[]string{`config.limiters[xy].prefix: policies "x" and "xy" clash: prefix "x" is a ":"-prefix of prefix "x:y", so policy "x"'s key "y:K" is policy "xy"'s key "K"; give one of them its own prefix`}},
		{"the extension first", "limiters:\n  xy: " + g + ", prefix: \"x:y\" }\n  x: " + g + " }\n",
			[]string{`config.limiters[x].prefix: policies "xy" and "x" clash: prefix "x" is a ":"-prefix of prefix "x:y", so policy "x"'s key "y:K" is policy "xy"'s key "K"; give one of them its own prefix`}},
		{"empty prefix beside auth", "limiters:\n  login: " + g + ", prefix: auth }\n  raw: " + g + ", prefix: \"\" }\n",
			[]string{`config.limiters[raw].prefix: policies "login" and "raw" clash: policy "raw" has the empty prefix, which takes raw keys, so its key "auth:K" is policy "login"'s key "K" (a policy with prefix "" may only stand alone in a file); give one of them its own prefix`}},
		{"empty prefix first", "limiters:\n  raw: { prefix: \"\", tokenBudget: { budget: 1, windowMs: 1 } }\n  login: " + g + ", prefix: auth }\n",
			[]string{`config.limiters[login].prefix: policies "raw" and "login" clash: policy "raw" has the empty prefix, which takes raw keys, so its key "auth:K" is policy "login"'s key "K" (a policy with prefix "" may only stand alone in a file); give one of them its own prefix`}},
		{"policy names as prefixes", "limiters:\n  \"a:b\": " + g + " }\n  a: " + g + " }\n",
			[]string{`config.limiters[a].prefix: policies "a:b" and "a" clash: prefix "a" is a ":"-prefix of prefix "a:b", so policy "a"'s key "b:K" is policy "a:b"'s key "K"; give one of them its own prefix`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectProblems(t, c.src, c.want) })
	}
}

// Which policies clash, and with which earlier one each is reported; and what stays legal.
func TestPrefixClashPairs(t *testing.T) {
	cases := []struct {
		prefixes []string
		clashes  map[int]int // later policy -> the earlier policy named
	}{
		{[]string{"x", "x:y"}, map[int]int{1: 0}},
		{[]string{"x:y", "x"}, map[int]int{1: 0}},
		{[]string{"x", "x:"}, map[int]int{1: 0}},   // x's key ":K" is x:'s key "K"
		{[]string{"x", "x::y"}, map[int]int{1: 0}}, // x's key ":y:K"
		{[]string{"", "auth"}, map[int]int{1: 0}},  // the empty prefix takes every key
		{[]string{"auth", ""}, map[int]int{1: 0}},  //
		{[]string{"", ":"}, map[int]int{1: 0}},     //
		{[]string{"x", "x:y", "x:y:z"}, map[int]int{1: 0, 2: 0}},
		{[]string{"x:y:z", "q", "x:y", "x"}, map[int]int{2: 0, 3: 0}},
		{[]string{"a:b", "a:c", "a"}, map[int]int{2: 0}},
		{[]string{"p", "p", "p:1", "q"}, map[int]int{1: 0, 2: 0}},
		// Legitimately separate: no key of one is a key of the other.
		{[]string{"x", "xy"}, nil},    // x:K never starts with "xy:"
		{[]string{"x", "y:x"}, nil},   //
		{[]string{"x:", "x:y"}, nil},  // x::K against x:y:K
		{[]string{"a:b", "a:c"}, nil}, //
		{[]string{"x", "X", "x;", "x "}, nil},
		{[]string{":", "a"}, nil}, //
		{[]string{"é", "éx", "é\x00"}, nil},
	}
	for _, c := range cases {
		var list []*Policy
		for i, prefix := range c.prefixes {
			list = append(list, &Policy{Name: string(rune('a' + i)), Prefix: prefix})
		}
		got := clashPartners(list)
		for i, j := range got {
			want, clash := c.clashes[i]
			switch {
			case clash && j != want:
				t.Errorf("%q: policy %d reported against %d, want %d", c.prefixes, i, j, want)
			case !clash && j < i:
				t.Errorf("%q: policy %d reported against %d, want no clash", c.prefixes, i, j)
			}
		}
	}
}

// The rule matches the keys RedisKey builds: over every pair of short prefixes made of "a"
// and ":", two policies are refused exactly when some key of one is a key of the other.
func TestPrefixClashMatchesKeys(t *testing.T) {
	var words []string
	var grow func(string)
	grow = func(s string) {
		words = append(words, s)
		if len(s) < 4 {
			grow(s + "a")
			grow(s + ":")
		}
	}
	grow("")
	keysOf := func(prefix string) map[string]bool {
		out := make(map[string]bool)
		p := &Policy{Prefix: prefix}
		for _, k := range words {
			for _, k2 := range []string{k, k + "a:", k + "::"} {
				out[p.RedisKey("ns", k2)] = true
			}
		}
		return out
	}
	for _, x := range words {
		kx := keysOf(x)
		for _, y := range words {
			if x == y {
				continue
			}
			shared := ""
			for k := range keysOf(y) {
				if kx[k] {
					shared = k
					break
				}
			}
			_, err := Parse([]byte("limiters:\n  x: { strategy: gcra, limit: 1, period: 1s, prefix: \"" + x + "\" }\n  y: { strategy: gcra, limit: 1, period: 1s, prefix: \"" + y + "\" }\n"))
			if (err != nil) != (shared != "") {
				t.Errorf("prefixes %q and %q: Parse error %v, shared key %q", x, y, err, shared)
			}
		}
	}
}

// expectProblems checks that src fails to load with exactly the messages want, in order.
func expectProblems(t *testing.T, src string, want []string) {
	t.Helper()
	got := mustFail(t, src)
	if len(got) != len(want) {
		t.Fatalf("got %v, want %q", got, want)
	}
	for i := range got {
		if got[i].Error() != want[i] {
			t.Errorf("problem %d:\n got %q\nwant %q", i, got[i].Error(), want[i])
		}
	}
}
