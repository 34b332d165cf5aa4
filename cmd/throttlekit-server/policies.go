package main

import (
	"errors"
	"fmt"
	"io"
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
	set, problems, err := parsePolicyFile(path)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
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

// parsePolicyFile reads path and parses it: err when it cannot be read, else the set or
// every problem found in it.
func parsePolicyFile(path string) (*policy.Set, []string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in our message already
		}
		return nil, nil, fmt.Errorf("cannot read the policy file %s: %w", path, err)
	}
	set, err := client.ParsePolicies(src)
	if err != nil {
		return nil, policyProblems(err), nil
	}
	return set, nil, nil
}

// checkPolicyFile is --check, the way `nginx -t` checks its configuration: every problem on
// stderr and status 1, or a success line on stdout (warnings on stderr) and status 0, so
// that a deploy can gate on it before reloading a server.
func checkPolicyFile(path string, stdout, stderr io.Writer) int {
	set, problems, err := parsePolicyFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progName, err)
		return exitFailure
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "%s: %s: %s\n", progName, path, p)
		}
		fmt.Fprintf(stderr, "%s: the policy file %s has %d problem(s): it would not load\n", progName, path, len(problems))
		return exitFailure
	}
	for _, w := range set.Warnings() {
		fmt.Fprintf(stderr, "%s: %s: warning: %s\n", progName, path, w)
	}
	fmt.Fprintf(stdout, "%s: the policy file %s is valid: %d policies, %d warning(s)\n", progName, path, set.Len(), len(set.Warnings()))
	return exitOK
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
