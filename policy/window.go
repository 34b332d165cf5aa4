package policy

import (
	"math"
	"time"
)

// WindowMsAt is the length of the policy's window (epoch ms) for a decision that replenishes
// fully at resetAt: what RateLimit-Policy's w= reports. gcra: the period; the windowed
// strategies and token budgets: their window; tokenBucket: the time to refill from empty;
// quotas: the period that ends at resetAt (a calendar month's length varies). 0 when the
// policy has none (an admitter) or resetAt is unknown for a calendar quota.
func (p *Policy) WindowMsAt(resetAt int64) int64 {
	switch p.Strategy {
	case GCRA:
		return p.PeriodMs
	case FixedWindow, SlidingWindow, SlidingWindowLog, TokenBudget:
		return p.WindowMs
	case TokenBucket:
		return int64(math.Ceil(float64(p.Capacity) / p.RefillPerSec * 1000))
	case Quota:
		return p.quotaWindowMs(resetAt)
	}
	return 0
}

func (p *Policy) quotaWindowMs(resetAt int64) int64 {
	switch p.Cadence {
	case CadenceFixed, CadenceRolling:
		return p.PeriodMs
	case CadenceDay:
		return 24 * 3_600_000
	case CadenceWeek:
		return 7 * 24 * 3_600_000
	}
	if resetAt <= 0 { // a month: the one before resetAt, in the policy's fixed offset
		return 0
	}
	zone := time.FixedZone("", int(p.OffsetMinutes*60))
	end := time.UnixMilli(resetAt).In(zone)
	return end.Sub(end.AddDate(0, -1, 0)).Milliseconds()
}
