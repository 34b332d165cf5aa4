package monitor

import "sync"

// The window's resolution (doc.go): one-second count slots, ten-second top-list segments.
const (
	slotMs       = 1000
	slotCount    = int(Window / slotMs)
	segmentMs    = 10_000
	segmentCount = int(Window / segmentMs)
)

// shardCount spreads a policy's keys over independent locks; a key always lands on the same
// shard, so the shards' top lists hold disjoint keys and merge by concatenation.
const shardCount = 8

// sketchCap bounds each segment's top lists per shard: the reported top TopK come from
// shardCount * sketchCap candidates per segment.
const sketchCap = 32

type slot struct {
	sec             int64 // epoch second the counts belong to
	allowed, denied int64
}

type segment struct {
	seg                int64 // epoch ms / segmentMs the sketches belong to
	requested, deniedK sketch
}

// shard holds one slice of a policy's keys: its counts per second and its top lists per
// segment, each ring entry reused once its time has passed out of the window.
type shard struct {
	mu      sync.Mutex
	slots   [slotCount]slot
	segs    [segmentCount]segment
	latency [latencyPerShard]uint64 // latencySample values, a ring
	latNext int
}

func newShard() *shard {
	s := &shard{}
	for i := range s.segs {
		s.segs[i] = segment{seg: -1, requested: newSketch(sketchCap), deniedK: newSketch(sketchCap)}
	}
	for i := range s.slots {
		s.slots[i].sec = -1
	}
	return s
}

// record counts one decision for key (hash h); a call's latency, when micros >= 0, is kept
// with its first key.
func (s *shard) record(nowMs int64, h uint64, key string, allowed bool, micros int64) {
	sec, seg := nowMs/slotMs, nowMs/segmentMs
	s.mu.Lock()
	defer s.mu.Unlock()
	if micros >= 0 {
		s.latency[s.latNext] = latencySample(nowMs, micros)
		s.latNext = (s.latNext + 1) % latencyPerShard
	}
	sl := &s.slots[sec%int64(slotCount)]
	if sl.sec != sec {
		*sl = slot{sec: sec}
	}
	sg := &s.segs[seg%int64(segmentCount)]
	if sg.seg != seg {
		sg.seg = seg
		sg.requested.reset()
		sg.deniedK.reset()
	}
	sg.requested.add(h, key)
	if allowed {
		sl.allowed++
	} else {
		sl.denied++
		sg.deniedK.add(h, key)
	}
}

// collect adds the shard's in-window counts, top-list counts and latency samples to the
// accumulators.
func (s *shard) collect(nowMs int64, allowed, denied *int64, requestedK, deniedK map[string]int64, latency *[]uint64) {
	sec, seg := nowMs/slotMs, nowMs/segmentMs
	s.mu.Lock()
	defer s.mu.Unlock()
	*latency = append(*latency, s.latency[:]...)
	for i := range s.slots {
		if sl := &s.slots[i]; sl.sec > sec-int64(slotCount) && sl.sec <= sec {
			*allowed += sl.allowed
			*denied += sl.denied
		}
	}
	for i := range s.segs {
		if sg := &s.segs[i]; sg.seg > seg-int64(segmentCount) && sg.seg <= seg {
			sg.requested.addTo(requestedK)
			sg.deniedK.addTo(deniedK)
		}
	}
}
