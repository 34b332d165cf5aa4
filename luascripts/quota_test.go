package luascripts

import (
	"strings"
	"testing"
)

// The three quota scripts carry one period block each (a script is one self-contained file);
// the copies must stay byte-identical, so that check, peek and forecast always agree on where
// a period starts and ends.
func TestQuotaPeriodBlockIsShared(t *testing.T) {
	const begin, end = "-- quota period: begin", "-- quota period: end"
	var first string
	for _, role := range []string{RoleCheck, RolePeek, RoleForecast} {
		s, ok := Lookup("quota", role)
		if !ok {
			t.Fatalf("quota.%s missing", role)
		}
		i, j := strings.Index(s.Source, begin), strings.Index(s.Source, end)
		if i < 0 || j < i || strings.Count(s.Source, begin) != 1 {
			t.Fatalf("%s: no single period block", s.Name)
		}
		block := s.Source[i : j+len(end)]
		if first == "" {
			first = block
		} else if block != first {
			t.Errorf("%s: the period block differs from quota.check's", s.Name)
		}
	}
}
