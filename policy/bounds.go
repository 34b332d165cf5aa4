package policy

import (
	"fmt"
	"strconv"
)

// Load-time bounds on what a policy's Lua formulas compute (lua-contract.md). Counts and
// durations are already at most MaxSafeInteger each; these bounds cover the quantities the
// scripts derive from them, so that every decision field, every stored integer and every
// TTL stays a finite whole number of at most MaxSafeInteger. The scripts add such spans to
// the clock N (resetAt = N + span, tat = N + τ, ...), so the guarantee holds for clocks up to
// ClockHorizonMs: with a span of at most MaxSpanMs, N + span < 2^53 with room to spare.
const (
	// ClockHorizonMs is the epoch-ms clock (2^43 ms, in the year 2248) up to which the
	// bounds below are proven sufficient.
	ClockHorizonMs = 1 << 43

	// MaxSpanMs (2^52 ms, about 142,000 years) bounds every span a script adds to the clock:
	// gcra's burst tolerance plus one interval, a token bucket's full refill, a sliding
	// window plus one of its buckets, a log's window.
	MaxSpanMs = 1 << 52

	// MinIntervalMs (2^-10 ms) is gcra's shortest emission interval period/limit, i.e. at
	// most 1,024 cells per millisecond. The TAT is a double near the clock, and below
	// ClockHorizonMs such a double resolves 2^-10 ms: a shorter interval is rounded by up to
	// half of itself when added, and one under 2^-11 ms is lost entirely, so the limiter
	// would admit everything.
	MinIntervalMs = 1.0 / 1024
)

// boundsFault is one violated bound: which field to blame and why.
type boundsFault struct {
	field   string // "limit", "burst", "refillPerSec", or "period" for the window/period field given
	problem string
}

// checkBounds evaluates, with the scripts' own double arithmetic and operation order, the
// derived quantities of a policy that passed its field checks. burstGiven tells whether a
// gcra burst was written (else the fault is put on the period, which sets the span).
func checkBounds(p *Policy, burstGiven bool) *boundsFault {
	switch p.Strategy {
	case GCRA:
		period, limit, burst := float64(p.PeriodMs), float64(p.Limit), float64(p.Burst)
		interval := period / limit // T
		if interval < MinIntervalMs {
			return &boundsFault{"limit", fmt.Sprintf(
				"must be at most 1024 × period in ms (%d for a period of %d ms): the emission interval period / limit is %s ms, "+
					"below the minimum of 1/1024 ms, which an epoch-ms clock can no longer resolve, got %d",
				maxGCRALimit(p.PeriodMs), p.PeriodMs, ftoa(interval), p.Limit)}
		}
		tau := interval * burst // τ
		if span := tau + interval; !(span <= MaxSpanMs) {
			field, note := "burst", ""
			if !burstGiven {
				field, note = "period", " (burst is limit when not given)"
			}
			return &boundsFault{field, fmt.Sprintf(
				"makes the burst tolerance too long: period / limit × (burst + 1) = %s / %d × %d = %s ms%s, above the maximum of 2^52 ms (%d, about 142,000 years)",
				itoa(p.PeriodMs), p.Limit, p.Burst+1, ftoa(span), note, int64(MaxSpanMs))}
		}
	case TokenBucket:
		rate := p.RefillPerSec / 1000 // r, tokens per ms
		full := float64(p.Capacity) / rate
		if !(full <= MaxSpanMs) {
			return &boundsFault{"refillPerSec", fmt.Sprintf(
				"is too slow for capacity %d: refilling a full bucket takes capacity / refillPerSec × 1000 = %s ms, "+
					"which must be finite and at most 2^52 ms (%d, about 142,000 years), got %s",
				p.Capacity, ftoa(full), int64(MaxSpanMs), ftoa(p.RefillPerSec))}
		}
	case SlidingWindow:
		window := float64(p.WindowMs)
		if span := window + window/float64(p.Buckets); !(span <= MaxSpanMs) {
			return &boundsFault{"period", fmt.Sprintf(
				"is too long: the window plus one bucket, windowMs + windowMs / buckets = %s ms, must be at most 2^52 ms (%d, about 142,000 years)",
				ftoa(span), int64(MaxSpanMs))}
		}
	case SlidingWindowLog:
		if p.WindowMs > MaxSpanMs {
			return &boundsFault{"period", fmt.Sprintf(
				"must be at most 2^52 ms (%d, about 142,000 years) for slidingWindowLog, got %d ms",
				int64(MaxSpanMs), p.WindowMs)}
		}
	}
	// fixedWindow and tokenBudget report the end of an epoch-aligned window: for a window
	// longer than the clock that is the window itself, otherwise at most twice the clock,
	// so any window up to MaxSafeInteger stays in range.
	return nil
}

// maxGCRALimit is the largest limit whose interval periodMs/limit is at least MinIntervalMs.
func maxGCRALimit(periodMs int64) int64 {
	if periodMs > MaxSafeInteger/1024 {
		return MaxSafeInteger
	}
	return periodMs * 1024
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
