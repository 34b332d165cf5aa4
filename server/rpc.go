package server

import (
	"context"
	"fmt"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
)

// The RPCs of throttlekit.v1's RateLimiter. Each maps its amount, asks the backend, and leaves the
// translation of errors (and of panics) to guard, so every RPC answers the same statuses.

// Check consumes cost units of a policy for a key. A denial is a normal response.
func (s *Service) Check(ctx context.Context, req *contract.CheckRequest) (_ *contract.CheckResponse, err error) {
	defer s.guard(ctx, "Check", req.GetPolicy(), &err)
	start := time.Now()
	d, err := s.check(ctx, req.GetPolicy(), req.GetKey(), amount(req.GetCost()))
	if err == nil && s.shadow {
		d = client.Shade(d)
	}
	if err != nil {
		var ds []client.Decision
		if ds, err = s.checkFailed(ctx, req.GetPolicy(), 1, err); err != nil {
			return nil, err
		}
		d = ds[0]
	}
	s.decided(req.GetPolicy(), []string{req.GetKey()}, start, d)
	s.markDecisions(ctx, d)
	return &contract.CheckResponse{Decision: decisionMessage(d)}, nil
}

// CheckMany checks every key at one instant and answers in the order of keys; duplicates
// apply in order, and an empty list answers an empty list.
func (s *Service) CheckMany(ctx context.Context, req *contract.CheckManyRequest) (_ *contract.CheckManyResponse, err error) {
	defer s.guard(ctx, "CheckMany", req.GetPolicy(), &err)
	if n := len(req.GetKeys()); s.maxKeys > 0 && n > s.maxKeys {
		// Refused before the store sees it: nothing is charged, and no fail mode answers.
		return nil, &client.Error{Kind: client.ErrInvalidArgument, Msg: fmt.Sprintf(
			"CheckMany takes at most %d keys per call (the server's --max-keys-per-call), got %d: split the batch", s.maxKeys, n)}
	}
	start := time.Now()
	ds, err := s.checkMany(ctx, req.GetPolicy(), req.GetKeys(), amount(req.GetCost()))
	if s.shadow {
		for i := range ds {
			ds[i] = client.Shade(ds[i])
		}
	}
	if err != nil {
		if ds, err = s.checkFailed(ctx, req.GetPolicy(), len(req.GetKeys()), err); err != nil {
			return nil, err
		}
	}
	s.decided(req.GetPolicy(), req.GetKeys(), start, ds...)
	s.markDecisions(ctx, ds...)
	out := make([]*contract.Decision, len(ds))
	for i, d := range ds {
		out[i] = decisionMessage(d)
	}
	return &contract.CheckManyResponse{Decisions: out}, nil
}

// CheckAll checks every item at one instant and consumes all of them or none (ours, beside
// upstream's RPCs); the keys-per-call cap applies to its items.
func (s *Service) CheckAll(ctx context.Context, req *contract.CheckAllRequest) (_ *contract.CheckAllResponse, err error) {
	reqItems := req.GetItems()
	first := ""
	if len(reqItems) > 0 {
		first = reqItems[0].GetPolicy()
	}
	defer s.guard(ctx, "CheckAll", first, &err)
	if n := len(reqItems); s.maxKeys > 0 && n > s.maxKeys {
		return nil, &client.Error{Kind: client.ErrInvalidArgument, Msg: fmt.Sprintf(
			"CheckAll takes at most %d items per call (the server's --max-keys-per-call), got %d", s.maxKeys, n)}
	}
	items := make([]client.CheckItem, len(reqItems))
	for i, it := range reqItems {
		items[i] = client.CheckItem{Policy: it.GetPolicy(), Key: it.GetKey(), Cost: amount(it.GetCost()), Shadow: s.shadow}
	}
	start := time.Now()
	ds, all, err := s.checkAll(ctx, items)
	if err != nil {
		if ds, err = s.checkAllFailed(ctx, items, err); err != nil {
			return nil, err
		}
		all = client.AllAllowed(ds)
	}
	s.markDecisions(ctx, ds...)
	out := make([]*contract.Decision, len(ds))
	for i, d := range ds {
		s.decided(items[i].Policy, []string{items[i].Key}, start, d)
		out[i] = decisionMessage(d)
	}
	return &contract.CheckAllResponse{Decisions: out, AllAllowed: all}, nil
}

// Refund gives back cost units a check (or debit) consumed, never beyond full, and answers
// what Peek would right after (ours, beside upstream's RPCs). No fail mode: a refund that
// could not be made must be reported.
func (s *Service) Refund(ctx context.Context, req *contract.RefundRequest) (_ *contract.RefundResponse, err error) {
	defer s.guard(ctx, "Refund", req.GetPolicy(), &err)
	d, err := s.refund(ctx, req.GetPolicy(), req.GetKey(), amount(req.GetCost()))
	if err != nil {
		return nil, err
	}
	s.markDecisions(ctx, d)
	return &contract.RefundResponse{Decision: decisionMessage(d)}, nil
}

// Reset forgets a key's state: its limiter is full again (ours).
func (s *Service) Reset(ctx context.Context, req *contract.ResetRequest) (_ *contract.ResetResponse, err error) {
	defer s.guard(ctx, "Reset", req.GetPolicy(), &err)
	if err := s.reset(ctx, req.GetPolicy(), req.GetKey()); err != nil {
		return nil, err
	}
	return &contract.ResetResponse{}, nil
}

// Peek reports the current decision without consuming; on a token-budget policy, the budget
// left.
func (s *Service) Peek(ctx context.Context, req *contract.PeekRequest) (_ *contract.PeekResponse, err error) {
	defer s.guard(ctx, "Peek", req.GetPolicy(), &err)
	d, err := s.peek(ctx, req.GetPolicy(), req.GetKey())
	if err != nil {
		return nil, err
	}
	s.markDecisions(ctx, d)
	return &contract.PeekResponse{Decision: decisionMessage(d)}, nil
}

// Forecast tells what a rate limiter can still give, without consuming.
func (s *Service) Forecast(ctx context.Context, req *contract.ForecastRequest) (_ *contract.ForecastResponse, err error) {
	defer s.guard(ctx, "Forecast", req.GetPolicy(), &err)
	f, err := s.forecast(ctx, req.GetPolicy(), req.GetKey(), amount(req.GetCost()))
	if err != nil {
		return nil, err
	}
	return &contract.ForecastResponse{Forecast: forecastMessage(f)}, nil
}

// Debit spends tokens, after the fact, from a token-budget policy.
func (s *Service) Debit(ctx context.Context, req *contract.DebitRequest) (_ *contract.DebitResponse, err error) {
	defer s.guard(ctx, "Debit", req.GetPolicy(), &err)
	start := time.Now()
	d, err := s.debit(ctx, req.GetPolicy(), req.GetKey(), amount(req.GetTokens()))
	if err != nil {
		return nil, err
	}
	s.decided(req.GetPolicy(), []string{req.GetKey()}, start, d)
	s.markDecisions(ctx, d)
	return &contract.DebitResponse{Decision: decisionMessage(d)}, nil
}

// amount applies the wire rule for cost and tokens before any validation: proto3 sends an
// unset field as 0, and existing clients rely on 0 (or less) meaning 1.
func amount(n int64) int64 {
	if n <= 0 {
		return 1
	}
	return n
}
