package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/policy"
	"github.com/throttlekit/throttlekit-go/server"
)

// canServe refuses a policy set the store cannot serve, at startup and on a reload: the
// embedded engine has no coordinator a fleet shares, so it cannot federate (as upstream).
func canServe(cfg *config, set *policy.Set) error {
	if cfg.store != storeMemory {
		return nil
	}
	var federated []string
	for _, name := range set.Names() {
		if p, _ := set.Lookup(name); p.Federated != nil {
			federated = append(federated, fmt.Sprintf("%q", name))
		}
	}
	if len(federated) > 0 {
		return fmt.Errorf("the memory store cannot federate: federated policies (%s) need a coordinator a fleet shares; run with --store redis",
			strings.Join(federated, ", "))
	}
	return nil
}

// registerFleet serves Fleet.Reserve beside the RateLimiter when the store can federate. It
// answers UNIMPLEMENTED, as an absent service would, while no federated policy is in force,
// so that a reload adding one needs no restart.
func (a *app) registerFleet(set *policy.Set) {
	fleet, ok := server.NewFleetService(a.svc)
	if !ok {
		return
	}
	contract.RegisterFleetServer(a.grpc, fleet)
	a.logFederated(set)
}

// logFederated names each federated policy with its region (the policy's, else --region):
// the region is telemetry only.
func (a *app) logFederated(set *policy.Set) {
	for _, name := range set.Names() {
		p, _ := set.Lookup(name)
		if p.Federated == nil {
			continue
		}
		region := p.Federated.Region
		if region == "" {
			region = a.cfg.region
		}
		a.log.Info("federated policy", "policy", name, "region", region, "batch", p.Federated.Batch,
			"prefix", p.Federated.Prefix, "fleet_secret", a.cfg.fleetSecret != "", slog.String("service", "Fleet.Reserve"))
	}
}
