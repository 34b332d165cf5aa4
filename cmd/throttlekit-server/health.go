package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/throttlekit/throttlekit-go/contract"
)

// healthServices are the names grpc.health.v1 answers for: the server as a whole ("") and
// the rate limiter.
var healthServices = []string{"", contract.RateLimiter_ServiceDesc.ServiceName}

// probeEvery is how often the prober pings the store; with probeTimeout it keeps a change
// of the store's state visible within a second (wire-contract.md).
const (
	probeEvery   = 250 * time.Millisecond
	probeTimeout = 500 * time.Millisecond
)

// healthReporter publishes the server's health: SERVING while the store answers, NOT_SERVING
// otherwise and for good once shutting down. grpc.health.v1 and /healthz read the same state.
type healthReporter struct {
	srv *health.Server

	mu      sync.Mutex
	serving bool
	down    bool // shutting down
}

func newHealthReporter() *healthReporter {
	h := &healthReporter{srv: health.NewServer()}
	h.setServing(true)
	return h
}

// setServing records the store's state and reports whether it changed.
func (h *healthReporter) setServing(serving bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return false
	}
	changed := h.serving != serving
	h.serving = serving
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range healthServices {
		h.srv.SetServingStatus(name, st)
	}
	return changed
}

// isServing is what /healthz answers.
func (h *healthReporter) isServing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.serving && !h.down
}

// shutdown answers NOT_SERVING from now on, whatever a prober says, so that load balancers
// stop sending calls while the server drains.
func (h *healthReporter) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = true
	h.srv.Shutdown()
}

// probe pings the store every probeEvery until ctx ends, publishing each result and logging
// each change. The embedded engine is always reachable: nothing to probe.
func (h *healthReporter) probe(ctx context.Context, st *store, timeout time.Duration, log *slog.Logger) {
	if st.rdb == nil {
		return
	}
	timeout = min(timeout, probeTimeout)
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := st.ping(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		if !h.setServing(err == nil) {
			continue
		}
		if err != nil {
			log.Warn("the store does not answer: health is NOT_SERVING", "error", err.Error())
		} else {
			log.Info("the store answers again: health is SERVING")
		}
	}
}
