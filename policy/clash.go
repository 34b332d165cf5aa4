package policy

import (
	"sort"
	"strings"
)

// Two policies clash when some Redis key is the key of both (policies.md): with P and Q
// their effective prefixes, when P = Q, when one is a ":"-prefix of the other, or when
// either is empty. A policy's keys are P + ":" + K for any K (every key, for P = ""), so
// with space(P) = P + ":" (and space("") = ""), two policies clash exactly when one space
// is a string prefix of the other. Nothing else can clash: otherwise the two spaces differ
// at some byte both contain, and so do all their keys.

// keySpace is the common beginning of all the keys of policy p.
func keySpace(p *Policy) string {
	if p.Prefix == "" && !p.JoinAlways {
		return ""
	}
	return p.Prefix + ":"
}

// clashPartners returns, for each policy of list (in file order), the index of the first
// policy of list it clashes with, or len(list) when it clashes with none. It sorts the key
// spaces, so that the spaces extending a space follow it contiguously, and walks them with
// a stack of the spaces that are prefixes of the current one: O(n log n) comparisons,
// however long the prefixes or the chains of ":"-prefixes.
func clashPartners(list []*Policy) []int {
	n := len(list)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return keySpace(list[order[a]]) < keySpace(list[order[b]])
	})
	partner := make([]int, n)
	for i := range partner {
		partner[i] = n
	}
	type frame struct {
		idx   int    // a policy
		space string // its key space
		above int    // the lowest index among the policies whose spaces are prefixes of this one
		below int    // the lowest index among the policies whose spaces extend this one
	}
	var stack []frame
	pop := func() {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		partner[f.idx] = min(partner[f.idx], f.above, f.below)
		if len(stack) > 0 {
			parent := &stack[len(stack)-1]
			parent.below = min(parent.below, f.idx, f.below)
		}
	}
	for _, i := range order {
		space := keySpace(list[i])
		for len(stack) > 0 && !strings.HasPrefix(space, stack[len(stack)-1].space) {
			pop()
		}
		above := n
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			above = min(top.above, top.idx)
		}
		stack = append(stack, frame{idx: i, space: space, above: above, below: n})
	}
	for len(stack) > 0 {
		pop()
	}
	return partner
}

// clashProblem explains why policy b (later in the file) clashes with policy a, stating the
// rule of policies.md that applies.
func clashProblem(a, b *Policy) string {
	const fix = "; give one of them its own prefix"
	pa, pb := a.Prefix, b.Prefix
	switch {
	case pa == pb:
		return "policies " + quote(a.Name) + " and " + quote(b.Name) + " share the key prefix " + quote(pa) + fix
	case pa == "" || pb == "":
		raw, other := a, b
		if pb == "" {
			raw, other = b, a
		}
		return "policies " + quote(a.Name) + " and " + quote(b.Name) + " clash: policy " + quote(raw.Name) +
			" has the empty prefix, which takes raw keys, so its key " + quote(other.Prefix+":K") +
			" is policy " + quote(other.Name) + "'s key \"K\" (a policy with prefix \"\" may only stand alone in a file)" + fix
	}
	short, long := a, b
	if len(pb) < len(pa) {
		short, long = b, a
	}
	return "policies " + quote(a.Name) + " and " + quote(b.Name) + " clash: prefix " + quote(short.Prefix) +
		" is a \":\"-prefix of prefix " + quote(long.Prefix) + ", so policy " + quote(short.Name) + "'s key " +
		quote(long.Prefix[len(short.Prefix)+1:]+":K") + " is policy " + quote(long.Name) + "'s key \"K\"" + fix
}
