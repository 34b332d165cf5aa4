package engine

import (
	"time"
)

// The incremental expiry sweep: keys nobody touches again are reclaimed in the
// background, the way Redis's active expiry cycle does it: look at a small sample of a
// shard's keys, delete the expired ones, and go on with the same shard while more than a
// quarter of the sample had expired; stop the tick when its time budget is spent.

const (
	sweepSample = 20
	// sweepBudgetShare is the part of each interval the sweep may use (Redis: 25%).
	sweepBudgetShare = 4
)

// sweeper runs the sweep every interval until stop closes.
func (e *engine) sweeper(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	cursor := 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			cursor = e.ks.sweep(cursor, e.clock().UnixMilli(), interval/sweepBudgetShare, stop)
		}
	}
}

// sweep visits shards from cursor until every shard was visited or the budget is spent,
// and returns where the next pass starts. It holds one shard lock at a time, for one
// sample at a time.
func (ks *keyspace) sweep(cursor int, nowMs int64, budget time.Duration, stop <-chan struct{}) int {
	start := time.Now()
	for i := 0; i < engineShards; i++ {
		select {
		case <-stop:
			return cursor
		default:
		}
		sh := &ks.shards[cursor]
		cursor = (cursor + 1) % engineShards
		if !ks.sweepShard(sh, nowMs, start, budget) {
			return cursor
		}
	}
	return cursor
}

// sweepShard samples one shard until a sample is mostly live; false when the budget ran out.
func (ks *keyspace) sweepShard(sh *shard, nowMs int64, start time.Time, budget time.Duration) bool {
	for {
		sh.mu.Lock()
		if ks.closed.Load() {
			sh.mu.Unlock()
			return false
		}
		sampled, expired := 0, 0
		for k, e := range sh.keys {
			if e.expired(nowMs) {
				ks.remove(sh, k, e)
				expired++
			}
			if sampled++; sampled == sweepSample {
				break
			}
		}
		ks.expired.Add(int64(expired))
		sh.maybeShrink()
		sh.mu.Unlock()
		if time.Since(start) > budget {
			return false
		}
		if expired*4 <= sampled {
			return true
		}
	}
}
