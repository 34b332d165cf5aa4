package policy

import (
	"strings"
	"testing"
)

func TestDurations(t *testing.T) {
	good := []struct {
		yaml string
		ms   int64
	}{
		{"1500", 1500},
		{`"1500"`, 1500},
		{"1500.0", 1500},
		{"1.5s", 1500},
		{"1.1s", 1100},
		{"2m", 120000},
		{"1h", 3600000},
		{"1d", 86400000},
		{"250ms", 250},
		{`" 3s "`, 3000},
		{"0.001s", 1},
		{".5s", 500},
		{"007s", 7000},
		{"1.25m", 75000},
		{"9007199254740991", MaxSafeInteger},
		{"9007199254740.991s", MaxSafeInteger},
	}
	for _, c := range good {
		t.Run(c.yaml, func(t *testing.T) {
			s := mustParse(t, "limiters:\n  w: { strategy: fixedWindow, limit: 1, windowMs: "+c.yaml+" }\n")
			if got := lookup(t, s, "w").WindowMs; got != c.ms {
				t.Errorf("windowMs %s = %d, want %d", c.yaml, got, c.ms)
			}
		})
	}

	bad := []struct{ yaml, problem string }{
		{`"0"`, "whole number of milliseconds >= 1"},
		{`"-1s"`, "must be a duration"},
		{"1x", "must be a duration"},
		{`""`, "must be a duration"},
		{"s", "must be a duration"},
		{"1.0005s", "whole number of milliseconds >= 1"},
		{"0", "whole number of milliseconds >= 1, got 0"},
		{"-5", "whole number of milliseconds >= 1, got -5"},
		{"1.5", "whole number of milliseconds >= 1, got 1.5"},
		{"1e300", "at most 9007199254740991"},
		{"true", "must be a duration"},
		{"null", "must be a duration"},
		{"[1]", "got a list"},
		{"1 s", "must be a duration"},
		{"1S", "must be a duration"},
		{"+1s", "must be a duration"},
		{"1e3ms", "must be a duration"},
		{"0.0000000000000000000000001d", "whole number of milliseconds"},
		{"9007199254740992", "at most"},
		{strings.Repeat("9", 40) + "s", "at most"},
		{"0.5ms", "whole number of milliseconds"},
		{".", "must be a duration"},
	}
	for _, c := range bad {
		t.Run("bad "+c.yaml, func(t *testing.T) {
			got := mustFail(t, "limiters:\n  w: { strategy: fixedWindow, limit: 1, windowMs: "+c.yaml+" }\n")
			if !hasProblem(got, "config.limiters[w].windowMs", c.problem) {
				t.Errorf("windowMs %s: want %q, got %v", c.yaml, c.problem, got)
			}
		})
	}
}

// parseDuration is exact where float arithmetic is not: 1.1 * 1000 is 1100.0000000000002.
func TestParseDurationExact(t *testing.T) {
	cases := []struct {
		in    string
		ms    int64
		fault durationFault
	}{
		{"1.1s", 1100, durationOK},
		{"0.3s", 300, durationOK},
		{"1.0005s", 0, durationNotWhole},
		{"0s", 0, durationNotWhole},
		{"1.000000000000000000000000000000s", 1000, durationOK},
		{"12", 12, durationOK},
		{"ms", 0, durationSyntax},
		{"1..2s", 0, durationSyntax},
	}
	for _, c := range cases {
		ms, fault := parseDuration(c.in)
		if ms != c.ms || fault != c.fault {
			t.Errorf("parseDuration(%q) = %d, %d; want %d, %d", c.in, ms, fault, c.ms, c.fault)
		}
	}
}
