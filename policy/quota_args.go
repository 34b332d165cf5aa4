package policy

// ScriptStrategy is the strategy whose scripts serve the policy: its own, except for a
// rolling quota, which is slidingWindow under another name (quota.md section 6).
func (p *Policy) ScriptStrategy() Strategy {
	if p.Strategy == Quota && p.Cadence == CadenceRolling {
		return SlidingWindow
	}
	return p.Strategy
}

// quotaArg is Arg for a quota policy.
func (p *Policy) quotaArg(name string) (string, bool) {
	if p.Cadence == CadenceRolling {
		switch name {
		case "limit":
			return itoa(p.Limit), true
		case "windowMs":
			return itoa(p.PeriodMs), true
		case "buckets":
			return itoa(p.Buckets), true
		}
		return "", false
	}
	switch name {
	case "limit":
		return itoa(p.Limit), true
	case "mode":
		return itoa(cadenceModes[p.Cadence]), true
	case "periodMs":
		return itoa(p.PeriodMs), true // 0 for the calendar cadences, as the script expects
	case "anchor":
		return itoa(p.Anchor), true
	case "offsetMs":
		return itoa(p.OffsetMinutes * 60_000), true
	case "weekStartsOn":
		return itoa(p.WeekStartsOn), true
	}
	return "", false
}
