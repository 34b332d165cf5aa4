package policy

import (
	"strings"
	"testing"
)

func TestBurstMessageExact(t *testing.T) {
	got := mustFail(t, "limiters:\n  api: { strategy: gcra, limit: 100, period: 1m, burst: -3 }\n")
	if len(got) != 1 {
		t.Fatalf("got %d problems: %v", len(got), got)
	}
	const want = "config.limiters[api].burst: must be a whole number >= 1, got -3"
	if got[0].Error() != want {
		t.Errorf("got  %q\nwant %q", got[0].Error(), want)
	}
	if got[0].Path != "config.limiters[api].burst" {
		t.Errorf("Path = %q", got[0].Path)
	}
}

func TestProblemClasses(t *testing.T) {
	const ok = "  ok: { strategy: gcra, limit: 1, period: 1s }\n"
	cases := []struct {
		name, src, path, problem string
	}{
		{"unknown strategy", "limiters:\n  api: { strategy: leakyBucket, limit: 1, period: 1s }\n",
			"config.limiters[api].strategy", `unknown strategy "leakyBucket"`},
		{"strategy not a string", "limiters:\n  api: { strategy: 5 }\n",
			"config.limiters[api].strategy", "must be one of gcra"},
		{"typo field", "limiters:\n  api: { strategy: gcra, limt: 1, limit: 1, period: 1s }\n",
			"config.limiters[api].limt", "unknown field"},
		{"field of another strategy", "limiters:\n  api: { strategy: fixedWindow, limit: 1, period: 1s, burst: 2 }\n",
			"config.limiters[api].burst", "unknown field for a fixedWindow policy"},
		{"periodMs outside gcra", "limiters:\n  api: { strategy: slidingWindowLog, limit: 1, periodMs: 1000 }\n",
			"config.limiters[api].periodMs", "unknown field"},
		{"missing limit", "limiters:\n  api: { strategy: gcra, period: 1s }\n",
			"config.limiters[api].limit", "is required"},
		{"missing period", "limiters:\n  api: { strategy: fixedWindow, limit: 3 }\n",
			"config.limiters[api].period", "is required"},
		{"missing refill", "limiters:\n  api: { strategy: tokenBucket, capacity: 3 }\n",
			"config.limiters[api].refillPerSec", "is required"},
		{"missing budget", "limiters:\n  llm: { tokenBudget: { windowMs: 1h } }\n",
			"config.limiters[llm].tokenBudget.budget", "is required"},
		{"zero limit", "limiters:\n  api: { strategy: gcra, limit: 0, period: 1s }\n",
			"config.limiters[api].limit", "must be a whole number >= 1, got 0"},
		{"fractional buckets", "limiters:\n  s: { strategy: slidingWindow, limit: 5, period: 1s, buckets: 1.5 }\n",
			"config.limiters[s].buckets", "must be a whole number >= 1, got 1.5"},
		{"buckets over cap", "limiters:\n  s: { strategy: slidingWindow, limit: 5, period: 1s, buckets: 1001 }\n",
			"config.limiters[s].buckets", "safety cap"},
		{"fractional ms", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1.0005s }\n",
			"config.limiters[api].period", `must be a whole number of milliseconds >= 1, got "1.0005s"`},
		{"quoted count", "limiters:\n  api: { strategy: gcra, limit: \"10\", period: 1s }\n",
			"config.limiters[api].limit", `must be a whole number >= 1, got "10"`},
		{"boolean count", "limiters:\n  api: { strategy: gcra, limit: true, period: 1s }\n",
			"config.limiters[api].limit", "got true"},
		{"null count", "limiters:\n  api: { strategy: gcra, limit: , period: 1s }\n",
			"config.limiters[api].limit", "got null"},
		{"count too large", "limiters:\n  api: { strategy: gcra, limit: 9007199254740992, period: 1s }\n",
			"config.limiters[api].limit", "from 1 to 9007199254740991"},
		{"limiter and meter", "limiters:\n  llm: { strategy: gcra, limit: 1, period: 1s, tokenBudget: { budget: 1, windowMs: 1 } }\n",
			"config.limiters[llm]", "both a limiter"},
		{"neither", "limiters:\n  x: { limit: 5 }\n",
			"config.limiters[x]", "needs a strategy"},
		{"meter extra field", "limiters:\n  llm: { tokenBudget: { budget: 1, windowMs: 1, period: 5 } }\n",
			"config.limiters[llm].tokenBudget.period", "unknown field"},
		{"field beside meter", "limiters:\n  llm: { limit: 3, tokenBudget: { budget: 1, windowMs: 1 } }\n",
			"config.limiters[llm].limit", "unknown field beside"},
		{"policy not a mapping", "limiters:\n  api: gcra\n",
			"config.limiters[api]", `must be a mapping`},
		{"log limit cap", "limiters:\n  login: { strategy: slidingWindowLog, limit: 10001, windowMs: 1s }\n",
			"config.limiters[login].limit", "10,000"},
		{"refill zero", "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: 0 }\n",
			"config.limiters[u].refillPerSec", "must be a finite number > 0, got 0"},
		{"refill negative", "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: -1 }\n",
			"config.limiters[u].refillPerSec", "got -1"},
		{"refill nan", "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: .nan }\n",
			"config.limiters[u].refillPerSec", "got .nan"},
		{"refill inf", "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: .inf }\n",
			"config.limiters[u].refillPerSec", "got .inf"},
		{"refill string", "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: \"2\" }\n",
			"config.limiters[u].refillPerSec", "quoted number"},
		{"two period fields", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s, windowMs: 1000 }\n",
			"config.limiters[api].windowMs", "give only one of period, periodMs or windowMs"},
		{"unknown top-level key", "limiter:\n" + ok,
			"config.limiter", "unknown top-level key"},
		{"missing limiters", "version: 1\n",
			"config.limiters", "is required"},
		{"limiters a list", "limiters: [a, b]\n",
			"config.limiters", "got a list"},
		{"limiters empty", "limiters: {}\n",
			"config.limiters", "no policies"},
		{"malformed yaml", "limiters:\n  api: { strategy: gcra\n",
			"config", "yaml:"},
		{"empty document", "",
			"config", "empty"},
		{"comment-only document", "# nothing here\n",
			"config", "empty"},
		{"scalar document", "just words\n",
			"config", `must be a mapping with a limiters block, got "just words"`},
		{"duplicate policy", "limiters:\n" + ok + ok,
			"config.limiters[ok]", "duplicate key (first given at line 2)"},
		{"duplicate field", "limiters:\n  api: { strategy: gcra, limit: 1, limit: 2, period: 1s }\n",
			"config.limiters[api].limit", "duplicate key"},
		{"duplicate top-level key", "limiters:\n" + ok + "limiters:\n" + ok,
			"config.limiters", "duplicate key"},
		{"non-string policy name", "limiters:\n  123: { strategy: gcra, limit: 1, period: 1s }\n",
			"config.limiters", "policy name must be a non-empty string, got 123"},
		{"empty policy name", "limiters:\n  \"\": { strategy: gcra, limit: 1, period: 1s }\n",
			"config.limiters", "non-empty string"},
		{"prefix not a string", "limiters:\n  api: { strategy: gcra, limit: 1, period: 1s, prefix: 5 }\n",
			"config.limiters[api].prefix", "must be a string"},
		{"defaults prefix not a string", "defaults: { prefix: [x] }\nlimiters:\n" + ok,
			"config.defaults.prefix", "must be a string"},
		{"defaults unknown field", "defaults: { prefx: a }\nlimiters:\n" + ok,
			"config.defaults.prefx", "unknown field"},
		{"version not scalar", "version: { major: 1 }\nlimiters:\n" + ok,
			"config.version", "got a mapping"},
		{"duplicate inside an ignored block", "capture: { sinks: [ { file: a, file: b } ] }\nlimiters:\n" + ok,
			"config.capture.sinks[0].file", "duplicate key"},
		{"duplicate inside an unsupported feature", "limiters:\n  c: { concurrency: { max: 1, max: 2 } }\n",
			"config.limiters[c].concurrency.max", "duplicate key"},
		{"merge loop", "limiters:\n  a: &x { <<: *x, strategy: gcra, limit: 1, period: 1s }\n",
			"config.limiters[a]", "or in a loop"},
		{"bad merge", "limiters:\n  api: { <<: 5, strategy: gcra, limit: 1, period: 1s }\n",
			"config.limiters[api].<<", "merge key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustFail(t, c.src)
			if !hasProblem(got, c.path, c.problem) {
				t.Errorf("want %s: ...%s...\ngot %v", c.path, c.problem, got)
			}
		})
	}
}

func TestAllProblemsReportedInFileOrder(t *testing.T) {
	got := mustFail(t, `bogus: 1
limiters:
  a: { strategy: gcra, limit: -1, period: 1x }
  b: { strategy: nope }
  c: { strategy: tokenBucket, capacity: 2, refillPerSec: 0 }
  d: { strategy: gcra, limit: 1, period: 1s }
`)
	want := []string{
		"config.bogus",
		"config.limiters[a].limit",
		"config.limiters[a].period",
		"config.limiters[b].strategy",
		"config.limiters[c].refillPerSec",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Path != w {
			t.Errorf("problem %d at %q, want %q (%v)", i, got[i].Path, w, got[i])
		}
	}
}

// A message quotes offending values but never swallows a whole document.
func TestMessagesStayShort(t *testing.T) {
	long := strings.Repeat("x", 10000)
	got := mustFail(t, "limiters:\n  api: { strategy: gcra, limit: "+long+", period: 1s }\n  "+long+": 5\n")
	for _, e := range got {
		if len(e.Error()) > 400 {
			t.Errorf("message of %d bytes: %.100s...", len(e.Error()), e.Error())
		}
	}
}
