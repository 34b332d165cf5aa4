package server

import (
	"context"

	"github.com/throttlekit/throttlekit-go/client"
)

// One method per operation: the backend's store clock, or the injected clock through the
// *At twin, each call bounded by the Service's timeout. A failure of the store is reported to
// the observer here, once per store call, whatever the RPC then answers.

func (s *Service) check(ctx context.Context, policyName, key string, cost int64) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		d, err = s.backend.Check(bctx, policyName, key, cost)
	} else {
		d, err = s.backend.CheckAt(bctx, policyName, key, cost, s.clock())
	}
	s.storeFailed(ctx, err)
	return d, err
}

// checkMany reads the injected clock once, so the batch shares one instant; without one, the
// backend reads its store's clock once for the same reason.
func (s *Service) checkMany(ctx context.Context, policyName string, keys []string, cost int64) (ds []client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		ds, err = s.backend.CheckMany(bctx, policyName, keys, cost)
	} else {
		ds, err = s.backend.CheckManyAt(bctx, policyName, keys, cost, s.clock())
	}
	s.storeFailed(ctx, err)
	return ds, err
}

func (s *Service) peek(ctx context.Context, policyName, key string) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		d, err = s.backend.Peek(bctx, policyName, key)
	} else {
		d, err = s.backend.PeekAt(bctx, policyName, key, s.clock())
	}
	s.storeFailed(ctx, err)
	return d, err
}

func (s *Service) forecast(ctx context.Context, policyName, key string, cost int64) (f client.Forecast, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		f, err = s.backend.Forecast(bctx, policyName, key, cost)
	} else {
		f, err = s.backend.ForecastAt(bctx, policyName, key, cost, s.clock())
	}
	s.storeFailed(ctx, err)
	return f, err
}

func (s *Service) debit(ctx context.Context, policyName, key string, tokens int64) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		d, err = s.backend.Debit(bctx, policyName, key, tokens)
	} else {
		d, err = s.backend.DebitAt(bctx, policyName, key, tokens, s.clock())
	}
	s.storeFailed(ctx, err)
	return d, err
}
