package server

import (
	"context"
	"errors"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
)

// Admit, Release and Heartbeat (admission.md §4). The store decides through the lease script
// (the embedded engine: per process, as upstream; Redis: fleet-wide); the server keeps which
// policy and key each lease it issued belongs to, and sweeps the ones not renewed in time.

// Admit takes a slot of a concurrency policy. A refusal is a normal response without a lease.
func (s *Service) Admit(ctx context.Context, req *contract.AdmitRequest) (_ *contract.AdmitResponse, err error) {
	defer s.guard(ctx, "Admit", req.GetPolicy(), &err)
	if s.admitter == nil {
		return nil, errNoAdmission
	}
	start := time.Now()
	bctx, cancel := s.bound(ctx)
	defer cancel()
	var a client.Admission
	// cost, hold and value are inert for policies from YAML: the rate axis always checks 1.
	if s.clock != nil {
		a, err = s.admitter.AdmitAt(bctx, req.GetPolicy(), req.GetKey(), amount(req.GetCost()), s.clock())
	} else {
		a, err = s.admitter.Admit(bctx, req.GetPolicy(), req.GetKey(), amount(req.GetCost()))
	}
	s.storeFailed(ctx, err)
	if err != nil {
		return nil, err
	}
	if a.LeaseID != "" {
		s.leases.put(a.LeaseID, lease{policy: req.GetPolicy(), key: req.GetKey(), expiresAt: a.LeaseExpiresAt})
		s.startSweep()
	}
	s.decided(req.GetPolicy(), []string{req.GetKey()}, start, a.Decision)
	return &contract.AdmitResponse{Decision: decisionMessage(a.Decision), LeaseId: a.LeaseID,
		LeaseExpiresAt: a.LeaseExpiresAt, BindingAxis: a.BindingAxis, PolicyDenied: a.PolicyDenied}, nil
}

// Release returns a lease's slot before it returns. An id the server does not hold (already
// released, reclaimed, never issued, "") is not an error.
func (s *Service) Release(ctx context.Context, req *contract.ReleaseRequest) (_ *contract.ReleaseResponse, err error) {
	defer s.guard(ctx, "Release", "", &err)
	l, ok := s.leases.take(req.GetLeaseId())
	if !ok || s.admitter == nil {
		return &contract.ReleaseResponse{}, nil
	}
	if err := s.releaseLease(ctx, req.GetLeaseId(), l, req.GetDropped()); err != nil {
		return nil, err
	}
	return &contract.ReleaseResponse{}, nil
}

// Heartbeat renews the leases the server holds and reports the others as reclaimed, in
// request order. Leases are renewed in one store call per guard.
func (s *Service) Heartbeat(ctx context.Context, req *contract.HeartbeatRequest) (_ *contract.HeartbeatResponse, err error) {
	defer s.guard(ctx, "Heartbeat", "", &err)
	type guardRef struct{ policy, key string }
	var order []guardRef
	groups := map[guardRef][]string{}
	for _, id := range req.GetLeaseIds() {
		if l, ok := s.leases.get(id); ok && s.admitter != nil {
			g := guardRef{l.policy, l.key}
			if _, seen := groups[g]; !seen {
				order = append(order, g)
			}
			groups[g] = append(groups[g], id)
		}
	}
	next := s.now() + s.leaseTTL.Milliseconds()
	live := map[string]bool{}
	for _, g := range order {
		hb, err := s.heartbeat(ctx, g.policy, g.key, groups[g])
		if isGone(err) {
			// The policy was removed by a reload: its leases went with it.
			for _, id := range groups[g] {
				s.leases.take(id)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		next = hb.NextDeadline
		for _, id := range hb.Live {
			live[id] = true
			s.leases.renew(id, hb.NextDeadline)
		}
		for _, id := range hb.Reclaimed {
			s.leases.take(id)
		}
	}
	resp := &contract.HeartbeatResponse{NextDeadline: next}
	for _, id := range req.GetLeaseIds() {
		if live[id] {
			resp.LiveIds = append(resp.LiveIds, id)
		} else {
			resp.ReclaimedIds = append(resp.ReclaimedIds, id)
		}
	}
	return resp, nil
}

func (s *Service) heartbeat(ctx context.Context, policyName, key string, ids []string) (client.HeartbeatResult, error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	var hb client.HeartbeatResult
	var err error
	if s.clock != nil {
		hb, err = s.admitter.HeartbeatAt(bctx, policyName, key, ids, s.clock())
	} else {
		hb, err = s.admitter.Heartbeat(bctx, policyName, key, ids)
	}
	s.storeFailed(ctx, err)
	return hb, err
}

// releaseLease returns one lease's slot to the store. A policy removed by a reload has no
// guard left to return it to: that is not the caller's error.
func (s *Service) releaseLease(ctx context.Context, id string, l lease, dropped bool) error {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	if s.clock != nil {
		err = s.admitter.ReleaseAt(bctx, l.policy, l.key, id, dropped, s.clock())
	} else {
		err = s.admitter.Release(bctx, l.policy, l.key, id, dropped)
	}
	s.storeFailed(ctx, err)
	if isGone(err) {
		return nil
	}
	return err
}

func isGone(err error) bool {
	return errors.Is(err, client.ErrPolicyNotFound) || errors.Is(err, client.ErrUnsupported)
}

// now is the instant the server's own lease bookkeeping uses: the injected clock, or this
// machine's.
func (s *Service) now() int64 {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now().UnixMilli()
}

// startSweep starts, once, the goroutine that reclaims leases past their deadline.
func (s *Service) startSweep() {
	s.sweepOnce.Do(func() {
		go s.sweepLoop()
	})
}

func (s *Service) sweepLoop() {
	defer close(s.swept)
	tick := time.NewTicker(SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-tick.C:
			s.Sweep()
		}
	}
}

// Sweep releases, as dropped, every lease whose deadline has passed (admission.md §4.5). The
// sweep goroutine calls it every SweepInterval; tests may call it directly.
func (s *Service) Sweep() {
	for id, l := range s.leases.expired(s.now()) {
		ctx, cancel := context.WithTimeout(context.Background(), max(s.timeout, time.Second))
		if err := s.releaseLease(ctx, id, l, true); err != nil {
			// The store's own expiry of the lease is the backstop.
			s.log.Warn("sweep: could not reclaim a lease", "policy", l.policy, "error", err.Error())
		}
		cancel()
	}
}

// Close stops the lease sweep. Leases still held stay in the store until their deadline.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		s.sweepOnce.Do(func() { close(s.swept) }) // never started: nothing to wait for
		<-s.swept
	})
}

// Leases is the number of leases the server holds.
func (s *Service) Leases() int { return s.leases.Len() }

var errNoAdmission = &client.Error{Kind: client.ErrUnsupported, Msg: "this server's store does not support admission"}
