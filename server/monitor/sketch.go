package monitor

// sketch is a space-saving top-k summary of at most cap keys: a key not yet held replaces
// the one with the smallest count, inheriting that count (so counts are upper bounds, exact
// while fewer than cap distinct keys were seen). Not safe for concurrent use: its shard's
// lock guards it.
type sketch struct {
	idx   map[string]int // key -> position in items
	items []KeyCount
	cap   int
}

func newSketch(capacity int) sketch {
	return sketch{idx: make(map[string]int, capacity), items: make([]KeyCount, 0, capacity), cap: capacity}
}

func (s *sketch) add(key string) {
	if i, ok := s.idx[key]; ok {
		s.items[i].Count++
		return
	}
	if len(s.items) < s.cap {
		s.idx[key] = len(s.items)
		s.items = append(s.items, KeyCount{Key: key, Count: 1})
		return
	}
	// A linear scan: cap is small, and a heap would cost more on every hit than it saves
	// on the misses.
	m := 0
	for i := 1; i < len(s.items); i++ {
		if s.items[i].Count < s.items[m].Count {
			m = i
		}
	}
	delete(s.idx, s.items[m].Key)
	s.idx[key] = m
	s.items[m] = KeyCount{Key: key, Count: s.items[m].Count + 1}
}

func (s *sketch) reset() {
	clear(s.idx)
	s.items = s.items[:0]
}

// addTo sums the sketch's counts into acc.
func (s *sketch) addTo(acc map[string]int64) {
	for _, it := range s.items {
		acc[it.Key] += it.Count
	}
}
