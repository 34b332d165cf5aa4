package monitor

import (
	"math"
	"slices"
	"sync/atomic"
)

// latencyRingSize is how many recent call latencies a policy keeps for its summary.
const latencyRingSize = 256

// latencyRing keeps the most recent call latencies of a policy without a lock: each sample
// is one word, the epoch second it was taken in the high 32 bits and the latency in
// microseconds in the low 32, so a reader never sees half a sample.
type latencyRing struct {
	next    atomic.Uint64
	samples [latencyRingSize]atomic.Uint64
}

func (r *latencyRing) add(nowMs int64, micros int64) {
	micros = max(0, min(micros, math.MaxUint32))
	i := r.next.Add(1) - 1
	r.samples[i%latencyRingSize].Store(uint64(nowMs/1000)<<32 | uint64(micros))
}

// summary covers the samples taken within the window ending at nowMs.
func (r *latencyRing) summary(nowMs int64) Latency {
	oldest := nowMs/1000 - int64(slotCount)
	ms := make([]float64, 0, latencyRingSize)
	for i := range r.samples {
		v := r.samples[i].Load()
		if v == 0 || int64(v>>32) <= oldest {
			continue
		}
		ms = append(ms, float64(v&math.MaxUint32)/1000)
	}
	if len(ms) == 0 {
		return Latency{}
	}
	slices.Sort(ms)
	var sum float64
	for _, v := range ms {
		sum += v
	}
	return Latency{
		AvgMs: sum / float64(len(ms)),
		P50Ms: nearestRank(ms, 0.50),
		P99Ms: nearestRank(ms, 0.99),
		MaxMs: ms[len(ms)-1],
		N:     int64(len(ms)),
	}
}

// nearestRank is the p-th percentile of sorted by the nearest-rank method.
func nearestRank(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}
