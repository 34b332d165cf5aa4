package policy

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The modes of a twoTier block (two-tier.md §2).
const (
	ModeStrict     = "strict"      // every check is a call to the shared limiter
	ModeCachedDeny = "cached-deny" // a denial is remembered until its retry time
	ModeLeased     = "leased"      // units are leased in batches and spent locally
)

// TwoTier is a policy's twoTier block: per-process state (L1) in front of the policy's own
// shared state (L2).
type TwoTier struct {
	Mode              string // ModeStrict, ModeCachedDeny or ModeLeased
	Batch             int64  // leased: units leased per on-demand lease
	LowWater          int64  // leased: refill in the background at or below this many credits (0: never)
	WindowCoupled     bool   // leased: drop credits once the granting decision's resetAt has passed
	ReturnIdleAfterMs int64  // leased: drop a key's credits after this long unused (0: never)
}

// Local reports whether some checks are answered without a call to L2 (cached-deny, leased).
func (t *TwoTier) Local() bool { return t != nil && t.Mode != ModeStrict }

// Federated is a policy's federated block (two-tier.md §6): one budget of `limit` units per
// epoch-aligned window, leased from a coordinator in Redis.
type Federated struct {
	Batch  int64  // units a process leases per miss (default 16)
	Region string // telemetry only; "" means the server's --region
	Prefix string // the coordinator's key prefix (default "tk:fed")
}

// FederationWindowMs is the window of a federated policy's budget: the strategy's window.
func (p *Policy) FederationWindowMs() int64 {
	if p.Strategy == Quota {
		return p.PeriodMs
	}
	return p.WindowMs
}

// splitTierBlock takes a twoTier or federated entry out of a policy's fields, so that the
// strategy is read as a plain one.
func splitTierBlock(list []entry) (rest []entry, block *entry) {
	for i := range list {
		e := list[i]
		if e.named && (e.name == "twoTier" || e.name == "federated") {
			block = &list[i]
			continue
		}
		rest = append(rest, e)
	}
	return rest, block
}

// tierBlock reads the twoTier or federated block of a policy whose strategy was read.
func (ps *parser) tierBlock(p *Policy, path string, block *entry) {
	bp := fieldPath(path, block.name)
	m := resolve(block.val)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(bp, "must be a mapping, got %s", describe(block.val))
		return
	}
	fields := ps.entries(m, bp, func(k string) string { return fieldPath(bp, k) })
	if block.name == "twoTier" {
		ps.twoTier(p, bp, fields)
	} else {
		ps.federated(p, bp, fields)
	}
}

var twoTierFields = []string{"mode", "batch", "lowWater", "windowCoupled", "returnIdleAfterMs"}

func (ps *parser) twoTier(p *Policy, bp string, fields []entry) {
	t := &TwoTier{Mode: ModeLeased}
	haveBatch := false
	for _, e := range fields {
		fp := fieldPath(bp, e.key.Value)
		var problem string
		switch {
		case !e.named || !slices.Contains(twoTierFields, e.name):
			problem = "unknown field in a twoTier block; allowed: " + strings.Join(twoTierFields, ", ")
		case e.name == "mode":
			n := resolve(e.val)
			if !isString(e.val) || (n.Value != ModeStrict && n.Value != ModeCachedDeny && n.Value != ModeLeased) {
				problem = "must be strict, cached-deny or leased, got " + describe(e.val)
			} else {
				t.Mode = n.Value
			}
		case e.name == "batch":
			haveBatch = true
			t.Batch, problem = count(e.val)
		case e.name == "lowWater":
			t.LowWater, problem = wholeIn(e.val, 0, MaxSafeInteger, "[0, 2^53-1]")
		case e.name == "windowCoupled":
			t.WindowCoupled, problem = boolean(e.val)
		case e.name == "returnIdleAfterMs":
			t.ReturnIdleAfterMs, problem = duration(e.val)
		}
		if problem != "" {
			ps.fail(fp, "%s", problem)
		}
	}
	if t.Mode == ModeLeased && !haveBatch {
		ps.fail(fieldPath(bp, "batch"), "is required for mode leased (the units leased per call to the shared limiter)")
	}
	if t.Mode == ModeLeased && t.Batch > p.ReportedLimit() && p.ReportedLimit() > 0 {
		ps.warn("%s: %d is more than one check of this %s policy can ever admit (%d): every lease will be denied",
			fieldPath(bp, "batch"), t.Batch, p.Strategy, p.ReportedLimit())
	}
	p.TwoTier = t
}

var federatedFields = []string{"batch", "region", "prefix"}

// defaultFederatedBatch and defaultFederatedPrefix are upstream's defaults.
const (
	defaultFederatedBatch  = 16
	defaultFederatedPrefix = "tk:fed"
)

func (ps *parser) federated(p *Policy, bp string, fields []entry) {
	f := &Federated{Batch: defaultFederatedBatch, Prefix: defaultFederatedPrefix}
	for _, e := range fields {
		fp := fieldPath(bp, e.key.Value)
		var problem string
		switch {
		case !e.named || !slices.Contains(federatedFields, e.name):
			problem = "unknown field in a federated block; allowed: " + strings.Join(federatedFields, ", ")
		case e.name == "batch":
			f.Batch, problem = count(e.val)
		case e.name == "region", e.name == "prefix":
			if !isString(e.val) {
				problem = "must be a string, got " + describe(e.val)
			} else if e.name == "region" {
				f.Region = resolve(e.val).Value
			} else {
				f.Prefix = resolve(e.val).Value
			}
		}
		if problem != "" {
			ps.fail(fp, "%s", problem)
		}
	}
	windowed := p.Strategy == FixedWindow || p.Strategy == SlidingWindow ||
		(p.Strategy == Quota && (p.Cadence == CadenceFixed || p.Cadence == CadenceRolling))
	if !windowed || p.FederationWindowMs() <= 0 {
		ps.fail(bp, "needs a windowed strategy (fixedWindow, slidingWindow, or a quota with resetCadence fixed or rolling); this policy is %s", p.Strategy)
	}
	p.Federated = f
}

// boolean reads true or false (a YAML boolean, not a string).
func boolean(v *yaml.Node) (bool, string) {
	n := resolve(v)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, "must be true or false, got " + describe(v)
	}
	return strings.EqualFold(n.Value, "true"), ""
}

// federationClashes warns when two federated policies share a coordinator prefix: upstream
// keys the coordinator by prefix and request key only, so they would share budgets.
func federationClashes(ps *parser) {
	seen := map[string]string{}
	for _, l := range ps.policies {
		f := l.p.Federated
		if f == nil {
			continue
		}
		if other, ok := seen[f.Prefix]; ok {
			ps.warn("config.limiters: policies %s and %s are both federated under prefix %s: equal keys share one budget",
				quote(other), quote(l.p.Name), quote(f.Prefix))
			continue
		}
		seen[f.Prefix] = l.p.Name
	}
}
