package policy

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The two overrides that are not limits: a key that is never limited and never counted, and
// a key that is always denied and never counted.
const (
	OverrideUnlimited = "unlimited"
	OverrideDeny      = "deny"
)

// Overrides is a rate limiter's `overrides:` block: per request key (or `*` glob pattern), the
// spec its checks run with instead of the policy's fields. A policy with the block, even an
// empty one, also honours override records kept in Redis (docs/redis-keys.md).
type Overrides struct {
	exact    map[string]string
	patterns []pattern // in file order; consulted after the exact keys

	// The policy's own fields, from which OverrideSpec reads a policy with a spec's fields
	// in place, as the block's overrides were read.
	base     []entry
	strategy *entry
}

type pattern struct {
	glob, spec string
}

// For returns the file's spec for a request key: an exact key's, else the first matching
// pattern's, else "".
func (o *Overrides) For(key string) string {
	if o == nil {
		return ""
	}
	if s, ok := o.exact[key]; ok {
		return s
	}
	for _, p := range o.patterns {
		if globMatch(p.glob, key) {
			return p.spec
		}
	}
	return ""
}

// Len is the number of entries of the block.
func (o *Overrides) Len() int {
	if o == nil {
		return 0
	}
	return len(o.exact) + len(o.patterns)
}

// HasOverrides reports whether the policy honours overrides (it has an `overrides:` block).
func (p *Policy) HasOverrides() bool { return p.Overrides != nil }

// overrideFields lists, per strategy that takes overrides, the check script's ARGV an
// override replaces, in manifest order (luascripts.OverrideFields says the same; a test
// compares them). A spec names them; a policy file may spell a window as it does elsewhere.
var overrideFields = map[Strategy][]string{
	GCRA:             {"periodMs", "limit", "burst"},
	TokenBucket:      {"capacity", "refillPerSec"},
	FixedWindow:      {"limit", "windowMs"},
	SlidingWindow:    {"windowMs", "limit", "buckets"},
	SlidingWindowLog: {"windowMs", "limit"},
}

// OverrideFields lists the fields an override of the strategy replaces, by their script
// names (nil when the strategy takes no overrides).
func OverrideFields(s Strategy) []string { return slices.Clone(overrideFields[s]) }

// globMatch reports whether key matches glob, where `*` stands for any run of bytes
// (possibly empty) and every other byte for itself.
func globMatch(glob, key string) bool {
	parts := strings.Split(glob, "*")
	if len(parts) == 1 {
		return glob == key
	}
	if !strings.HasPrefix(key, parts[0]) {
		return false
	}
	key = key[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(key, mid)
		if i < 0 {
			return false
		}
		key = key[i+len(mid):]
	}
	return len(key) >= len(last) && strings.HasSuffix(key, last)
}

// splitOverrides takes the overrides entry out of a policy's fields.
func splitOverrides(list []entry) (rest []entry, block *entry) {
	for i := range list {
		if list[i].named && list[i].name == "overrides" {
			block = &list[i]
			continue
		}
		rest = append(rest, list[i])
	}
	return rest, block
}

// overridesBlock reads a rate limiter's `overrides:` block once its own fields have loaded:
// list holds those fields, from which each override's policy is read again with the
// override's fields in place.
func (ps *parser) overridesBlock(p *Policy, path string, list []entry, strategy *entry, block *entry) {
	bp := fieldPath(path, "overrides")
	if _, ok := overrideFields[p.Strategy]; !ok {
		ps.fail(bp, "a %s policy takes no overrides (gcra, tokenBucket, fixedWindow, slidingWindow and slidingWindowLog do)", p.Strategy)
		return
	}
	m := resolve(block.val)
	if m != nil && m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null" {
		m = &yaml.Node{Kind: yaml.MappingNode}
	}
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(bp, "must be a mapping of keys (or * patterns) to unlimited, deny or fields of the strategy, got %s", describe(block.val))
		return
	}
	o := &Overrides{exact: map[string]string{}, base: list, strategy: strategy}
	for _, e := range ps.entries(m, bp, func(k string) string { return fieldPath(bp, k) }) {
		kp := fieldPath(bp, e.key.Value)
		if e.key.Kind != yaml.ScalarNode {
			ps.fail(kp, "a key must be a string, got %s", describe(e.key))
			continue
		}
		key := e.key.Value // a number or a bool is a key too: its text
		if len(key) > MaxKeyBytes || strings.IndexByte(key, 0) >= 0 {
			ps.fail(kp, "a key is at most %d bytes with no NUL byte", MaxKeyBytes)
			continue
		}
		spec, ok := ps.overrideValue(p, kp, list, strategy, e.val)
		if !ok {
			continue
		}
		if strings.Contains(key, "*") {
			o.patterns = append(o.patterns, pattern{glob: key, spec: spec})
		} else {
			o.exact[key] = spec
		}
	}
	p.Overrides = o
}

// overrideValue reads one override: unlimited, deny, or a mapping of the strategy's fields,
// validated as the policy with those values would be; it returns the spec the scripts read.
func (ps *parser) overrideValue(p *Policy, kp string, list []entry, strategy *entry, val *yaml.Node) (string, bool) {
	n := resolve(val)
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && (n.Value == OverrideUnlimited || n.Value == OverrideDeny) {
		return n.Value, true
	}
	if n == nil || n.Kind != yaml.MappingNode {
		ps.fail(kp, "must be unlimited, deny, or a mapping of %s fields (e.g. { limit: 4 }), got %s", p.Strategy, describe(val))
		return "", false
	}
	return ps.overrideFieldsOf(p, kp, list, strategy, ps.entries(n, kp, func(k string) string { return fieldPath(kp, k) }))
}

// overrideFieldsOf validates override fields against the policy (list holds its own fields)
// and renders them as a spec: every field the override gives, and every field whose value
// it changes (a gcra burst that defaults to the limit follows an overridden limit).
func (ps *parser) overrideFieldsOf(p *Policy, kp string, list []entry, strategy *entry, fields []entry) (string, bool) {
	sh := shapes[p.Strategy]
	before := ps.failures
	if len(fields) == 0 {
		ps.fail(kp, "names no field; give unlimited, deny, or some of %s", strings.Join(sh.fields, ", "))
		return "", false
	}
	given := map[string]bool{}
	newPeriod := false
	for _, f := range fields {
		if !f.named || !slices.Contains(sh.fields, f.name) {
			ps.fail(fieldPath(kp, f.key.Value), "unknown field for a %s override; allowed: %s", p.Strategy, strings.Join(sh.fields, ", "))
			continue
		}
		given[f.name] = true
		newPeriod = newPeriod || slices.Contains(sh.periods, f.name)
	}
	if ps.failures != before {
		return "", false
	}
	merged := make([]entry, 0, len(list)+len(fields))
	for _, e := range list {
		if e.named && (given[e.name] || (newPeriod && slices.Contains(sh.periods, e.name))) {
			continue
		}
		merged = append(merged, e)
	}
	merged = append(merged, fields...)
	q := &Policy{Name: p.Name}
	ps.limiter(q, kp, merged, strategy)
	if ps.failures != before {
		return "", false
	}
	var pairs []string
	for _, name := range overrideFields[p.Strategy] {
		mine, _ := q.Arg(name)
		base, _ := p.Arg(name)
		if mine != base || given[name] || (newPeriod && (name == "periodMs" || name == "windowMs")) {
			pairs = append(pairs, name+"="+mine)
		}
	}
	return strings.Join(pairs, ","), true
}

// specValue is what a value of a spec may hold: a number or a duration such as 1.5s.
var specValue = regexp.MustCompile(`^[0-9A-Za-z.+-]+$`)

// OverrideSpec validates a spec given for one key of the policy (what an operator stores in
// Redis: "unlimited", "deny", or name=value pairs separated by "," with the fields a policy
// file's override takes, e.g. "limit=4,burst=8" or "windowMs=1h") exactly as the file's
// `overrides:` block would, and returns it as the scripts read it (fields by their script
// names, numbers in milliseconds). It fails on a policy without an `overrides:` block.
func (p *Policy) OverrideSpec(spec string) (string, error) {
	path := fieldPath(policyPath(p.Name), "overrides")
	var ps parser
	switch {
	case !p.HasOverrides():
		ps.fail(policyPath(p.Name), "has no overrides block, so it reads no override records")
	case spec == OverrideUnlimited || spec == OverrideDeny:
		return spec, nil
	case spec == "":
		ps.fail(path, "an empty spec; give unlimited, deny, or name=value pairs such as limit=4")
	}
	if err := ps.err(); err != nil {
		return "", err
	}
	var doc strings.Builder
	for _, pair := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !slices.Contains(shapes[p.Strategy].fields, name) || !specValue.MatchString(value) {
			ps.fail(path, "%s: want unlimited, deny, or name=value pairs of %s separated by \",\"", quote(pair),
				strings.Join(shapes[p.Strategy].fields, ", "))
			continue
		}
		doc.WriteString(name + ": " + value + "\n")
	}
	if err := ps.err(); err != nil {
		return "", err
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc.String()), &root); err != nil || len(root.Content) != 1 {
		ps.fail(path, "%s: not name=value pairs", quote(spec))
		return "", ps.err()
	}
	m := root.Content[0]
	out, _ := ps.overrideFieldsOf(p, path, p.Overrides.base, p.Overrides.strategy, ps.entries(m, path, func(k string) string { return fieldPath(path, k) }))
	if err := ps.err(); err != nil {
		return "", err
	}
	return out, nil
}
