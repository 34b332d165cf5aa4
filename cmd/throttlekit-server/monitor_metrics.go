package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/throttlekit/throttlekit-go/server/monitor"
)

// monitorCollector exports the Monitor's window as Prometheus metrics, read at each scrape:
// the checks record into the monitor only, never twice. Keys are not exported: they are
// personal data, and as label values they would be unbounded.
type monitorCollector struct {
	snapshot func() monitor.Snapshot

	allowed, denied, limit, latency, samples, streams, dropped *prometheus.Desc
}

func newMonitorCollector(snapshot func() monitor.Snapshot) *monitorCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &monitorCollector{
		snapshot: snapshot,
		allowed:  d("throttlekit_monitor_window_allowed", "Decisions allowed in the Monitor's window (the last 60s), by policy.", "policy"),
		denied:   d("throttlekit_monitor_window_denied", "Decisions denied in the Monitor's window (the last 60s), by policy.", "policy"),
		limit:    d("throttlekit_monitor_limit", "The most recent ceiling a decision reported (the configured one before any), by policy.", "policy"),
		latency:  d("throttlekit_monitor_latency_ms", "Latency of the recent calls in the window (at most 256), in ms, by policy and stat (avg, p50, p99, max).", "policy", "stat"),
		samples:  d("throttlekit_monitor_latency_samples", "Calls the latency stats cover, by policy.", "policy"),
		streams:  d("throttlekit_monitor_watch_streams", "Open Monitor.Watch streams."),
		dropped:  d("throttlekit_monitor_watch_dropped_total", "Denials Watch streams did not get: the stream's buffer was full (a slow reader) or it was over 500 a second.", "reason"),
	}
}

func (c *monitorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.allowed, c.denied, c.limit, c.latency, c.samples, c.streams, c.dropped} {
		ch <- d
	}
}

func (c *monitorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for _, p := range s.Policies {
		ch <- prometheus.MustNewConstMetric(c.allowed, prometheus.GaugeValue, float64(p.Allowed), p.Name)
		ch <- prometheus.MustNewConstMetric(c.denied, prometheus.GaugeValue, float64(p.Denied), p.Name)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(p.Limit), p.Name)
		for stat, v := range map[string]float64{"avg": p.Latency.AvgMs, "p50": p.Latency.P50Ms, "p99": p.Latency.P99Ms, "max": p.Latency.MaxMs} {
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, v, p.Name, stat)
		}
		ch <- prometheus.MustNewConstMetric(c.samples, prometheus.GaugeValue, float64(p.Latency.N), p.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(s.Watch.Streams))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Watch.DroppedBufferFull), "buffer_full")
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Watch.DroppedOverRate), "over_rate")
}
