package monitor

import (
	"cmp"
	"encoding/json"
	"slices"
)

// Version names this monitor in snapshots (MonitorMeta.lens_version).
const Version = "throttlekit-go-monitor/1"

// PolicyInfo describes a configured policy for a snapshot: the monitor holds traffic, the
// server knows the policies.
type PolicyInfo struct {
	Name     string
	Strategy string
	Limit    int64  // the configured ceiling, reported until a decision shows one
	Kind     string // "admitter" for a concurrency policy; "" means "limiter"
}

// Snapshot is the monitor's state at one instant; its JSON form is MonitorMeta's raw_json.
type Snapshot struct {
	Meta          Meta            `json:"meta"`
	Policies      []PolicySummary `json:"policies"`
	RecentDenials []Denial        `json:"recentDenials"`
	Watch         WatchStats      `json:"watch"`
}

// Meta is the snapshot's envelope.
type Meta struct {
	GeneratedAt int64  `json:"generatedAt"` // epoch ms
	WindowMs    int64  `json:"windowMs"`
	Mode        string `json:"mode"`
	LensVersion string `json:"lensVersion"`
	NodeID      string `json:"nodeId"`
}

// PolicySummary is one policy's window.
type PolicySummary struct {
	Name         string     `json:"name"`
	Kind         string     `json:"kind"`
	Strategy     string     `json:"strategy"`
	Allowed      int64      `json:"allowed"`
	Denied       int64      `json:"denied"`
	Limit        int64      `json:"limit"`
	Latency      Latency    `json:"latency"`
	TopDenied    []KeyCount `json:"topDenied"`
	TopRequested []KeyCount `json:"topRequested"`
}

// Latency summarises a policy's recent call latencies, in ms.
type Latency struct {
	AvgMs float64 `json:"avgMs"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	N     int64   `json:"n"`
}

// KeyCount is one row of a top list.
type KeyCount struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Denial is one denied decision.
type Denial struct {
	At           int64  `json:"at"` // epoch ms
	Policy       string `json:"policy"`
	Key          string `json:"key"`
	Axis         string `json:"axis"` // always "": this server has no admitters yet
	Limit        int64  `json:"limit"`
	Remaining    int64  `json:"remaining"`
	RetryAfterMs int64  `json:"retryAfterMs"`
}

// WatchStats are the Watch streams' counters.
type WatchStats struct {
	Streams            int   `json:"streams"`
	DroppedBufferFull  int64 `json:"droppedBufferFull"`
	DroppedOverRate    int64 `json:"droppedOverRate"`
	RatePerStream      int   `json:"ratePerStream"`
	BurstPerStream     int   `json:"burstPerStream"`
	RecentDenialsLimit int   `json:"recentDenialsLimit"`
}

// Snapshot reports the window ending now for each of policies, in their order.
func (m *Monitor) Snapshot(policies []PolicyInfo) Snapshot {
	nowMs := m.now().UnixMilli()
	held := *m.policies.Load()
	out := Snapshot{
		Meta:     Meta{GeneratedAt: nowMs, WindowMs: Window, Mode: "process", LensVersion: Version, NodeID: m.nodeID},
		Policies: make([]PolicySummary, 0, len(policies)),
	}
	for _, p := range policies {
		s := PolicySummary{Name: p.Name, Kind: "limiter", Strategy: p.Strategy, Limit: p.Limit,
			TopDenied: []KeyCount{}, TopRequested: []KeyCount{}}
		if p.Kind != "" {
			s.Kind = p.Kind
		}
		if ps, ok := held[p.Name]; ok {
			requested, denied := map[string]int64{}, map[string]int64{}
			latency := make([]uint64, 0, shardCount*latencyPerShard)
			for _, sh := range ps.shards {
				sh.collect(nowMs, &s.Allowed, &s.Denied, requested, denied, &latency)
			}
			s.TopRequested, s.TopDenied = top(requested), top(denied)
			s.Latency = latencySummary(latency, nowMs)
			if l := ps.lastLimit.Load(); l > 0 {
				s.Limit = l
			}
		}
		out.Policies = append(out.Policies, s)
	}
	out.RecentDenials = m.denials.list()
	full, rate := m.Dropped()
	out.Watch = WatchStats{Streams: m.Watchers(), DroppedBufferFull: full, DroppedOverRate: rate,
		RatePerStream: WatchRate, BurstPerStream: WatchBurst, RecentDenialsLimit: RecentDenials}
	return out
}

// JSON is the snapshot as JSON (raw_json).
func (s Snapshot) JSON() string {
	b, err := json.Marshal(s)
	if err != nil { // plain structs of strings and numbers: cannot happen
		return "{}"
	}
	return string(b)
}

// top returns the TopK largest counts, the largest first, ties by key.
func top(counts map[string]int64) []KeyCount {
	out := make([]KeyCount, 0, len(counts))
	for k, c := range counts {
		out = append(out, KeyCount{Key: k, Count: c})
	}
	slices.SortFunc(out, func(a, b KeyCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out[:min(len(out), TopK)]
}
