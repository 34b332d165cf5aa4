package server

import (
	"context"

	"github.com/throttlekit/throttlekit-go/client"
)

// One method per operation: the backend's store clock, or the injected clock through the
// *At twin, each call bounded by the Service's timeout.

func (s *Service) check(ctx context.Context, policyName, key string, cost int64) (client.Decision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		return s.backend.Check(ctx, policyName, key, cost)
	}
	return s.backend.CheckAt(ctx, policyName, key, cost, s.clock())
}

// checkMany reads the injected clock once, so the batch shares one instant; without one, the
// backend reads its store's clock once for the same reason.
func (s *Service) checkMany(ctx context.Context, policyName string, keys []string, cost int64) ([]client.Decision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		return s.backend.CheckMany(ctx, policyName, keys, cost)
	}
	return s.backend.CheckManyAt(ctx, policyName, keys, cost, s.clock())
}

func (s *Service) peek(ctx context.Context, policyName, key string) (client.Decision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		return s.backend.Peek(ctx, policyName, key)
	}
	return s.backend.PeekAt(ctx, policyName, key, s.clock())
}

func (s *Service) forecast(ctx context.Context, policyName, key string, cost int64) (client.Forecast, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		return s.backend.Forecast(ctx, policyName, key, cost)
	}
	return s.backend.ForecastAt(ctx, policyName, key, cost, s.clock())
}

func (s *Service) debit(ctx context.Context, policyName, key string, tokens int64) (client.Decision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if s.clock == nil {
		return s.backend.Debit(ctx, policyName, key, tokens)
	}
	return s.backend.DebitAt(ctx, policyName, key, tokens, s.clock())
}
