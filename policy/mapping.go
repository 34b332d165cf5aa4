package policy

import (
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// entry is one key/value pair of a YAML mapping after merge keys are expanded.
type entry struct {
	name  string // the key text, meaningful only when named
	named bool   // the key is a string scalar; other keys never match a field name
	key   *yaml.Node
	val   *yaml.Node
}

// Merge keys (<<) may nest and even form cycles through anchors, so their expansion is
// bounded in depth and in total work per Parse (an 11 KB file can otherwise ask for
// billions of merged pairs).
const (
	maxMergeDepth = 8
	maxMergedKeys = 1_000_000
)

// resolve follows an alias to the node it names. Anchors cannot sit on aliases, so one step
// suffices in a well-formed tree; the bound only guarantees termination.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 4; i++ {
		n = n.Alias
	}
	return n
}

// entries lists the pairs of mapping m in file order, reporting duplicate keys. Pairs pulled
// in by merge keys follow the mapping's own pairs; own keys win over merged ones, and an
// earlier merge source wins over a later one, as YAML's merge rule says. keyPath names the
// path of a key for messages.
func (r *report) entries(m *yaml.Node, path string, keyPath func(string) string) []entry {
	return r.mergedEntries(m, path, keyPath, 0)
}

func (r *report) mergedEntries(m *yaml.Node, path string, keyPath func(string) string, depth int) []entry {
	var out []entry
	var sources []*yaml.Node
	seen := make(map[string]bool)
	firstLine := make(map[string]int)
	// Only merged mappings are charged: the mapping itself is linear in the input, but
	// merges can revisit one anchor many times. Each visit costs too, not just its pairs,
	// so a wide fan of empty mappings is bounded as well.
	if depth > 0 {
		r.merged += 1 + len(m.Content)/2
		if r.merged > maxMergedKeys {
			r.fail(path, "too many keys once merge keys (<<) are expanded")
			return nil
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil {
			continue // the parser never builds one; callers may rely on a key
		}
		e := entry{key: k, val: m.Content[i+1]}
		if k.Kind != yaml.ScalarNode {
			out = append(out, e)
			continue
		}
		tag := k.ShortTag()
		id := tag + "\x00" + k.Value
		if seen[id] {
			r.fail(keyPath(k.Value), "duplicate key (first given at line %d)", firstLine[id])
			continue
		}
		seen[id] = true
		firstLine[id] = k.Line
		if tag == "!!merge" {
			sources = append(sources, e.val)
			continue
		}
		e.name, e.named = k.Value, tag == "!!str"
		out = append(out, e)
	}
	for _, src := range sources {
		for _, m2 := range r.mergeSources(src, path, depth) {
			for _, e := range r.mergedEntries(m2, path, keyPath, depth+1) {
				if e.key.Kind == yaml.ScalarNode {
					id := e.key.ShortTag() + "\x00" + e.key.Value
					if seen[id] {
						continue
					}
					seen[id] = true
				}
				out = append(out, e)
			}
		}
	}
	return out
}

// mergeSources returns the mappings a merge key names: one mapping or a list of them.
func (r *report) mergeSources(v *yaml.Node, path string, depth int) []*yaml.Node {
	if depth >= maxMergeDepth {
		r.fail(path, "merge keys (<<) nested more than %d deep, or in a loop", maxMergeDepth)
		return nil
	}
	v = resolve(v)
	if v != nil && v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	if v == nil || v.Kind != yaml.SequenceNode {
		r.fail(fieldPath(path, "<<"), "a merge key must name a mapping or a list of mappings, got %s", describe(v))
		return nil
	}
	var out []*yaml.Node
	for _, item := range v.Content {
		item = resolve(item)
		if item == nil || item.Kind != yaml.MappingNode {
			r.fail(fieldPath(path, "<<"), "a merge key must name a mapping or a list of mappings, got a list holding %s", describe(item))
			continue
		}
		out = append(out, item)
	}
	return out
}

// describe shows a value as the file wrote it, for the "got X" part of a message: strings
// quoted, numbers and other scalars as written, collections by kind only.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.DocumentNode:
		return "a document"
	case n.Kind != yaml.ScalarNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return quote(n.Value)
	case "!!null":
		return "null"
	}
	if n.Value == "" || label(n.Value) != n.Value {
		return quote(n.Value)
	}
	return n.Value
}

// isString reports whether n is a string scalar; a quoted "10" is one, a bare 10 is not.
func isString(n *yaml.Node) bool {
	n = resolve(n)
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// decodeScalar asks the yaml library for the value of a scalar so that numbers mean what
// any YAML reader says they mean (0x10, 1_000, 1e3, .inf). It also shields Parse from a
// panic inside the library, since Parse must never panic on any input.
func decodeScalar(n *yaml.Node) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("yaml: %v", p)
		}
	}()
	err = n.Decode(&v)
	return v, err
}

// yamlNumber returns the value of an !!int or !!float scalar. Integers beyond the double's
// exact range round, which is harmless: every caller rejects them as above MaxSafeInteger.
func yamlNumber(n *yaml.Node) (float64, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, false
	}
	if tag := n.ShortTag(); tag != "!!int" && tag != "!!float" {
		return 0, false
	}
	v, err := decodeScalar(n)
	if err != nil {
		return 0, false
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// looksNumeric spots a quoted number, to tell the user why "10" is refused.
func looksNumeric(n *yaml.Node) bool {
	if !isString(n) {
		return false
	}
	_, err := strconv.ParseFloat(resolve(n).Value, 64)
	return err == nil
}

// checkDuplicates reports duplicate keys anywhere under n. It serves the blocks this
// package otherwise skips (capture, replay, later-core features): a duplicate key makes the
// YAML itself invalid, whoever ends up reading the block. Aliases are not followed, so
// anchors cannot make the walk loop or multiply.
func (r *report) checkDuplicates(n *yaml.Node, path string) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		firstLine := make(map[string]int)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, kp := n.Content[i], path
			if k.Kind == yaml.ScalarNode {
				kp = fieldPath(path, k.Value)
				id := k.ShortTag() + "\x00" + k.Value
				if line, dup := firstLine[id]; dup {
					r.fail(kp, "duplicate key (first given at line %d)", line)
				} else {
					firstLine[id] = k.Line
				}
			}
			r.checkDuplicates(n.Content[i+1], kp)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			r.checkDuplicates(item, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}
