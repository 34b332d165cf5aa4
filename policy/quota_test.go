package policy

import (
	"strings"
	"testing"
)

// The policies of quota.md section 1, read field by field and rendered as their scripts' ARGV.
func TestQuotaPolicies(t *testing.T) {
	s := mustParse(t, `limiters:
  monthly:  { strategy: quota, limit: 1000000, resetCadence: calendar-month }
  weekly-in:  { strategy: quota, limit: 5000, resetCadence: calendar-week, offsetMinutes: 330, weekStartsOn: 0 }
  nightly:  { strategy: quota, limit: 100, resetCadence: calendar-day, offsetMinutes: -300 }
  shifted:  { strategy: quota, limit: 10, resetCadence: fixed, period: 1h, anchor: 1700000000000 }
  trailing: { strategy: quota, limit: 50, resetCadence: rolling, periodMs: 60000, buckets: 20 }
  default-buckets: { strategy: quota, limit: 7, resetCadence: rolling, period: 1m }
`)
	cases := []struct {
		name, cadence, script string
		args                  map[string]string // every other name must answer ok=false
	}{
		{"monthly", CadenceMonth, "quota", map[string]string{"limit": "1000000", "mode": "1", "periodMs": "0", "anchor": "0", "offsetMs": "0", "weekStartsOn": "1"}},
		{"weekly-in", CadenceWeek, "quota", map[string]string{"limit": "5000", "mode": "2", "periodMs": "0", "anchor": "0", "offsetMs": "19800000", "weekStartsOn": "0"}},
		{"nightly", CadenceDay, "quota", map[string]string{"limit": "100", "mode": "3", "periodMs": "0", "anchor": "0", "offsetMs": "-18000000", "weekStartsOn": "1"}},
		{"shifted", CadenceFixed, "quota", map[string]string{"limit": "10", "mode": "4", "periodMs": "3600000", "anchor": "1700000000000", "offsetMs": "0", "weekStartsOn": "1"}},
		{"trailing", CadenceRolling, "slidingWindow", map[string]string{"limit": "50", "windowMs": "60000", "buckets": "20"}},
		{"default-buckets", CadenceRolling, "slidingWindow", map[string]string{"limit": "7", "windowMs": "60000", "buckets": "10"}},
	}
	all := append(argNames, "mode", "anchor", "offsetMs", "weekStartsOn", "cost", "now")
	for _, c := range cases {
		p := lookup(t, s, c.name)
		if p.Strategy != Quota || p.Cadence != c.cadence || string(p.ScriptStrategy()) != c.script || p.Prefix != c.name {
			t.Errorf("%s: strategy %q cadence %q scripts %q prefix %q", c.name, p.Strategy, p.Cadence, p.ScriptStrategy(), p.Prefix)
		}
		if p.ReportedLimit() != p.Limit {
			t.Errorf("%s: ReportedLimit %d, Limit %d", c.name, p.ReportedLimit(), p.Limit)
		}
		for _, name := range all {
			got, ok := p.Arg(name)
			want, wantOK := c.args[name]
			if got != want || ok != wantOK {
				t.Errorf("%s.Arg(%q) = %q, %v; want %q, %v", c.name, name, got, ok, want, wantOK)
			}
		}
		if err := checkFormulas(p); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}

// Every error of quota.md sections 1.1 and 1.3, each on the field at fault.
func TestQuotaErrors(t *testing.T) {
	cases := []struct{ policy, field, problem string }{
		{"{ strategy: quota, limit: 5 }", "resetCadence", "is required for a quota"},
		{"{ strategy: quota, resetCadence: calendar-month }", "limit", "is required"},
		{"{ strategy: quota, limit: 5, resetCadence: monthly }", "resetCadence", `unknown cadence "monthly"; want one of calendar-month, calendar-week, calendar-day, fixed or rolling`},
		{"{ strategy: quota, limit: 5, resetCadence: 1 }", "resetCadence", "must be one of"},
		{"{ strategy: quota, limit: 0, resetCadence: calendar-day }", "limit", "must be a whole number >= 1, got 0"},
		{"{ strategy: quota, limit: 2.5, resetCadence: calendar-day }", "limit", "got 2.5"},
		{`{ strategy: quota, limit: "5", resetCadence: calendar-day }`, "limit", "a quoted number is a string"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed }", "period", "is required for resetCadence fixed"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling }", "period", "is required for resetCadence rolling"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1.0005s }", "period", "whole number of milliseconds"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, periodMs: 0 }", "periodMs", "whole number of milliseconds >= 1, got 0"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-month, period: soon }", "period", "must be a duration"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, periodMs: 4503599627370497 }", "periodMs", "at most 2^52"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-day, offsetMinutes: 900 }", "offsetMinutes", "must be a whole number in -840..840 (±14 h), got 900"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-day, offsetMinutes: -841 }", "offsetMinutes", "got -841"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-day, offsetMinutes: 1.5 }", "offsetMinutes", "got 1.5"},
		{`{ strategy: quota, limit: 5, resetCadence: calendar-day, offsetMinutes: "330" }`, "offsetMinutes", "a quoted number is a string"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-week, weekStartsOn: 7 }", "weekStartsOn", "must be a whole number in 0..6 (0 = Sunday ... 6 = Saturday), got 7"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-week, weekStartsOn: -1 }", "weekStartsOn", "got -1"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1h, anchor: 1.5 }", "anchor", "must be a whole number in -2^52..2^52, got 1.5"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1h, anchor: 4503599627370497 }", "anchor", "-2^52..2^52"},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1h, anchor: now }", "anchor", `got "now"`},
		// Checked for rolling too (upstream ignores them there).
		{"{ strategy: quota, limit: 5, resetCadence: rolling, period: 1m, offsetMinutes: 900 }", "offsetMinutes", "-840..840"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling, period: 1m, weekStartsOn: 9 }", "weekStartsOn", "0..6"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling, period: 1m, anchor: x }", "anchor", "whole number"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling, period: 1m, buckets: 0 }", "buckets", "whole number >= 1"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling, period: 1m, buckets: 1001 }", "buckets", "at most 1,000"},
		{"{ strategy: quota, limit: 5, resetCadence: rolling, periodMs: 2251799813685249, buckets: 1 }", "periodMs", "2^52"},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-day, burst: 3 }", "burst", "unknown field for a quota policy; allowed: strategy, limit, resetCadence"},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			src := "limiters:\n  ok: { strategy: gcra, limit: 1, period: 1s }\n  q: " + c.policy + "\n"
			got := mustFail(t, src)
			path := "config.limiters[q]." + c.field
			if !hasProblem(got, path, c.problem) {
				t.Errorf("got %v; want %s: ...%s...", got, path, c.problem)
			}
			for _, e := range got {
				if !strings.HasPrefix(e.Path, "config.limiters[q].") {
					t.Errorf("unrelated problem %v", e)
				}
			}
		})
	}
}

// What upstream accepts and ignores loads here too, with a warning naming the field.
func TestQuotaIgnoredFieldsWarn(t *testing.T) {
	cases := []struct {
		policy, warning string
		periodMs        int64
	}{
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1h, windowMs: 5 }", "config.limiters[q].windowMs: ignored for a quota", 3_600_000},
		{"{ strategy: quota, limit: 5, resetCadence: fixed, period: 1h, periodMs: 5 }", "config.limiters[q].periodMs: ignored, since period is given", 3_600_000},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-month, period: 1h }", "config.limiters[q].period: ignored for resetCadence calendar-month", 0},
		{"{ strategy: quota, limit: 5, resetCadence: calendar-week, buckets: 3 }", "config.limiters[q].buckets: ignored for resetCadence calendar-week", 0},
	}
	for _, c := range cases {
		s := mustParse(t, "limiters:\n  q: "+c.policy+"\n")
		w := s.Warnings()
		if len(w) != 1 || !strings.HasPrefix(w[0], c.warning) {
			t.Errorf("%s: warnings %q; want one starting %q", c.policy, w, c.warning)
		}
		if p := lookup(t, s, "q"); p.PeriodMs != c.periodMs {
			t.Errorf("%s: PeriodMs %d, want %d", c.policy, p.PeriodMs, c.periodMs)
		}
	}
}

// A quota takes part in the prefix rules like any limiter.
func TestQuotaPrefixClash(t *testing.T) {
	got := mustFail(t, "limiters:\n  a: { strategy: gcra, limit: 1, period: 1s, prefix: p }\n  q: { strategy: quota, limit: 1, resetCadence: calendar-day, prefix: p }\n")
	if !hasProblem(got, "config.limiters[q].prefix", "share the key prefix") {
		t.Errorf("got %v", got)
	}
}
