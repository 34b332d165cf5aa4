package policy

import (
	"errors"
	"strings"
	"testing"
)

// problemsOf flattens what Parse returned into its *Error parts, failing the test if any
// part is of another type (callers rely on every part being an *Error).
func problemsOf(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return []*Error{e}
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is neither *Error nor joined: %v", err, err)
	}
	var out []*Error
	for _, part := range joined.Unwrap() {
		var e *Error
		if !errors.As(part, &e) || e != part {
			t.Fatalf("joined part %T is not an *Error: %v", part, part)
		}
		out = append(out, e)
	}
	return out
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string) *Set {
	t.Helper()
	s, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse failed: %v\n%s", err, src)
	}
	if s == nil {
		t.Fatal("Parse returned no Set and no error")
	}
	return s
}

// mustFail parses src, requires an error and no Set, and returns the problems.
func mustFail(t *testing.T, src string) []*Error {
	t.Helper()
	s, err := Parse([]byte(src))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	if s != nil {
		t.Fatalf("Parse returned a Set along with error %v", err)
	}
	return problemsOf(t, err)
}

func hasProblem(list []*Error, path, substr string) bool {
	for _, e := range list {
		if e.Path == path && strings.Contains(e.Problem, substr) {
			return true
		}
	}
	return false
}

func lookup(t *testing.T, s *Set, name string) *Policy {
	t.Helper()
	p, ok := s.Lookup(name)
	if !ok || p == nil {
		t.Fatalf("policy %q not found; have %v", name, s.Names())
	}
	return p
}
