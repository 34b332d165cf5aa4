package monitor

// sketch is a space-saving top-k summary of at most cap keys: a key not yet held replaces
// the one with the smallest count, inheriting that count (so counts are upper bounds, exact
// while fewer than cap distinct keys were seen). Not safe for concurrent use: its shard's
// lock guards it.
//
// It is a plain slice searched by the key's hash: for a few dozen entries one pass that
// looks for the key and the minimum together costs less than a map's hashing, deleting
// and inserting on every miss, which a flood of distinct keys makes the common case.
type sketch struct {
	items []sketchItem
	cap   int
}

type sketchItem struct {
	hash  uint64 // the key's hash, compared before the key itself
	key   string
	count int64
}

// newSketch allocates nothing yet: a segment without traffic (most of them, for a quiet
// policy) costs only its header.
func newSketch(capacity int) sketch { return sketch{cap: capacity} }

// add counts one occurrence of key, whose hash is h.
func (s *sketch) add(h uint64, key string) {
	m := -1
	for i := range s.items {
		it := &s.items[i]
		if it.hash == h && it.key == key {
			it.count++
			return
		}
		if m < 0 || it.count < s.items[m].count {
			m = i
		}
	}
	if len(s.items) < s.cap {
		if s.items == nil {
			s.items = make([]sketchItem, 0, s.cap)
		}
		s.items = append(s.items, sketchItem{hash: h, key: key, count: 1})
		return
	}
	s.items[m] = sketchItem{hash: h, key: key, count: s.items[m].count + 1}
}

func (s *sketch) reset() {
	clear(s.items) // drop the keys' strings now, not when overwritten
	s.items = s.items[:0]
}

// addTo sums the sketch's counts into acc.
func (s *sketch) addTo(acc map[string]int64) {
	for _, it := range s.items {
		acc[it.key] += it.count
	}
}
