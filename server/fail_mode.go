package server

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/throttlekit/throttlekit-go/client"
)

// synthesizedHeader is the response header the contract sets on a decision made by the fail
// mode (wire-contract.md: `throttlekit-synthesized: 1`).
var synthesizedHeader = metadata.Pairs(client.SynthesizedHeader, "1")

// checkFailed decides what a failed Check or CheckMany (n keys) answers. This is the one
// place the server's fail mode (--fail open|closed|error) belongs: open and closed answer n
// decisions from client.FailMode.Apply over the policy (the whole batch alike: CheckMany
// is all or nothing) and set the `throttlekit-synthesized: 1` response header on ctx. Only a
// store that is unavailable or timed out qualifies (Apply decides), and never a timeout of the
// in-process store (Options.InProcessStore); bad input, unknown
// policies and logic faults pass through, and so does everything under --fail error. A caller
// that gave up gets no synthesized answer: its own deadline or cancellation is reported.
// Peek, Forecast and Debit never come here: the contract lets only checks synthesize.
func (s *Service) checkFailed(ctx context.Context, policyName string, n int, err error) ([]client.Decision, error) {
	return s.synthesized(ctx, n, func(int) string { return policyName }, err)
}

// checkAllFailed is checkFailed for a CheckAll: each item answered for its own policy (all
// admitted under open, all denied under closed).
func (s *Service) checkAllFailed(ctx context.Context, items []client.CheckItem, err error) ([]client.Decision, error) {
	return s.synthesized(ctx, len(items), func(i int) string { return items[i].Policy }, err)
}

// synthesized makes the fail mode's n decisions, the i-th for policyOf(i), or returns err.
func (s *Service) synthesized(ctx context.Context, n int, policyOf func(i int) string, err error) ([]client.Decision, error) {
	if ctx.Err() != nil {
		return nil, err
	}
	if s.local && errors.Is(err, client.ErrTimeout) {
		// The store runs in this process and timed out: the server's own CPU did not finish
		// the work in time. That is no outage to paper over: admitting by the fail mode would
		// answer for work nobody did, and let a caller buy admission with a batch too big to
		// finish. The caller gets UNAVAILABLE.
		return nil, err
	}
	ds := make([]client.Decision, n)
	for i := range ds {
		d, ok := s.failMode.Apply(s.Policies(), policyOf(i), err)
		if !ok {
			return nil, err
		}
		ds[i] = d
	}
	first := ""
	if n > 0 {
		first = policyOf(0)
	}
	if herr := grpc.SetHeader(ctx, synthesizedHeader); herr != nil {
		// Without the header a synthesized decision would pass for the limiter's own:
		// refuse rather than mislead.
		s.log.Error("cannot set the synthesized header", "policy", first, "error", herr.Error())
		return nil, err
	}
	s.storeLog.Warn("the store failed a check; answering by the fail mode", "fail_mode", s.failMode.String(),
		"policy", first, "error", err.Error())
	return ds, nil
}
