package policy

import (
	"fmt"
	"math"

	"go.yaml.in/yaml/v3"
)

// count reads a whole number in [1, MaxSafeInteger]. Integral floats such as 10.0 are
// accepted because YAML writers and humans produce them; the tag decides what is a number,
// so a quoted "10" is a string and refused. problem is "" when the value is good.
func count(n *yaml.Node) (v int64, problem string) {
	f, ok := yamlNumber(n)
	switch {
	case ok && f > MaxSafeInteger:
		return 0, fmt.Sprintf("must be a whole number from 1 to %d, got %s", int64(MaxSafeInteger), describe(n))
	case ok && f >= 1 && f == math.Trunc(f):
		return int64(f), ""
	}
	return 0, "must be a whole number >= 1, got " + describe(n) + quotedHint(n)
}

// rate reads refillPerSec: any finite number > 0, fractions included.
func rate(n *yaml.Node) (v float64, problem string) {
	f, ok := yamlNumber(n)
	if ok && f > 0 && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, ""
	}
	return 0, "must be a finite number > 0, got " + describe(n) + quotedHint(n)
}

func quotedHint(n *yaml.Node) string {
	if looksNumeric(n) {
		return " (a quoted number is a string; remove the quotes)"
	}
	return ""
}
