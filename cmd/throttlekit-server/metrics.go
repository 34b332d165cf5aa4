package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/server"
)

// metrics are the server's Prometheus metrics, on a registry of its own (nothing a library
// registers globally leaks in). They implement server.Observer.
type metrics struct {
	reg         *prometheus.Registry
	decisions   *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	policies    prometheus.Gauge

	connections        prometheus.Gauge   // open gRPC connections
	refusedConnections prometheus.Counter // closed at accept: --max-connections were open
}

var _ server.Observer = (*metrics)(nil)

// storeErrorKinds are the kinds server.Observer reports, exported at 0 from the start so a
// dashboard can tell "none yet" from "not exported".
var storeErrorKinds = []string{"unavailable", "timeout", "auth", "internal"}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "throttlekit_decisions_total",
			Help: "Decisions answered by Check, CheckMany (one per key) and Debit, by policy and result (allowed, denied, synthesized by the fail mode, shadow: denied by a shadow-mode policy and admitted).",
		}, []string{"policy", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "throttlekit_decision_seconds",
			Help:    "Time to answer a Check, CheckMany or Debit call that gave decisions, by policy.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"policy"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "throttlekit_store_errors_total",
			Help: "Failed store calls, by kind (unavailable, timeout, auth, internal).",
		}, []string{"kind"}),
		policies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "throttlekit_policies",
			Help: "Policies in force (after the last successful load or reload).",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "throttlekit_connections",
			Help: "Open gRPC connections (at most --max-connections).",
		}),
		refusedConnections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "throttlekit_connections_refused_total",
			Help: "gRPC connections closed as soon as accepted, because --max-connections were open.",
		}),
	}
	for _, k := range storeErrorKinds {
		m.storeErrors.WithLabelValues(k)
	}
	m.reg.MustRegister(m.decisions, m.seconds, m.storeErrors, m.policies, m.connections, m.refusedConnections,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Decided counts a call's decisions; policy is already a configured name or "unknown".
func (m *metrics) Decided(policy string, ds []client.Decision, elapsed time.Duration) {
	var allowed, denied, synthesized, shadow int
	for _, d := range ds {
		switch {
		case d.Synthesized:
			synthesized++
		case d.Shadow:
			shadow++
		case d.Allowed:
			allowed++
		default:
			denied++
		}
	}
	for result, n := range map[string]int{"allowed": allowed, "denied": denied, "synthesized": synthesized, "shadow": shadow} {
		if n > 0 {
			m.decisions.WithLabelValues(policy, result).Add(float64(n))
		}
	}
	m.seconds.WithLabelValues(policy).Observe(elapsed.Seconds())
}

func (m *metrics) StoreError(kind string) { m.storeErrors.WithLabelValues(kind).Inc() }

// metricsServer serves /metrics and /healthz over plain HTTP, on loopback by default.
type metricsServer struct {
	srv  *http.Server
	lis  net.Listener
	done chan struct{}
}

func startMetrics(cfg *config, m *metrics, h *healthReporter, log *slog.Logger) (*metricsServer, error) {
	addr := net.JoinHostPort(cfg.metricsHost, strconv.Itoa(cfg.metricsPort))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for metrics on %s (pick another with --metrics-port): %w", addr, err)
	}
	if !isLoopback(cfg.metricsHost) {
		log.Warn("metrics listening beyond loopback: /metrics and /healthz are plain HTTP without authentication, readable by anyone who can reach this address",
			"metrics_host", cfg.metricsHost)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !h.isServing() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "NOT_SERVING")
			return
		}
		fmt.Fprintln(w, "SERVING")
	})
	ms := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)},
		lis:  lis,
		done: make(chan struct{}),
	}
	go func() {
		defer close(ms.done)
		if err := ms.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the metrics listener failed", "error", err.Error())
		}
	}()
	log.Info("metrics listening", "metrics_addr", lis.Addr().String())
	return ms, nil
}

// addr is the metrics listener's host:port, or "" without one.
func (ms *metricsServer) addr() string {
	if ms == nil {
		return ""
	}
	return ms.lis.Addr().String()
}

func (ms *metricsServer) stop() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = ms.srv.Shutdown(ctx)
	<-ms.done
}
