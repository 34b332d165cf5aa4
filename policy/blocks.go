package policy

import (
	"math"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kindBlocks are the blocks that make a policy what it is; a policy carries at most one
// (policies.md). A strategy beside one of them (twoTier, concurrency) is not a kind block.
var kindBlocks = []string{"tokenBudget", "fleetBudget", "fairEscrow", "federatedFairEscrow",
	"concurrency", "distributedConcurrency", "twoTier", "federated"}

// defaultMaxKeys is upstream's default for tokenBudget.maxKeys and fleetBudget.maxKeys.
const defaultMaxKeys = 100_000

// kindBlocksIn lists the kind blocks among a policy's fields, in file order.
func kindBlocksIn(list []entry) []string {
	var found []string
	for _, e := range list {
		for _, k := range kindBlocks {
			if e.named && e.name == k {
				found = append(found, k)
			}
		}
	}
	return found
}

// fleetMeter reads a fleetBudget block (two-tier.md §7): a token budget shared through the
// store, the same state as a tokenBudget. Its prefix sits inside the block, and upstream
// always joins it with ":", so `prefix: ""` keys are ":" + key.
func (ps *parser) fleetMeter(p *Policy, path string, list []entry, block *entry) (ownPrefix bool) {
	p.Strategy, p.MaxKeys, p.Prefix, p.JoinAlways = TokenBudget, defaultMaxKeys, "", true
	for _, e := range list {
		switch {
		case e.named && e.name == "prefix":
			ps.warn("%s: ignored: a fleetBudget policy takes its prefix inside the block, as upstream does", fieldPath(path, "prefix"))
		case !e.named || e.name != "fleetBudget":
			ps.fail(fieldPath(path, e.key.Value), "unknown field beside a fleetBudget block; allowed: fleetBudget (with its prefix inside)")
		}
	}
	bp := fieldPath(path, "fleetBudget")
	m := resolve(block.val)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(bp, "must be a mapping with budget and windowMs, got %s", describe(block.val))
		return false
	}
	var haveBudget, haveWindow bool
	for _, e := range ps.entries(m, bp, func(k string) string { return fieldPath(bp, k) }) {
		fp := fieldPath(bp, e.key.Value)
		var problem string
		switch {
		case e.named && e.name == "budget":
			haveBudget = true
			p.Budget, problem = flooredCount(e.val)
		case e.named && e.name == "windowMs":
			haveWindow = true
			p.WindowMs, problem = duration(e.val)
		case e.named && e.name == "maxKeys":
			p.MaxKeys, problem = count(e.val)
		case e.named && e.name == "prefix":
			p.Prefix, _ = ps.prefix(e.val, fp)
			ownPrefix = true
		default:
			problem = "unknown field in a fleetBudget block; allowed: budget, windowMs, maxKeys, prefix"
		}
		if problem != "" {
			ps.fail(fp, "%s", problem)
		}
	}
	if !haveBudget || !haveWindow {
		ps.fail(bp, "both `budget` and `windowMs` are required")
	}
	return ownPrefix
}

// flooredCount reads a number >= 1, floored to a whole number (upstream's L = ⌊budget⌋).
func flooredCount(n *yaml.Node) (int64, string) {
	f, ok := yamlNumber(n)
	if !ok || f < 1 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, "must be a number >= 1, got " + describe(n) + quotedHint(n)
	}
	if f = math.Floor(f); f > MaxSafeInteger {
		return 0, "must be at most " + itoa(MaxSafeInteger) + ", got " + describe(n)
	}
	return int64(f), ""
}

// kindProblem is the message for a policy carrying several kind blocks.
func kindProblem(found []string) string {
	return "a policy may declare at most one of " + orList(kindBlocks) + "; this one declares " + strings.Join(found, " and ")
}

// shadow reads `shadow: true|false` (issue 24): a rate limiter whose denials are recorded but
// admitted, how a new limit is rolled out. A meter's debits are never refused by it.
func (ps *parser) shadow(p *Policy, path string, v *yaml.Node) {
	n := resolve(v)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		ps.fail(path, "must be true or false, got %s", describe(v))
		return
	}
	p.Shadow = n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}
