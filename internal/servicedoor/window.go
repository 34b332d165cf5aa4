package servicedoor

import (
	"strconv"
	"strings"
)

// WindowHeader is the response header (ours) carrying the policy window of a response's
// decisions (front.Decision.WindowMs) without changing the frozen Decision message: one value
// for all of them, or one per decision, comma-separated, in order.
const WindowHeader = "throttlekit-window-ms"

// WindowValue is the WindowHeader value for n decisions' windows ("" for none, or all 0).
func WindowValue(window func(i int) int64, n int) string {
	same, any := true, false
	for i := range n {
		same = same && window(i) == window(0)
		any = any || window(i) != 0
	}
	switch {
	case n == 0 || !any:
		return ""
	case same:
		return strconv.FormatInt(window(0), 10)
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(window(i), 10))
	}
	return b.String()
}

// windows reads a WindowHeader: nil when absent or malformed (the window is informational).
func windows(values []string) []int64 {
	if len(values) != 1 {
		return nil
	}
	fields := strings.Split(values[0], ",")
	out := make([]int64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || v < 0 {
			return nil
		}
		out[i] = v
	}
	return out
}

// windowAt is decision i's window: the one value for all, or its own.
func windowAt(ws []int64, i int) int64 {
	switch {
	case len(ws) == 1:
		return ws[0]
	case i < len(ws):
		return ws[i]
	}
	return 0
}
