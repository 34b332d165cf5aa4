package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Quota is the billing-period strategy (spec quota.md): `limit` units per calendar month,
// week or day at a fixed UTC offset, per fixed window from an anchor, or per rolling window.
const Quota Strategy = "quota"

// The reset cadences of a quota, spelled as in the policy file.
const (
	CadenceMonth   = "calendar-month"
	CadenceWeek    = "calendar-week"
	CadenceDay     = "calendar-day"
	CadenceFixed   = "fixed"
	CadenceRolling = "rolling"
)

// cadenceModes is the Lua `mode` of each windowed cadence; rolling has none, since it runs the
// slidingWindow scripts.
var cadenceModes = map[string]int64{CadenceMonth: 1, CadenceWeek: 2, CadenceDay: 3, CadenceFixed: 4}

const cadenceList = "calendar-month, calendar-week, calendar-day, fixed or rolling"

// Bounds of a quota's own fields (quota.md section 1.3). The anchor and period caps keep every
// intermediate value of the period arithmetic below 2^53, where doubles are exact.
const (
	maxOffsetMinutes = 840 // ±14 h, the widest UTC offset in use
	maxQuotaAnchor   = 1 << 52
	maxQuotaPeriodMs = 1 << 52
	defaultWeekStart = 1 // Monday
)

var quotaFields = []string{"limit", "resetCadence", "period", "periodMs", "windowMs", "anchor",
	"offsetMinutes", "weekStartsOn", "buckets"}

// quota reads a `strategy: quota` policy. Unlike the other strategies, `period` wins over
// `periodMs` and `windowMs` is ignored with a warning, as upstream's loader does: files that
// upstream accepts must load here too.
func (ps *parser) quota(p *Policy, path string, list []entry) {
	p.Strategy = Quota
	p.WeekStartsOn = defaultWeekStart
	given := map[string]*entry{}
	for i := range list {
		e := &list[i]
		fp := fieldPath(path, e.key.Value)
		switch {
		case e.named && (e.name == "strategy" || e.name == "prefix" || e.name == "shadow"):
		case !e.named || !slices.Contains(quotaFields, e.name):
			ps.fail(fp, "unknown field for a quota policy; allowed: strategy, %s, prefix, shadow", strings.Join(quotaFields, ", "))
		default:
			given[e.name] = e
		}
	}
	before := ps.failures
	field := func(name string) string { return fieldPath(path, name) }

	cadence := given["resetCadence"]
	switch {
	case cadence == nil:
		ps.fail(field("resetCadence"), "is required for a quota; one of %s", cadenceList)
	case !isString(cadence.val):
		ps.fail(field("resetCadence"), "must be one of %s, got %s", cadenceList, describe(cadence.val))
	default:
		p.Cadence = resolve(cadence.val).Value
		if _, windowed := cadenceModes[p.Cadence]; !windowed && p.Cadence != CadenceRolling {
			ps.fail(field("resetCadence"), "unknown cadence %s; want one of %s", describe(cadence.val), cadenceList)
		}
	}
	if e := given["limit"]; e == nil {
		ps.fail(field("limit"), "is required")
	} else {
		ps.quotaNumber(field("limit"), func() (problem string) { p.Limit, problem = count(e.val); return })
	}
	periodName := ""
	for _, name := range []string{"period", "periodMs"} {
		e := given[name]
		if e == nil {
			continue
		}
		if periodName != "" {
			ps.warn("%s: ignored, since period is given (period wins, as upstream reads a quota)", field(name))
			continue
		}
		periodName = name
		ps.quotaNumber(field(name), func() (problem string) {
			p.PeriodMs, problem = duration(e.val)
			if problem == "" && p.PeriodMs > maxQuotaPeriodMs {
				problem = fmt.Sprintf("must be at most 2^52 ms (%d, about 142,000 years) for a quota, got %s", int64(maxQuotaPeriodMs), describe(e.val))
			}
			return
		})
	}
	if given["windowMs"] != nil {
		ps.warn("%s: ignored for a quota (give period or periodMs)", field("windowMs"))
	}
	if e := given["anchor"]; e != nil {
		ps.quotaNumber(field("anchor"), func() (problem string) {
			p.Anchor, problem = wholeIn(e.val, -maxQuotaAnchor, maxQuotaAnchor, "-2^52..2^52")
			return
		})
	}
	if e := given["offsetMinutes"]; e != nil {
		ps.quotaNumber(field("offsetMinutes"), func() (problem string) {
			p.OffsetMinutes, problem = wholeIn(e.val, -maxOffsetMinutes, maxOffsetMinutes, "-840..840 (±14 h)")
			return
		})
	}
	if e := given["weekStartsOn"]; e != nil {
		ps.quotaNumber(field("weekStartsOn"), func() (problem string) {
			p.WeekStartsOn, problem = wholeIn(e.val, 0, 6, "0..6 (0 = Sunday ... 6 = Saturday)")
			return
		})
	}
	if ps.failures != before || p.Cadence == "" {
		return
	}
	needsPeriod := p.Cadence == CadenceFixed || p.Cadence == CadenceRolling
	switch {
	case needsPeriod && periodName == "":
		ps.fail(field("period"), "is required for resetCadence %s (give period or periodMs)", p.Cadence)
	case !needsPeriod && periodName != "":
		ps.warn("%s: ignored for resetCadence %s (a calendar period has its own length)", field(periodName), p.Cadence)
		p.PeriodMs = 0
	}
	e := given["buckets"]
	switch {
	case p.Cadence != CadenceRolling:
		if e != nil {
			ps.warn("%s: ignored for resetCadence %s (only rolling has buckets)", field("buckets"), p.Cadence)
		}
	case e == nil:
		p.Buckets = defaultBucket
	default:
		ps.quotaNumber(field("buckets"), func() (problem string) {
			p.Buckets, problem = count(e.val)
			if problem == "" && p.Buckets > maxBuckets {
				problem = "must be at most 1,000 (a safety cap of ours, so one check reads a bounded ring of buckets), got " + describe(e.val)
			}
			return
		})
	}
	if ps.failures != before || p.Cadence != CadenceRolling {
		return
	}
	// rolling runs the slidingWindow scripts: the same bound on the window plus one bucket.
	if f := checkBounds(&Policy{Strategy: SlidingWindow, WindowMs: p.PeriodMs, Buckets: p.Buckets}, false); f != nil {
		ps.fail(field(periodName), "%s", f.problem)
	}
}

// quotaNumber reports read's problem, if any, at fp.
func (ps *parser) quotaNumber(fp string, read func() string) {
	if problem := read(); problem != "" {
		ps.fail(fp, "%s", problem)
	}
}

// wholeIn reads a whole number in [lo, hi]; rng is how messages state the range.
func wholeIn(n *yaml.Node, lo, hi int64, rng string) (int64, string) {
	f, ok := yamlNumber(n)
	if ok && f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi) {
		return int64(f), ""
	}
	return 0, "must be a whole number in " + rng + ", got " + describe(n) + quotedHint(n)
}
