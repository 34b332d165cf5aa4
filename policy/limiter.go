package policy

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// laterCore lists features of later core versions: a policy using one still loads (so the
// rest of an existing file keeps working) but answers "unsupported".
var laterCore = map[string]bool{
	"fairEscrow": true, "federatedFairEscrow": true, "distributedConcurrency": true}

// shape is what one strategy accepts besides `strategy` and `prefix`.
type shape struct {
	fields   []string // allowed, in the order messages list them
	required []string
	periods  []string // alternative spellings of the window; exactly one is required
}

var shapes = map[Strategy]shape{
	GCRA: {
		fields:   []string{"limit", "period", "periodMs", "windowMs", "burst"},
		required: []string{"limit"},
		periods:  []string{"period", "periodMs", "windowMs"},
	},
	TokenBucket: {
		fields:   []string{"capacity", "refillPerSec"},
		required: []string{"capacity", "refillPerSec"},
	},
	FixedWindow: {
		fields:   []string{"limit", "period", "windowMs"},
		required: []string{"limit"},
		periods:  []string{"period", "windowMs"},
	},
	SlidingWindow: {
		fields:   []string{"limit", "period", "windowMs", "buckets"},
		required: []string{"limit"},
		periods:  []string{"period", "windowMs"},
	},
	SlidingWindowLog: {
		fields:   []string{"limit", "period", "windowMs"},
		required: []string{"limit"},
		periods:  []string{"period", "windowMs"},
	},
}

// Safety caps of ours (policies.md): one log check may add `limit` ZSET members, and one
// sliding-window check reads every bucket of its ring.
const (
	maxLogLimit   = 10_000
	maxBuckets    = 1_000
	defaultBucket = 10
)

// policy validates one entry of `limiters` and keeps it only if it is entirely good.
func (ps *parser) policy(name string, val *yaml.Node) {
	path := policyPath(name)
	m := resolve(val)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(path, "must be a mapping (a strategy with its fields, or a tokenBudget block), got %s", describe(val))
		return
	}
	before := ps.failures
	list := ps.entries(m, path, func(k string) string { return fieldPath(path, k) })
	p := &Policy{Name: name}
	if found := kindBlocksIn(list); len(found) > 1 {
		ps.fail(path, "%s", kindProblem(found))
		return
	}
	var strategy, budget, fleet, prefix, shadow, conc *entry
	for i := range list {
		e := &list[i]
		if !e.named {
			continue
		}
		if p.Unsupported == "" {
			if laterCore[e.name] {
				p.Unsupported = e.name
			} else if e.name == "strategy" && isString(e.val) && laterCore[resolve(e.val).Value] {
				p.Unsupported = resolve(e.val).Value
			}
		}
		switch e.name {
		case "strategy":
			strategy = e
		case "tokenBudget":
			budget = e
		case "fleetBudget":
			fleet = e
		case "prefix":
			prefix = e
		case "shadow":
			shadow = e
		case "concurrency":
			conc = e
		}
	}
	ownPrefix := prefix != nil
	if ownPrefix {
		p.Prefix, _ = ps.prefix(prefix.val, fieldPath(path, "prefix"))
	}
	switch {
	case conc != nil:
		ps.admitter(p, path, list, conc, strategy)
	case p.Unsupported != "":
		// Its fields belong to a later core; judging them here would reject valid files.
		for _, e := range list {
			ps.checkDuplicates(e.val, fieldPath(path, e.key.Value))
		}
	case strategy != nil && (budget != nil || fleet != nil):
		ps.fail(path, "is both a limiter (strategy) and a meter (%s); give only one", kindBlocksIn(list)[0])
	case fleet != nil:
		ownPrefix = ps.fleetMeter(p, path, list, fleet)
	case budget != nil:
		ps.meter(p, path, list, budget)
	case strategy != nil:
		rest, tier := splitTierBlock(list)
		rest, overrides := splitOverrides(rest)
		if overrides != nil && tier != nil {
			ps.fail(fieldPath(path, "overrides"), "cannot sit beside a %s block: overrides are read by the scripts a plain check runs", tier.name)
			return
		}
		ps.limiter(p, path, rest, strategy)
		if tier != nil && ps.failures == before {
			ps.tierBlock(p, path, tier)
		}
		if overrides != nil && ps.failures == before {
			ps.overridesBlock(p, path, rest, strategy, overrides)
		}
	default:
		ps.fail(path, "needs a strategy (a rate limiter) or a tokenBudget or fleetBudget block (a meter)")
	}
	if shadow != nil && p.Unsupported == "" && !p.IsMeter() { // a meter's fields say the rest
		ps.shadow(p, fieldPath(path, "shadow"), shadow.val)
	}
	if ps.failures != before {
		return
	}
	if p.Unsupported != "" {
		ps.warn("%s: policy %s uses %s, which this version does not implement; every call on it answers \"unsupported\"",
			path, quote(name), p.Unsupported)
	}
	ps.policies = append(ps.policies, loaded{p: p, ownPrefix: ownPrefix})
}

func (ps *parser) limiter(p *Policy, path string, list []entry, strategy *entry) {
	sp := fieldPath(path, "strategy")
	if !isString(strategy.val) {
		ps.fail(sp, "must be one of %s, got %s", strategyList, describe(strategy.val))
		return
	}
	p.Strategy = Strategy(resolve(strategy.val).Value)
	if p.Strategy == Quota {
		ps.quota(p, path, list)
		return
	}
	sh, known := shapes[p.Strategy]
	if !known {
		ps.fail(sp, "unknown strategy %s; want one of %s", describe(strategy.val), strategyList)
		return
	}
	allowed := "strategy, " + strings.Join(sh.fields, ", ") + ", prefix, shadow"
	before := ps.failures
	given := make(map[string]bool)
	period := ""
	for _, e := range list {
		fp := fieldPath(path, e.key.Value)
		switch {
		case e.named && (e.name == "strategy" || e.name == "prefix" || e.name == "shadow"):
			continue
		case !e.named || !slices.Contains(sh.fields, e.name):
			ps.fail(fp, "unknown field for a %s policy; allowed: %s", p.Strategy, allowed)
			continue
		case slices.Contains(sh.periods, e.name):
			if period != "" {
				ps.fail(fp, "give only one of %s (%s is already given)", orList(sh.periods), period)
				continue
			}
			period = e.name
		}
		given[e.name] = true
		ps.limiterField(p, fp, e)
	}
	for _, f := range sh.required {
		if !given[f] {
			ps.fail(fieldPath(path, f), "is required")
		}
	}
	if len(sh.periods) > 0 && period == "" {
		ps.fail(fieldPath(path, sh.periods[0]), "is required (give one of %s)", orList(sh.periods))
	}
	if p.Strategy == GCRA && !given["burst"] {
		p.Burst = p.Limit
	}
	if p.Strategy == SlidingWindow && !given["buckets"] {
		p.Buckets = defaultBucket
	}
	if ps.failures != before {
		return
	}
	if f := checkBounds(p, given["burst"]); f != nil {
		field := f.field
		if field == "period" {
			field = period // the spelling the file used
		}
		ps.fail(fieldPath(path, field), "%s", f.problem)
	}
}

// limiterField reads one allowed field of a rate limiter into p.
func (ps *parser) limiterField(p *Policy, fp string, e entry) {
	var problem string
	switch e.name {
	case "limit":
		p.Limit, problem = count(e.val)
		if problem == "" && p.Strategy == SlidingWindowLog && p.Limit > maxLogLimit {
			problem = "must be at most 10,000 for slidingWindowLog (a safety cap: one check may add limit entries to the log), got " + describe(e.val)
		}
	case "burst":
		p.Burst, problem = count(e.val)
	case "capacity":
		p.Capacity, problem = count(e.val)
	case "refillPerSec":
		p.RefillPerSec, problem = rate(e.val)
	case "buckets":
		p.Buckets, problem = count(e.val)
		if problem == "" && p.Buckets > maxBuckets {
			problem = "must be at most 1,000 (a safety cap of ours, so one check reads a bounded ring of buckets), got " + describe(e.val)
		}
	case "period", "periodMs", "windowMs":
		var ms int64
		ms, problem = duration(e.val)
		if p.Strategy == GCRA {
			p.PeriodMs = ms
		} else {
			p.WindowMs = ms
		}
	}
	if problem != "" {
		ps.fail(fp, "%s", problem)
	}
}

// meter reads a token-budget meter: a tokenBudget block with budget and windowMs, and at
// most a prefix beside it.
func (ps *parser) meter(p *Policy, path string, list []entry, budget *entry) {
	p.Strategy, p.MaxKeys = TokenBudget, defaultMaxKeys
	for _, e := range list {
		if !e.named || (e.name != "tokenBudget" && e.name != "prefix") {
			ps.fail(fieldPath(path, e.key.Value), "unknown field beside a tokenBudget block; allowed: tokenBudget, prefix")
		}
	}
	bp := fieldPath(path, "tokenBudget")
	m := resolve(budget.val)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(bp, "must be a mapping with budget and windowMs, got %s", describe(budget.val))
		return
	}
	var haveBudget, haveWindow bool
	for _, e := range ps.entries(m, bp, func(k string) string { return fieldPath(bp, k) }) {
		fp := fieldPath(bp, e.key.Value)
		var problem string
		switch {
		case e.named && e.name == "budget":
			haveBudget = true
			p.Budget, problem = count(e.val)
		case e.named && e.name == "windowMs":
			haveWindow = true
			p.WindowMs, problem = duration(e.val)
		case e.named && e.name == "maxKeys":
			p.MaxKeys, problem = count(e.val)
		default:
			problem = "unknown field in a tokenBudget block; allowed: budget, windowMs, maxKeys"
		}
		if problem != "" {
			ps.fail(fp, "%s", problem)
		}
	}
	if !haveBudget {
		ps.fail(fieldPath(bp, "budget"), "is required")
	}
	if !haveWindow {
		ps.fail(fieldPath(bp, "windowMs"), "is required")
	}
}

const strategyList = "gcra, tokenBucket, fixedWindow, slidingWindow, slidingWindowLog, quota"

// orList renders ["a","b","c"] as "a, b or c".
func orList(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}
