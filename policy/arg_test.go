package policy

import "testing"

var argNames = []string{"periodMs", "limit", "burst", "capacity", "refillPerSec", "windowMs", "buckets", "budget"}

func TestArg(t *testing.T) {
	s := mustParse(t, exampleFile)
	cases := []struct {
		policy string
		want   map[string]string // every name not listed must answer ok=false
		limit  int64             // ReportedLimit
	}{
		{"api", map[string]string{"periodMs": "60000", "limit": "100", "burst": "20"}, 20},
		{"upload", map[string]string{"capacity": "10", "refillPerSec": "2"}, 10},
		{"hourly", map[string]string{"limit": "1000", "windowMs": "3600000"}, 1000},
		{"login", map[string]string{"limit": "5", "windowMs": "900000"}, 5},
		{"search", map[string]string{"limit": "50", "windowMs": "10000", "buckets": "10"}, 50},
		{"llm", map[string]string{"budget": "100000", "windowMs": "3600000"}, 100000},
	}
	for _, c := range cases {
		p := lookup(t, s, c.policy)
		for _, name := range append(argNames, "cost", "now", "") {
			got, ok := p.Arg(name)
			want, wantOK := c.want[name]
			if got != want || ok != wantOK {
				t.Errorf("%s.Arg(%q) = %q, %v; want %q, %v", c.policy, name, got, ok, want, wantOK)
			}
		}
		if got := p.ReportedLimit(); got != c.limit {
			t.Errorf("%s.ReportedLimit() = %d, want %d", c.policy, got, c.limit)
		}
	}
}

func TestArgRefillText(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"0.5", "0.5"},
		{"3", "3"},
		{"3.0", "3"},
		{"0.1", "0.1"},
		{"1e-3", "0.001"},
		{"1000000", "1e+06"},
		{"0.30000000000000004", "0.30000000000000004"},
	}
	for _, c := range cases {
		s := mustParse(t, "limiters:\n  u: { strategy: tokenBucket, capacity: 1, refillPerSec: "+c.yaml+" }\n")
		if got, ok := lookup(t, s, "u").Arg("refillPerSec"); !ok || got != c.want {
			t.Errorf("refillPerSec %s: Arg = %q, %v; want %q", c.yaml, got, ok, c.want)
		}
	}
}
