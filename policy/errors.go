package policy

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Error is one problem found in a policy file.
type Error struct {
	Path    string // e.g. config.limiters[api].burst
	Problem string // e.g. must be a whole number >= 1, got -3
}

func (e *Error) Error() string { return e.Path + ": " + e.Problem }

// report gathers every problem and warning of one Parse, so a user fixes a file in one pass
// instead of one error per reload.
type report struct {
	errs     []error
	seen     map[Error]bool
	warnings []string
	merged   int // merged mapping pairs visited so far, see maxMergedKeys
	failures int // every fail call, repeats included: "did this policy fail?" needs them
}

func (r *report) fail(path, format string, args ...any) {
	r.failures++
	e := Error{Path: path, Problem: fmt.Sprintf(format, args...)}
	// A mapping merged (<<) into several policies would otherwise repeat its problems.
	if r.seen[e] {
		return
	}
	if r.seen == nil {
		r.seen = make(map[Error]bool)
	}
	r.seen[e] = true
	r.errs = append(r.errs, &e)
}

func (r *report) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// err returns nil, the single *Error, or all of them joined.
func (r *report) err() error {
	switch len(r.errs) {
	case 0:
		return nil
	case 1:
		return r.errs[0]
	}
	return errors.Join(r.errs...)
}

// maxShown bounds any text copied from the file into a message, so a message never carries
// a whole document.
const maxShown = 64

func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// quote shows a string value unambiguously (spaces, empty strings, control characters).
func quote(s string) string { return strconv.Quote(clip(s)) }

// label renders a name inside a path: bare when that is unambiguous, quoted otherwise.
func label(s string) string {
	if s == "" || len(s) > maxShown {
		return quote(s)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) || c == '[' || c == ']' || c == '"' || c == '\\' || c == utf8.RuneError {
			return quote(s)
		}
	}
	return s
}

func fieldPath(path, name string) string { return path + "." + label(name) }
func policyPath(name string) string      { return "config.limiters[" + label(name) + "]" }
