package main

import (
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/throttlekit/throttlekit-go/contract"
)

// healthServices are the names grpc.health.v1 answers for: the server as a whole ("") and
// the rate limiter.
var healthServices = []string{"", contract.RateLimiter_ServiceDesc.ServiceName}

// healthReporter publishes the server's health. The contract ties SERVING to the store
// being reachable, within a second of a change: a prober calling setServing from the store's
// ping is the one piece to add; everything that reads the status is in place.
type healthReporter struct {
	srv *health.Server
}

func newHealthReporter() *healthReporter {
	h := &healthReporter{srv: health.NewServer()}
	h.setServing(true)
	return h
}

func (h *healthReporter) setServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range healthServices {
		h.srv.SetServingStatus(name, st)
	}
}

// shutdown answers NOT_SERVING from now on, whatever a prober says, so that load balancers
// stop sending calls while the server drains.
func (h *healthReporter) shutdown() { h.srv.Shutdown() }
