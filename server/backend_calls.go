package server

import (
	"context"

	"github.com/throttlekit/throttlekit-go/client"
)

// One method per operation, on the backend's store clock or the injected one (see atClock),
// each call bounded by the Service's timeout. A failure of the store is reported to
// the observer here, once per store call, whatever the RPC then answers.

func (s *Service) check(ctx context.Context, policyName, key string, cost int64) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	d, err = s.calls.Check(bctx, policyName, key, cost)
	s.storeFailed(ctx, err)
	return d, err
}

// checkMany's batch shares one instant: the injected clock is read once, and without one the
// backend reads its store's clock once.
func (s *Service) checkMany(ctx context.Context, policyName string, keys []string, cost int64) (ds []client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	ds, err = s.calls.CheckMany(bctx, policyName, keys, cost)
	s.storeFailed(ctx, err)
	return ds, err
}

// checkAll's items share one instant, as checkMany's keys do.
func (s *Service) checkAll(ctx context.Context, items []client.CheckItem) (ds []client.Decision, all bool, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	ds, all, err = s.calls.CheckAll(bctx, items)
	s.storeFailed(ctx, err)
	return ds, all, err
}

func (s *Service) refund(ctx context.Context, policyName, key string, cost int64) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	d, err = s.calls.Refund(bctx, policyName, key, cost)
	s.storeFailed(ctx, err)
	return d, err
}

func (s *Service) reset(ctx context.Context, policyName, key string) error {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.calls.Reset(bctx, policyName, key)
	s.storeFailed(ctx, err)
	return err
}

func (s *Service) peek(ctx context.Context, policyName, key string) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	d, err = s.calls.Peek(bctx, policyName, key)
	s.storeFailed(ctx, err)
	return d, err
}

func (s *Service) forecast(ctx context.Context, policyName, key string, cost int64) (f client.Forecast, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	f, err = s.calls.Forecast(bctx, policyName, key, cost)
	s.storeFailed(ctx, err)
	return f, err
}

func (s *Service) debit(ctx context.Context, policyName, key string, tokens int64) (d client.Decision, err error) {
	bctx, cancel := s.bound(ctx)
	defer cancel()
	d, err = s.calls.Debit(bctx, policyName, key, tokens)
	s.storeFailed(ctx, err)
	return d, err
}

// atClock is a Limiter whose plain calls are evaluated at the instant now gives (the tests'
// injected clock), through the *At twins.
type atClock struct {
	client.Limiter
	now func() int64
}

func (l atClock) Check(ctx context.Context, policy, key string, cost int64) (client.Decision, error) {
	return l.CheckAt(ctx, policy, key, cost, l.now())
}

func (l atClock) CheckMany(ctx context.Context, policy string, keys []string, cost int64) ([]client.Decision, error) {
	return l.CheckManyAt(ctx, policy, keys, cost, l.now())
}

func (l atClock) Peek(ctx context.Context, policy, key string) (client.Decision, error) {
	return l.PeekAt(ctx, policy, key, l.now())
}

func (l atClock) Forecast(ctx context.Context, policy, key string, cost int64) (client.Forecast, error) {
	return l.ForecastAt(ctx, policy, key, cost, l.now())
}

func (l atClock) Debit(ctx context.Context, policy, key string, tokens int64) (client.Decision, error) {
	return l.DebitAt(ctx, policy, key, tokens, l.now())
}

func (l atClock) CheckAll(ctx context.Context, items []client.CheckItem) ([]client.Decision, bool, error) {
	return l.CheckAllAt(ctx, items, l.now())
}

func (l atClock) Refund(ctx context.Context, policy, key string, cost int64) (client.Decision, error) {
	return l.RefundAt(ctx, policy, key, cost, l.now())
}
