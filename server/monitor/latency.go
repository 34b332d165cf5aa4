package monitor

import (
	"math"
	"slices"
)

// latencyPerShard is how many recent call latencies each shard of a policy keeps: the
// policy's summary covers up to shardCount times as many. Kept per shard, under the lock
// the call takes anyway, so that concurrent calls never contend on one shared counter.
const latencyPerShard = 32

// latencySample packs a sample in one word: the epoch second it was taken in the high 32
// bits (so old samples can be left out of the window), the latency in microseconds in the
// low 32; 0 is no sample.
func latencySample(nowMs, micros int64) uint64 {
	micros = max(0, min(micros, math.MaxUint32))
	return uint64(nowMs/1000)<<32 | uint64(micros)
}

// latencySummary summarises the samples taken within the window ending at nowMs.
func latencySummary(samples []uint64, nowMs int64) Latency {
	oldest := nowMs/1000 - int64(slotCount)
	ms := make([]float64, 0, len(samples))
	for _, v := range samples {
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
