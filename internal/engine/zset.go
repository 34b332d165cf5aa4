package engine

import (
	"sort"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
)

// zsetValue is a sorted set ordered as Redis orders one: by score, then by member bytes.
// A sorted slice suits the sizes the log strategy creates (at most the policy's limit,
// capped at 10,000): ranks are indexes, score ranges are binary searches, and inserting
// mostly appends (new entries carry the newest score). Past zsetIndexAt members, a map
// finds a member's score without a scan.
type zsetValue struct {
	items       []zitem
	index       map[string]float64
	memberBytes int64 // stringBytes of every member
}

type zitem struct {
	score  float64
	member string
}

const zsetIndexAt = 32

func zless(a, b zitem) bool {
	return a.score < b.score || (a.score == b.score && a.member < b.member)
}

// search returns the position of the first item not below it.
func (z *zsetValue) search(it zitem) int {
	return sort.Search(len(z.items), func(i int) bool { return !zless(z.items[i], it) })
}

func (z *zsetValue) scoreOf(member string) (float64, bool) {
	if z.index != nil {
		s, ok := z.index[member]
		return s, ok
	}
	for _, it := range z.items {
		if it.member == member {
			return it.score, true
		}
	}
	return 0, false
}

// add sets member's score and reports whether the member is new.
func (z *zsetValue) add(score float64, member string) bool {
	if score == 0 {
		// A small Redis sorted set (listpack) stores -0 as 0. (A skiplist-encoded one, past
		// 128 members, keeps -0; the scripts' scores are clocks, never zero.)
		score = 0
	}
	old, exists := z.scoreOf(member)
	if exists {
		if old == score {
			return false
		}
		i := z.search(zitem{old, member})
		z.items = append(z.items[:i], z.items[i+1:]...)
	}
	it := zitem{score, member}
	i := len(z.items)
	if i > 0 && !zless(z.items[i-1], it) {
		i = z.search(it)
	}
	z.items = append(z.items, zitem{})
	copy(z.items[i+1:], z.items[i:])
	z.items[i] = it
	if !exists {
		z.memberBytes += stringBytes(len(member))
	}
	switch {
	case z.index != nil:
		z.index[member] = score
	case len(z.items) > zsetIndexAt:
		z.index = make(map[string]float64, 2*len(z.items))
		for _, it := range z.items {
			z.index[it.member] = it.score
		}
	}
	return !exists
}

// scoreRange is a score interval as ZRANGEBYSCORE takes one: '(' makes a bound exclusive.
type scoreRange struct {
	min, max     float64
	minex, maxex bool
}

// parseScoreRange is Redis's zslParseRange: strtod over the whole bound after an optional
// '(' (leading spaces allowed, an empty bound reads 0), NaN refused.
func parseScoreRange(minArg, maxArg string) (scoreRange, bool) {
	var r scoreRange
	var ok bool
	if r.min, r.minex, ok = parseScoreBound(minArg); !ok {
		return r, false
	}
	if r.max, r.maxex, ok = parseScoreBound(maxArg); !ok {
		return r, false
	}
	return r, true
}

func parseScoreBound(s string) (v float64, exclusive, ok bool) {
	if len(s) > 0 && s[0] == '(' {
		s, exclusive = s[1:], true
	}
	v, n, _ := lua51.Strtod(s)
	if n != len(lua51.CStr(s)) || v != v {
		return 0, false, false
	}
	return v, exclusive, true
}

// parseScore is Redis's string2d for a ZADD score: the whole argument must be a strtod
// number (no leading space, no NaN, no overflow or underflow to zero).
func parseScore(s string) (float64, bool) {
	if len(s) == 0 || lua51.IsSpace(s[0]) {
		return 0, false
	}
	v, n, erange := lua51.Strtod(s)
	if n != len(s) || v != v || erange {
		return 0, false
	}
	return v, true
}

// bounds returns the slice positions [lo, hi) of the items whose score lies in r.
func (z *zsetValue) bounds(r scoreRange) (lo, hi int) {
	if r.min > r.max || (r.min == r.max && (r.minex || r.maxex)) {
		return 0, 0
	}
	lo = sort.Search(len(z.items), func(i int) bool {
		if r.minex {
			return z.items[i].score > r.min
		}
		return z.items[i].score >= r.min
	})
	hi = sort.Search(len(z.items), func(i int) bool {
		if r.maxex {
			return z.items[i].score >= r.max
		}
		return z.items[i].score > r.max
	})
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// removeRange deletes the items in r and returns how many went.
func (z *zsetValue) removeRange(r scoreRange) int {
	lo, hi := z.bounds(r)
	if lo == hi {
		return 0
	}
	for _, it := range z.items[lo:hi] {
		z.memberBytes -= stringBytes(len(it.member))
		if z.index != nil {
			delete(z.index, it.member)
		}
	}
	n := copy(z.items[lo:], z.items[hi:])
	clear(z.items[lo+n:])
	z.items = z.items[:lo+n]
	if cap(z.items) > 64 && len(z.items) < cap(z.items)/4 {
		// Give back the memory of a log that shrank, as Redis frees its skiplist nodes.
		z.items = append([]zitem(nil), z.items...)
	}
	if z.index != nil && len(z.items) <= zsetIndexAt/2 {
		z.index = nil
	}
	return hi - lo
}

// remove deletes member and reports whether it was there.
func (z *zsetValue) remove(member string) bool {
	score, ok := z.scoreOf(member)
	if !ok {
		return false
	}
	i := z.search(zitem{score, member})
	z.memberBytes -= stringBytes(len(member))
	if z.index != nil {
		delete(z.index, member)
	}
	last := len(z.items) - 1
	copy(z.items[i:], z.items[i+1:])
	z.items[last] = zitem{} // drop the reference to the member
	z.items = z.items[:last]
	if z.index != nil && len(z.items) <= zsetIndexAt/2 {
		z.index = nil
	}
	return true
}
