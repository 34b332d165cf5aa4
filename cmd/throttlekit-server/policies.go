package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/policy"
)

// loadPolicies reads and validates the policy file. Each problem is logged on its own line,
// naming the file and the policy error's path and value, so a user fixes the file in one
// pass; warnings (ignored blocks, unsupported features) are logged and do not stop startup.
func loadPolicies(path string, log *slog.Logger) (*policy.Set, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in our message already
		}
		return nil, fmt.Errorf("cannot read the policy file %s: %w", path, err)
	}
	set, err := client.ParsePolicies(src)
	if err != nil {
		problems := policyProblems(err)
		for _, p := range problems {
			log.Error("invalid policy file", "file", path, "problem", p)
		}
		return nil, fmt.Errorf("the policy file %s has %d problem(s), the first: %s", path, len(problems), problems[0])
	}
	for _, w := range set.Warnings() {
		log.Warn("policy file warning", "file", path, "warning", w)
	}
	return set, nil
}

// policyProblems splits a parse error into its problems (policy.Parse joins them).
func policyProblems(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, e.Error())
		}
		if len(out) > 0 {
			return out
		}
	}
	return []string{err.Error()}
}
