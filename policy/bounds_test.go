package policy

import (
	"os"
	"strings"
	"testing"
)

// BoundCase is one line of testdata/bounds.txt: a policy just inside a load-time bound
// (Field "") or just outside it (Field: the field the error must name).
type boundCase struct {
	Name, Field, Policy string
}

func readBoundCases(t *testing.T, path string) []boundCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []boundCase
	for i, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("%s:%d: want name | field | policy", path, i+1)
		}
		c := boundCase{Name: strings.TrimSpace(parts[0]), Field: strings.TrimSpace(parts[1]), Policy: strings.TrimSpace(parts[2])}
		if c.Field == "-" {
			c.Field = ""
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return out
}

// Each bound, with a value just inside and just outside it: inside loads, outside is an
// error on the field at fault that states the bound.
func TestBounds(t *testing.T) {
	for _, c := range readBoundCases(t, "testdata/bounds.txt") {
		t.Run(c.Name, func(t *testing.T) {
			src := "limiters:\n  p: " + c.Policy + "\n"
			s, err := Parse([]byte(src))
			if c.Field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if err := checkFormulas(lookup(t, s, "p")); err != nil {
					t.Errorf("accepted, but %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error at config.limiters[p].%s", c.Field)
			}
			got := problemsOf(t, err)
			want := "config.limiters[p]." + c.Field
			if len(got) != 1 || got[0].Path != want ||
				!strings.Contains(got[0].Problem, "2^52") && !strings.Contains(got[0].Problem, "1/1024") {
				t.Errorf("got %v; want one error at %s stating the bound", err, want)
			}
		})
	}
}
