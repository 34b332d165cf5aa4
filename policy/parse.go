package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.yaml.in/yaml/v3"
)

// loaded is a policy that passed its own checks, with what the file-wide pass still needs.
type loaded struct {
	p         *Policy
	ownPrefix bool
}

// parser holds the state of one Parse.
type parser struct {
	report
	policies      []loaded
	defaultPrefix *string // nil when the file sets no defaults.prefix
}

// Parse reads a policy file. It never half-loads: any problem means no Set, and the error
// lists every problem found (an *Error, or errors.Join of several).
func Parse(src []byte) (*Set, error) {
	var ps parser
	root := ps.document(src)
	if root != nil {
		ps.config(root)
	}
	ps.finish()
	if err := ps.err(); err != nil {
		return nil, err
	}
	return ps.set(), nil
}

// document returns the root node of the file's single YAML document, or nil after
// reporting why there is none.
func (ps *parser) document(src []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.fail("config", "the file is empty; it needs a limiters block")
		} else {
			ps.fail("config", "%s", clipLong(err.Error()))
		}
		return nil
	}
	// A second document would be silently ignored by a plain decode, hiding policies the
	// author meant to load; empty trailing documents (a stray "---") are harmless.
	for {
		var more yaml.Node
		err := safeDecode(dec, &more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ps.fail("config", "%s", clipLong(err.Error()))
			return nil
		}
		if !emptyDocument(&more) {
			ps.fail("config", "the file holds more than one YAML document (line %d); put every policy in one", more.Line)
			return nil
		}
	}
	if emptyDocument(&doc) {
		ps.fail("config", "the file is empty; it needs a limiters block")
		return nil
	}
	return resolve(doc.Content[0])
}

func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

// safeDecode keeps a panic inside the yaml library from escaping Parse.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: %v", p)
		}
	}()
	return dec.Decode(n)
}

// clipLong bounds a library message, which may quote input.
func clipLong(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// config walks the top-level mapping in file order, so problems come out in that order.
func (ps *parser) config(root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		ps.fail("config", "must be a mapping with a limiters block, got %s", describe(root))
		return
	}
	sawLimiters := false
	for _, e := range ps.entries(root, "config", func(k string) string { return fieldPath("config", k) }) {
		path := fieldPath("config", e.key.Value)
		if !e.named {
			ps.fail("config", "unknown top-level key %s; want version, defaults or limiters", describe(e.key))
			continue
		}
		switch e.name {
		case "version":
			if v := resolve(e.val); v == nil || v.Kind != yaml.ScalarNode {
				ps.fail(path, "must be a plain value such as 1, got %s", describe(e.val))
			}
		case "defaults":
			ps.defaults(e.val)
		case "limiters":
			sawLimiters = true
			ps.limiters(e.val)
		case "capture", "replay":
			ps.checkDuplicates(e.val, path)
			ps.warn("config.%s: ignored (a block of a later ThrottleKit core version)", e.name)
		default:
			ps.fail(path, "unknown top-level key; want version, defaults or limiters")
		}
	}
	if !sawLimiters {
		ps.fail("config.limiters", "is required")
	}
}

func (ps *parser) defaults(v *yaml.Node) {
	const path = "config.defaults"
	m := resolve(v)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(path, "must be a mapping such as { prefix: P }, got %s", describe(v))
		return
	}
	for _, e := range ps.entries(m, path, func(k string) string { return fieldPath(path, k) }) {
		if !e.named || e.name != "prefix" {
			ps.fail(fieldPath(path, e.key.Value), "unknown field; the only default is prefix")
			continue
		}
		if s, ok := ps.prefix(e.val, fieldPath(path, "prefix")); ok {
			ps.defaultPrefix = &s
		}
	}
}

// prefix reads a prefix value; "" is allowed and means "no policy prefix".
func (ps *parser) prefix(v *yaml.Node, path string) (string, bool) {
	if !isString(v) {
		ps.fail(path, "must be a string (quote it if it looks like a number), got %s", describe(v))
		return "", false
	}
	return resolve(v).Value, true
}

func (ps *parser) limiters(v *yaml.Node) {
	const path = "config.limiters"
	m := resolve(v)
	if m == nil || m.Kind != yaml.MappingNode {
		ps.fail(path, "must be a mapping of policy names to policies, got %s", describe(v))
		return
	}
	list := ps.entries(m, path, policyPath)
	if len(list) == 0 {
		ps.fail(path, "names no policies; give at least one")
		return
	}
	for _, e := range list {
		if !e.named || e.name == "" {
			ps.fail(path, "a policy name must be a non-empty string, got %s", describe(e.key))
			continue
		}
		ps.policy(e.name, e.val)
	}
}

// finish applies the file-wide rules once every policy is read: effective prefixes, then
// prefix clashes, which would let two policies corrupt each other's Redis state.
func (ps *parser) finish() {
	var live []*Policy      // the policies that touch Redis, in file order
	var admitters []*Policy // the policies with a concurrency guard
	for _, l := range ps.policies {
		if !l.ownPrefix {
			if ps.defaultPrefix != nil {
				l.p.Prefix = *ps.defaultPrefix
			} else {
				l.p.Prefix = l.p.Name
			}
		}
		// A concurrency-only admitter's guard key ends in GuardSuffix, which no strategy key
		// can: it shares no key space with rate limiters.
		// A federated policy's state is its coordinator's, under the federated prefix.
		if l.p.Unsupported == "" && l.p.Strategy != "" && l.p.Federated == nil {
			live = append(live, l.p)
		}
		if l.p.Unsupported == "" && l.p.Concurrency != nil {
			admitters = append(admitters, l.p)
		}
	}
	partner := clashPartners(live)
	for i, p := range live {
		if j := partner[i]; j < i {
			ps.fail(fieldPath(policyPath(p.Name), "prefix"), "%s", clashProblem(live[j], p))
		}
	}
	for _, c := range guardClashes(admitters) {
		ps.fail(fieldPath(policyPath(c[1].Name), "prefix"), "%s", guardProblem(c[0], c[1]))
	}
	federationClashes(ps)
}

func (ps *parser) set() *Set {
	s := &Set{byName: make(map[string]*Policy, len(ps.policies)), warnings: ps.warnings}
	for _, l := range ps.policies {
		s.byName[l.p.Name] = l.p
		s.names = append(s.names, l.p.Name)
	}
	slices.Sort(s.names)
	return s
}
