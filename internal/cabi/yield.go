package cabi

import (
	"runtime"
	"sync/atomic"
	"time"
)

// An event loop (nginx) enters Go for each local answer and waits in the kernel between
// them. The runtime's monitor takes the thread's P back after 10 ms without a reschedule and
// then polls every 20 µs for a while: 5-8% of an nginx worker's CPU, measured. A yield every
// few milliseconds is a reschedule, so the monitor backs off (BENCHMARKS.md, "Two-tier leasing").
var (
	yieldCalls atomic.Uint32
	lastYield  atomic.Int64
	yieldEpoch = time.Now()
)

// yieldEvery is the pause between yields: under the monitor's 10 ms, far above a yield's cost.
const yieldEvery = 4 * time.Millisecond

// yieldSometimes yields the calling goroutine when no call has for yieldEvery; it reads the
// clock once every 64 checks only. checks is what this entry answers: 1, plus the chunk it
// hands to the key's slot, whose checks are answered without entering Go (credits.c).
func yieldSometimes(checks uint32) {
	if n := yieldCalls.Add(checks); n/64 == (n-checks)/64 {
		return
	}
	now := int64(time.Since(yieldEpoch))
	if last := lastYield.Load(); now-last >= int64(yieldEvery) && lastYield.CompareAndSwap(last, now) {
		runtime.Gosched()
	}
}
