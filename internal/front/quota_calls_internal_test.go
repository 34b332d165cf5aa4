package front

import (
	"fmt"
	"testing"

	"github.com/throttlekit/throttlekit-go/policy"
)

// A quota's scripts get upstream's ARGV: the case of upstream's own unit test (limit 1000,
// calendar-month, offsetMinutes 330, now 123, cost 2) sends exactly
// [123, 1000, 2, 1, 0, 0, 19800000, 1]; peek drops the cost; a rolling quota sends the
// slidingWindow scripts' ARGV.
func TestQuotaScriptCalls(t *testing.T) {
	set, err := policy.Parse([]byte(`limiters:
  m: { strategy: quota, limit: 1000, resetCadence: calendar-month, offsetMinutes: 330 }
  r: { strategy: quota, limit: 50, resetCadence: rolling, periodMs: 60000, buckets: 20 }
`))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := prepareSet(set)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		policy string
		call   *ScriptCall
		script string
		want   string
	}{
		{"m", ps.policies["m"].check, "quota.check", "[123 1000 2 1 0 0 19800000 1]"},
		{"m", ps.policies["m"].forecast, "quota.forecast", "[123 1000 2 1 0 0 19800000 1]"},
		{"m", ps.policies["m"].peek, "quota.peek", "[123 1000 1 0 0 19800000 1]"},
		{"r", ps.policies["r"].check, "slidingWindow.check", "[123 60000 50 2 20]"},
		{"r", ps.policies["r"].peek, "slidingWindow.peek", "[123 60000 50 20]"},
	}
	for _, c := range cases {
		if c.call == nil || c.call.Script.Name != c.script {
			t.Errorf("%s: script %v, want %s", c.policy, c.call, c.script)
			continue
		}
		args := c.call.Args("k", 123, 2)
		if got := fmt.Sprint(args[4:]); got != c.want || args[3] != "k" {
			t.Errorf("%s %s: ARGV %s for key %v, want %s", c.policy, c.script, got, args[3], c.want)
		}
	}
	if ps.policies["m"].debit != nil {
		t.Error("a quota has a debit script")
	}
}
