package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Per-call latency and the markdown tables. Every summary prints, beside its own lines, a
// "#### " heading and a markdown table; scripts/bench-report.sh collects them from a saved
// `make bench` log for BENCHMARKS.md.

// percentiles sorts lat in place and returns its p50 and p99 in nanoseconds (nearest rank
// below, as BenchmarkSerialLatency reads them).
func percentiles(lat []time.Duration) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) }
	return at(0.50), at(0.99)
}

// medianLatency is the median over rounds of each round's p50 and of each round's p99.
func medianLatency(rs []result) (p50, p99 float64) {
	if len(rs) == 0 {
		return 0, 0
	}
	a, b := make([]float64, len(rs)), make([]float64, len(rs))
	for i, r := range rs {
		a[i], b[i] = r.p50, r.p99
	}
	slices.Sort(a)
	slices.Sort(b)
	return a[len(a)/2], b[len(b)/2]
}

// us formats nanoseconds as microseconds (milliseconds from 1 ms) for the tables ("-" when not measured).
func us(ns float64) string {
	if ns <= 0 {
		return "-"
	}
	if ns >= 1e6 {
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.1f µs", ns/1e3)
}

func perSec(nsPerOp float64) string {
	if nsPerOp <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/s", 1e9/nsPerOp)
}

func ratio(x float64) string { return fmt.Sprintf("%.2fx", x) }

// mdTable prints a "#### title" heading and a markdown table.
func mdTable(title string, header []string, rows [][]string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n#### %s\n\n", title)
	line := func(cells []string) { fmt.Fprintf(&sb, "| %s |\n", strings.Join(cells, " | ")) }
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
		if i > 0 {
			sep[i] = "---:"
		}
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	fmt.Print(sb.String())
}
