package golden

import (
	"encoding/json"
	"os"
	"testing"
)

// LeaseSuite is one `lease` suite (two-tier.md §5): grants and spends on a fresh spender.
type LeaseSuite struct {
	Name          string       `json:"name"`
	Limit         int64        `json:"limit"`
	TTLMs         int64        `json:"ttlMs"`
	WindowCoupled *bool        `json:"windowCoupled"` // absent means true
	Events        []LeaseEvent `json:"events"`
}

// LeaseEvent is a grant (Capacity, ExpiresAt) or a spend (Now, Cost, Expect).
type LeaseEvent struct {
	Op        string `json:"op"`
	Capacity  int64  `json:"capacity"`
	ExpiresAt int64  `json:"expiresAt"`
	Now       int64  `json:"now"`
	Cost      int64  `json:"cost"`
	Expect    struct {
		NeedsRefresh bool    `json:"needsRefresh"`
		Decision     *Expect `json:"decision"`
	} `json:"expect"`
}

// Coupled is the suite's windowCoupled option, true by default.
func (s LeaseSuite) Coupled() bool { return s.WindowCoupled == nil || *s.WindowCoupled }

// LeaseSpender is what the lease suites drive.
type LeaseSpender interface {
	Grant(capacity, expiresAt int64)
	// Spend answers the decision and true, or false when the spender needs a refresh.
	Spend(now, cost int64) (Expect, bool, error)
}

// ReplayLease runs the six lease suites as subtests named prefix+suite on spenders open
// makes, comparing needsRefresh and every field of every decision.
func ReplayLease(t *testing.T, prefix string, open func(s LeaseSuite) LeaseSpender) {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Suites []LeaseSuite `json:"suites"`
	}
	readJSON(t, path, &f)
	n := 0
	for _, s := range f.Suites {
		if len(s.Events) == 0 {
			continue // another primitive
		}
		n++
		t.Run(prefix+s.Name, func(t *testing.T) { replayLease(t, s, open(s)) })
	}
	if n != 6 {
		t.Errorf("%d lease suites in the golden vectors, want 6", n)
	}
}

func replayLease(t *testing.T, s LeaseSuite, sp LeaseSpender) {
	for i, ev := range s.Events {
		switch ev.Op {
		case "grant":
			sp.Grant(ev.Capacity, ev.ExpiresAt)
		case "spend":
			got, ok, err := sp.Spend(ev.Now, ev.Cost)
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if ok == ev.Expect.NeedsRefresh {
				t.Errorf("event %d: needsRefresh %v, want %v", i, !ok, ev.Expect.NeedsRefresh)
			}
			if want := ev.Expect.Decision; ok && (want == nil || got != *want) {
				t.Errorf("event %d:\n got  %+v\n want %+v", i, got, want)
			}
		default:
			t.Fatalf("event %d: unknown op %q", i, ev.Op)
		}
	}
}

// readJSON decodes the file at path into v, failing the test on any error.
func readJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}
