package server

import (
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server/monitor"
)

// snapshotMessage carries a monitor snapshot onto the wire; raw_json is the same snapshot
// as JSON, with the Watch counters the typed fields have no place for.
func snapshotMessage(s monitor.Snapshot) *contract.Snapshot {
	out := &contract.Snapshot{
		Meta: &contract.MonitorMeta{
			GeneratedAt: s.Meta.GeneratedAt,
			WindowMs:    s.Meta.WindowMs,
			Mode:        s.Meta.Mode,
			LensVersion: s.Meta.LensVersion,
			NodeId:      s.Meta.NodeID,
		},
		RawJson: s.JSON(),
	}
	for _, p := range s.Policies {
		out.Policies = append(out.Policies, &contract.PolicySummary{
			Name:     p.Name,
			Kind:     p.Kind,
			Strategy: p.Strategy,
			Allowed:  p.Allowed,
			Denied:   p.Denied,
			Limit:    p.Limit,
			Latency: &contract.LatencySummary{
				AvgMs: p.Latency.AvgMs, P50Ms: p.Latency.P50Ms, P99Ms: p.Latency.P99Ms, MaxMs: p.Latency.MaxMs, N: p.Latency.N,
			},
			TopDenied:    keyCounts(p.TopDenied),
			TopRequested: keyCounts(p.TopRequested),
		})
	}
	for _, d := range s.RecentDenials {
		out.RecentDenials = append(out.RecentDenials, denialMessage(d))
	}
	return out
}

func keyCounts(in []monitor.KeyCount) []*contract.KeyCount {
	out := make([]*contract.KeyCount, len(in))
	for i, kc := range in {
		out[i] = &contract.KeyCount{Key: kc.Key, Count: kc.Count}
	}
	return out
}

func denialMessage(d monitor.Denial) *contract.DenialEvent {
	return &contract.DenialEvent{
		At: d.At, Policy: d.Policy, Key: d.Key, Axis: d.Axis,
		Limit: d.Limit, Remaining: d.Remaining, RetryAfterMs: d.RetryAfterMs,
	}
}
