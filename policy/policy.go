// Package policy reads and validates a ThrottleKit policy file (.throttlekit.yaml) and builds
// the Redis keys its policies use. The rules are those of spec/policies.md; a file either
// loads whole or not at all, so a bad edit never leaves a half-applied configuration.
package policy

import "strconv"

// Strategy names a rate-limiting algorithm, spelled as in the policy file.
type Strategy string

// The five rate-limit strategies of the 1.x core, plus the token-budget meter (a
// `tokenBudget:` block); Quota (quota.go) is a later core's.
const (
	GCRA             Strategy = "gcra"
	TokenBucket      Strategy = "tokenBucket"
	FixedWindow      Strategy = "fixedWindow"
	SlidingWindow    Strategy = "slidingWindow"
	SlidingWindowLog Strategy = "slidingWindowLog"
	TokenBudget      Strategy = "tokenBudget"
)

// MaxSafeInteger is the largest integer a double holds exactly (2^53-1). Every count and
// duration ends up as a Lua number, so larger values would silently lose precision.
const MaxSafeInteger = 1<<53 - 1

// Policy is one validated, immutable entry of a policy file. Only the fields its strategy
// uses are set; the others stay zero.
type Policy struct {
	Name         string
	Strategy     Strategy // TokenBudget for a meter; "" when Unsupported != "" or for a concurrency-only admitter
	Unsupported  string   // the later-core feature used (twoTier, federated, fairEscrow, ...)
	Limit        int64    // gcra, fixedWindow, slidingWindow, slidingWindowLog, quota
	Burst        int64    // gcra (default Limit)
	PeriodMs     int64    // gcra: from period / periodMs / windowMs; quota: fixed, rolling
	WindowMs     int64    // fixedWindow, slidingWindow, slidingWindowLog, tokenBudget
	Capacity     int64    // tokenBucket
	RefillPerSec float64  // tokenBucket
	Buckets      int64    // slidingWindow (default 10)
	Budget       int64    // tokenBudget, fleetBudget
	MaxKeys      int64    // tokenBudget, fleetBudget: the per-key meters a process keeps (default 100,000)
	Prefix       string   // own prefix (may be ""), else defaults.prefix, else Name
	JoinAlways   bool     // a fleetBudget's prefix: joined with ":" even when empty, as upstream does
	Shadow       bool     // a rate limiter whose denials are recorded but admitted (shadow: true)

	Concurrency *Concurrency // the concurrency axis of an admitter (admission.md); nil otherwise
	TwoTier     *TwoTier     // how checks reach the shared state (two-tier.md); nil: every check does
	Federated   *Federated   // a budget leased from a coordinator (two-tier.md §6); nil otherwise
	// Overrides is the `overrides:` block of a rate limiter (per-key limits, allow and deny
	// lists; docs/policies.md); nil when it has none, and then no override record is read.
	Overrides *Overrides

	// quota (Limit and PeriodMs as well; Buckets for a rolling quota)
	Cadence       string // CadenceMonth, CadenceWeek, CadenceDay, CadenceFixed or CadenceRolling
	Anchor        int64  // fixed: epoch ms where periods are counted from
	OffsetMinutes int64  // calendar cadences: the fixed UTC offset of the local midnight
	WeekStartsOn  int64  // calendar-week: 0 = Sunday ... 6 = Saturday (default 1)
}

// IsMeter reports whether the policy is a token-budget meter rather than a rate limiter.
func (p *Policy) IsMeter() bool { return p.Strategy == TokenBudget }

// ReportedLimit is the `limit` a decision reports. For gcra that is burst, because burst and
// not limit is the ceiling a caller can actually spend at once.
func (p *Policy) ReportedLimit() int64 {
	switch p.Strategy {
	case GCRA:
		return p.Burst
	case TokenBucket:
		return p.Capacity
	case TokenBudget:
		return p.Budget
	default:
		return p.Limit
	}
}

// Arg returns the ARGV text of a static script parameter by its contract name ("periodMs",
// "limit", "burst", "capacity", "refillPerSec", "windowMs", "buckets", "budget", and a quota's
// "mode", "anchor", "offsetMs", "weekStartsOn", which may be 0 or negative). The text is
// chosen so that Lua's tonumber yields exactly the validated value: plain decimal for
// integers, the shortest round-tripping form for refillPerSec. ok is false for a name the
// policy's strategy does not take, so a caller marshalling from a script manifest notices a
// mismatch instead of sending a zero.
func (p *Policy) Arg(name string) (string, bool) {
	if p.Unsupported != "" {
		return "", false
	}
	switch p.Strategy {
	case Quota:
		return p.quotaArg(name)
	case GCRA:
		switch name {
		case "periodMs":
			return itoa(p.PeriodMs), true
		case "limit":
			return itoa(p.Limit), true
		case "burst":
			return itoa(p.Burst), true
		}
	case TokenBucket:
		switch name {
		case "capacity":
			return itoa(p.Capacity), true
		case "refillPerSec":
			return strconv.FormatFloat(p.RefillPerSec, 'g', -1, 64), true
		}
	case FixedWindow, SlidingWindowLog:
		switch name {
		case "limit":
			return itoa(p.Limit), true
		case "windowMs":
			return itoa(p.WindowMs), true
		}
	case SlidingWindow:
		switch name {
		case "limit":
			return itoa(p.Limit), true
		case "windowMs":
			return itoa(p.WindowMs), true
		case "buckets":
			return itoa(p.Buckets), true
		}
	case TokenBudget:
		switch name {
		case "budget":
			return itoa(p.Budget), true
		case "windowMs":
			return itoa(p.WindowMs), true
		}
	}
	return "", false
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
