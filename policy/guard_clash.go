package policy

import "strings"

// Admitters whose guards could be one Redis key would count each other's slots. A guard of
// scope policy is the single key prefix + GuardSuffix; a guard of scope key is prefix:K +
// GuardSuffix for every key K, the key space of the prefix. Two guards clash when both are
// single keys with one prefix, when both are key spaces that clash as rate limiters' do, or
// when the single key lies in the key space (a key-scope prefix Q with "Q:" beginning the
// other's prefix, or an empty Q). Linear in the prefixes' lengths, as the rate clash check is
// (hostile files may hold many policies).
func guardClashes(admitters []*Policy) [][2]*Policy {
	var clashes [][2]*Policy
	single := map[string]*Policy{}
	var spaces []*Policy
	for _, p := range admitters {
		if p.Concurrency.ScopeKey {
			spaces = append(spaces, p)
			continue
		}
		if first, ok := single[p.Prefix]; ok {
			clashes = append(clashes, [2]*Policy{first, p})
			continue
		}
		single[p.Prefix] = p
	}
	partner := clashPartners(spaces)
	bySpace := map[string]*Policy{}
	for i, p := range spaces {
		if j := partner[i]; j < i {
			clashes = append(clashes, [2]*Policy{spaces[j], p})
		}
		if _, ok := bySpace[keySpace(p)]; !ok {
			bySpace[keySpace(p)] = p
		}
	}
	for _, p := range admitters {
		if p.Concurrency.ScopeKey || single[p.Prefix] != p {
			continue
		}
		if q, ok := bySpace[""]; ok {
			clashes = append(clashes, [2]*Policy{q, p})
			continue
		}
		for i := strings.IndexByte(p.Prefix, ':'); i >= 0; {
			if q, ok := bySpace[p.Prefix[:i+1]]; ok {
				clashes = append(clashes, [2]*Policy{q, p})
				break
			}
			next := strings.IndexByte(p.Prefix[i+1:], ':')
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return clashes
}

func guardProblem(a, b *Policy) string {
	return "policies " + quote(a.Name) + " and " + quote(b.Name) + " would share a concurrency guard: " +
		"one Redis key could hold both's slots (prefixes " + quote(a.Prefix) + " and " + quote(b.Prefix) +
		"); give one of them its own prefix"
}
