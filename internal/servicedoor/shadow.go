package servicedoor

import (
	"strconv"
	"strings"
)

// ShadowIndexes reads the values of a ShadowHeader: the set of decision indexes a shadow-mode
// policy admitted. Anything malformed is ignored (the flag is informational).
func ShadowIndexes(values []string) map[int]bool {
	if len(values) == 0 {
		return nil
	}
	set := map[int]bool{}
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if i, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && i >= 0 {
				set[i] = true
			}
		}
	}
	return set
}

// ShadowValue is the ShadowHeader value for the given decisions' shadow flags, "" for none.
func ShadowValue(shadow func(i int) bool, n int) string {
	var b strings.Builder
	for i := range n {
		if shadow(i) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(i))
		}
	}
	return b.String()
}
