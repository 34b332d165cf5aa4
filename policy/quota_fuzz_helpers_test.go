package policy

import (
	"fmt"
	"math"
	"strconv"
)

// quotaFormulas are a quota's largest derived values at clock now: the period's end (the
// decision's resetAt), its length (the TTL and retryAfterMs) and, for fixed, the distance
// from the anchor, which the script divides exactly only below 2^53.
func quotaFormulas(p *Policy, now float64) []value {
	switch p.Cadence {
	case CadenceRolling:
		w := float64(p.PeriodMs) / float64(p.Buckets)
		c := math.Floor(now / w)
		return []value{{"resetAt", math.Ceil((c+1)*w + float64(p.PeriodMs))}, {"ttl", math.Ceil(float64(p.PeriodMs) + w)}}
	case CadenceFixed:
		a, per := float64(p.Anchor), float64(p.PeriodMs)
		span := math.Max(math.Abs(now-a), math.Abs(1-a))
		start := a + math.Floor((now-a)/per)*per
		return []value{{"now - anchor", span}, {"resetAt", start + per}, {"ttl", per}}
	}
	// A calendar period ends at most a month (31 days) plus the offset after now.
	return []value{{"resetAt", now + 31*86_400_000 + 840*60_000}}
}

// checkQuota verifies a parsed quota: a known cadence, the ARGV its scripts take (and none
// other), each a plain integer in its range.
func checkQuota(p *Policy) error {
	ranges := map[string][2]int64{
		"limit": {1, MaxSafeInteger}, "mode": {1, 4}, "periodMs": {0, 1 << 52},
		"anchor": {-(1 << 52), 1 << 52}, "offsetMs": {-840 * 60_000, 840 * 60_000}, "weekStartsOn": {0, 6},
	}
	if p.Cadence == CadenceRolling {
		ranges = map[string][2]int64{"limit": {1, MaxSafeInteger}, "windowMs": {1, 1 << 52}, "buckets": {1, 1000}}
		if p.ScriptStrategy() != SlidingWindow {
			return fmt.Errorf("rolling quota runs %q scripts", p.ScriptStrategy())
		}
	} else if _, ok := cadenceModes[p.Cadence]; !ok {
		return fmt.Errorf("cadence %q", p.Cadence)
	}
	for _, name := range append(argNames, "mode", "anchor", "offsetMs", "weekStartsOn") {
		text, ok := p.Arg(name)
		r, want := ranges[name]
		if ok != want {
			return fmt.Errorf("Arg(%q) ok=%v", name, ok)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v < r[0] || v > r[1] || strconv.FormatInt(v, 10) != text {
			return fmt.Errorf("Arg(%q) = %q", name, text)
		}
	}
	if p.Cadence == CadenceFixed && p.PeriodMs < 1 {
		return fmt.Errorf("fixed quota with periodMs %d", p.PeriodMs)
	}
	return nil
}
