package policy

import (
	"math"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Concurrency is a policy's `concurrency` block (admission.md §1): the adaptive ceiling of
// requests in flight. With MinLimit = MaxLimit the ceiling is pinned.
type Concurrency struct {
	MinLimit     int64
	MaxLimit     int64
	InitialLimit int64
	Algorithm    string // "gradient2" or "aimd"
	RTTWindow    int64
	Smoothing    float64 // gradient2 only
	Tolerance    float64
	BackoffRatio float64 // aimd only
	ScopeKey     bool    // scope: key (ours): one guard per request key instead of one per policy
}

// Admission algorithms and the defaults of the block.
const (
	Gradient2 = "gradient2"
	AIMD      = "aimd"

	defaultMinLimit     = 4
	defaultMaxLimit     = 512
	defaultRTTWindow    = 100
	defaultSmoothing    = 0.2
	defaultTolerance    = 2.0
	defaultBackoffRatio = 0.9
)

// IsAdmitter reports whether the policy has a concurrency axis (Admit, Release, Heartbeat).
func (p *Policy) IsAdmitter() bool { return p.Concurrency != nil }

// exclusiveKinds are the policy kinds a concurrency block cannot be combined with.
var exclusiveKinds = []string{"twoTier", "tokenBudget", "fleetBudget", "federated", "fairEscrow",
	"federatedFairEscrow", "distributedConcurrency"}

// concurrencyFields lists the block's fields in the order messages name them.
var concurrencyFields = []string{"minLimit", "maxLimit", "initialLimit", "algorithm", "rttWindow",
	"smoothing", "tolerance", "backoffRatio", "scope"}

// concurrency reads a concurrency block into p.Concurrency; a null or empty block is all
// defaults. Fields are judged in upstream's order so the first problem is the one it reports.
func (ps *parser) concurrency(p *Policy, path string, val *yaml.Node) {
	c := &Concurrency{MinLimit: defaultMinLimit, MaxLimit: defaultMaxLimit, Algorithm: Gradient2,
		RTTWindow: defaultRTTWindow, Smoothing: defaultSmoothing, Tolerance: defaultTolerance,
		BackoffRatio: defaultBackoffRatio}
	bp := fieldPath(path, "concurrency")
	m := resolve(val)
	given := map[string]*yaml.Node{}
	switch {
	case m == nil || (m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null"):
	case m.Kind != yaml.MappingNode:
		ps.fail(bp, "must be a mapping such as { minLimit: 4, maxLimit: 64 }, got %s", describe(val))
		return
	default:
		for _, e := range ps.entries(m, bp, func(k string) string { return fieldPath(bp, k) }) {
			if !e.named || !slices.Contains(concurrencyFields, e.name) {
				ps.fail(fieldPath(bp, e.key.Value), "unknown field in a concurrency block; allowed: minLimit, maxLimit, initialLimit, algorithm, rttWindow, smoothing, tolerance, backoffRatio, scope")
				continue
			}
			given[e.name] = e.val
		}
	}
	before := ps.failures
	whole := func(name string, dst *int64, lo int64, loName string) {
		n, ok := given[name]
		if !ok {
			return
		}
		f, isNum := yamlNumber(n)
		if !isNum || f != math.Trunc(f) || f < float64(lo) || f > MaxSafeInteger {
			bound := strconv.FormatInt(lo, 10)
			if loName != "" {
				bound = loName + " (" + bound + ")"
			}
			ps.fail(fieldPath(bp, name), "must be a whole number >= %s, got %s%s", bound, describe(n), quotedHint(n))
			return
		}
		*dst = int64(f)
	}
	whole("minLimit", &c.MinLimit, 1, "")
	whole("maxLimit", &c.MaxLimit, c.MinLimit, "minLimit")
	c.InitialLimit = c.MinLimit
	whole("initialLimit", &c.InitialLimit, c.MinLimit, "minLimit")
	if n, ok := given["initialLimit"]; ok && ps.failures == before && c.InitialLimit > c.MaxLimit {
		ps.fail(fieldPath(bp, "initialLimit"), "must be <= maxLimit (%d), got %s", c.MaxLimit, describe(n))
	}
	if n, ok := given["algorithm"]; ok {
		if s := resolve(n); isString(n) && (s.Value == Gradient2 || s.Value == AIMD) {
			c.Algorithm = s.Value
		} else {
			ps.fail(fieldPath(bp, "algorithm"), "must be gradient2 or aimd, got %s", describe(n))
		}
	}
	whole("rttWindow", &c.RTTWindow, 1, "")
	ps.fraction(given, bp, "smoothing", &c.Smoothing, func(f float64) bool { return f > 0 && f <= 1 }, "in (0, 1]")
	ps.fraction(given, bp, "tolerance", &c.Tolerance, func(f float64) bool { return f >= 1 && !math.IsInf(f, 0) }, "a finite number >= 1")
	ps.fraction(given, bp, "backoffRatio", &c.BackoffRatio, func(f float64) bool { return f >= 0.5 && f < 1 }, "in [0.5, 1)")
	if n, ok := given["scope"]; ok {
		if s := resolve(n); isString(n) && (s.Value == "key" || s.Value == "policy") {
			c.ScopeKey = s.Value == "key"
		} else {
			ps.fail(fieldPath(bp, "scope"), "must be policy or key, got %s", describe(n))
		}
	}
	if ps.failures == before {
		p.Concurrency = c
	}
}

// fraction reads a real-valued field that ok accepts.
func (ps *parser) fraction(given map[string]*yaml.Node, bp, name string, dst *float64, ok func(float64) bool, want string) {
	n, present := given[name]
	if !present {
		return
	}
	f, isNum := yamlNumber(n)
	if !isNum || math.IsNaN(f) || !ok(f) {
		ps.fail(fieldPath(bp, name), "must be %s, got %s%s", want, describe(n), quotedHint(n))
		return
	}
	*dst = f
}

// arg is Arg for the concurrency block's script parameters.
func (c *Concurrency) arg(name string) (string, bool) {
	switch name {
	case "minLimit":
		return itoa(c.MinLimit), true
	case "maxLimit":
		return itoa(c.MaxLimit), true
	case "initialLimit":
		return itoa(c.InitialLimit), true
	case "algorithm":
		return c.Algorithm, true
	case "rttWindow":
		return itoa(c.RTTWindow), true
	case "smoothing":
		return strconv.FormatFloat(c.Smoothing, 'g', -1, 64), true
	case "tolerance":
		return strconv.FormatFloat(c.Tolerance, 'g', -1, 64), true
	case "backoffRatio":
		return strconv.FormatFloat(c.BackoffRatio, 'g', -1, 64), true
	}
	return "", false
}

// ConcurrencyArg returns the ARGV text of a concurrency parameter by its manifest name
// (minLimit, maxLimit, initialLimit, algorithm, rttWindow, smoothing, tolerance,
// backoffRatio); ok is false when the policy is no admitter or takes no such parameter.
func (p *Policy) ConcurrencyArg(name string) (string, bool) {
	if p.Concurrency == nil {
		return "", false
	}
	return p.Concurrency.arg(name)
}

// GuardSuffix ends the Redis key of an admission guard. It holds a NUL byte, which no caller
// key may contain (ValidateKey), so no strategy key can ever equal a guard key.
const GuardSuffix = "\x00admission"

// GuardKey builds the Redis key of the guard serving key: `[namespace:]prefix` for scope
// policy, `[namespace:]prefix:key` for scope key, each followed by GuardSuffix.
func (p *Policy) GuardKey(namespace, key string) string {
	if p.Concurrency != nil && p.Concurrency.ScopeKey {
		return p.RedisKey(namespace, key) + GuardSuffix
	}
	base := p.Prefix
	if namespace != "" {
		if base != "" {
			base = namespace + ":" + base
		} else {
			base = namespace
		}
	}
	return base + GuardSuffix
}

// admitter reads a policy with a concurrency block: concurrency-only, or unified when it also
// names a strategy (that strategy, with its usual fields, is the rate axis).
func (ps *parser) admitter(p *Policy, path string, list []entry, conc, strategy *entry) {
	rest := make([]entry, 0, len(list))
	for _, e := range list {
		if e.named && e.name == "overrides" {
			ps.fail(fieldPath(path, e.name), "cannot sit beside a concurrency block: overrides are for rate limiters")
			return
		}
		if e.named && slices.Contains(exclusiveKinds, e.name) {
			ps.fail(fieldPath(path, e.name), "cannot be combined with a concurrency block (a policy has one kind)")
			return
		}
		if !e.named || e.name != "concurrency" {
			rest = append(rest, e)
		}
	}
	switch {
	case p.Unsupported != "":
		// A rate axis of a later core (quota): the policy loads and answers "unsupported".
		for _, e := range list {
			ps.checkDuplicates(e.val, fieldPath(path, e.key.Value))
		}
		return
	case strategy != nil:
		ps.limiter(p, path, rest, strategy)
	default:
		for _, e := range rest {
			if !e.named || e.name != "prefix" {
				ps.fail(fieldPath(path, e.key.Value), "unknown field for a concurrency-only policy; allowed: concurrency, prefix (add strategy for a rate axis)")
			}
		}
	}
	ps.concurrency(p, path, conc.val)
}
