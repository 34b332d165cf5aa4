package monitor

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/throttlekit/throttlekit-go/client"
)

// Window is the length, in ms, of the analytics window the counters and top lists cover.
const Window = 60_000 // ms

// TopK is the length of each top list a snapshot reports.
const TopK = 10

// MaxKeyBytes bounds a key as the monitor stores and reports it: longer keys are cut (at a
// character boundary) and end with "…", so that hostile 4 KiB keys cannot make the fixed
// number of held keys a large amount of memory.
const MaxKeyBytes = 256

// Options configure a Monitor; the zero value is ready to use.
type Options struct {
	// Now is the clock; nil means time.Now. Tests inject one to cross window boundaries.
	Now func() time.Time
	// NodeID names this server in snapshots (e.g. its listening address).
	NodeID string
}

// Monitor records decisions and reports them. It is safe for concurrent use.
type Monitor struct {
	now    func() time.Time
	nodeID string
	seed   maphash.Seed

	policiesMu sync.Mutex                              // serialises adding a policy
	policies   atomic.Pointer[map[string]*policyStats] // copy on write: Record reads without a lock

	denials denialRing

	subMu    sync.Mutex // guards changes to watchers, and closed
	watchers atomic.Pointer[watcherList]
	closed   bool
	done     chan struct{} // closed by Close: every Watch ends

	droppedFull, droppedRate atomic.Int64
}

// policyStats is what one policy's decisions leave behind.
type policyStats struct {
	shards    [shardCount]*shard
	lastLimit atomic.Int64
}

// New returns an empty Monitor.
func New(opts Options) *Monitor {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	m := &Monitor{now: now, nodeID: opts.NodeID, seed: maphash.MakeSeed(), done: make(chan struct{})}
	empty := map[string]*policyStats{}
	m.policies.Store(&empty)
	m.watchers.Store(&watcherList{})
	return m
}

// Close ends every open Watch stream and refuses new ones; recording goes on.
func (m *Monitor) Close() { m.closeWatchers() }

// Record notes the decisions one call gave for policy at the instant at: keys[i] got ds[i] (a
// single key for Check and Debit), and the call took elapsed. The caller passes the instant
// it has already read, sparing a clock read. policy must be a configured name, so that the
// set of names held stays bounded by the policy file.
func (m *Monitor) Record(policy string, keys []string, ds []client.Decision, at time.Time, elapsed time.Duration) {
	if len(ds) == 0 || len(keys) != len(ds) {
		return
	}
	nowMs := at.UnixMilli()
	ps := m.stats(policy)
	micros := elapsed.Microseconds()
	if l := ds[len(ds)-1].Limit; ps.lastLimit.Load() != l {
		ps.lastLimit.Store(l)
	}
	for i, d := range ds {
		key := clipKey(keys[i])
		h := maphash.String(m.seed, key)
		ps.shards[h%shardCount].record(nowMs, h, key, d.Allowed, micros)
		micros = -1 // one latency per call
		if !d.Allowed {
			m.denied(&Denial{At: nowMs, Policy: policy, Key: key, Limit: d.Limit, Remaining: d.Remaining, RetryAfterMs: d.RetryAfterMs})
		}
	}
}

func (m *Monitor) denied(d *Denial) {
	m.denials.add(d)
	for _, w := range m.watcherList() {
		w.offer(d)
	}
}

func (m *Monitor) watcherList() watcherList { return *m.watchers.Load() }

// stats returns policy's record, creating it on the policy's first decision.
func (m *Monitor) stats(policy string) *policyStats {
	if ps, ok := (*m.policies.Load())[policy]; ok {
		return ps
	}
	m.policiesMu.Lock()
	defer m.policiesMu.Unlock()
	old := *m.policies.Load()
	if ps, ok := old[policy]; ok {
		return ps
	}
	ps := &policyStats{}
	for i := range ps.shards {
		ps.shards[i] = newShard()
	}
	next := make(map[string]*policyStats, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[policy] = ps
	m.policies.Store(&next)
	return ps
}

// Retain forgets the policies not named (after a reload removed them), so that renaming
// policies over many reloads does not accumulate records.
func (m *Monitor) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	m.policiesMu.Lock()
	defer m.policiesMu.Unlock()
	next := map[string]*policyStats{}
	for k, v := range *m.policies.Load() {
		if keep[k] {
			next[k] = v
		}
	}
	m.policies.Store(&next)
}

// Watchers is how many Watch streams are open.
func (m *Monitor) Watchers() int { return len(m.watcherList()) }

// Dropped is how many denials Watch streams lost, because a stream's buffer was full (its
// reader too slow) or because it was over WatchRate.
func (m *Monitor) Dropped() (bufferFull, overRate int64) {
	return m.droppedFull.Load(), m.droppedRate.Load()
}

// clipKey bounds a key to MaxKeyBytes (see there).
func clipKey(key string) string {
	if len(key) <= MaxKeyBytes {
		return key
	}
	const ellipsis = "…"
	i := MaxKeyBytes - len(ellipsis)
	for i > 0 && !utf8.RuneStart(key[i]) {
		i--
	}
	return key[:i] + ellipsis
}
