package server

import (
	"context"

	"github.com/throttlekit/throttlekit-go/client"
)

// checkFailed decides what a failed Check or CheckMany (n keys) answers. This is the one
// place the server's fail mode (--fail open|closed|error) belongs: open and closed would
// answer n decisions from client.FailMode.Synthesize over the policy (the whole batch alike:
// CheckMany is all or nothing) and set the `throttlekit-synthesized: 1` response header on
// ctx. Until then every failure passes through, which is what --fail error does. Peek,
// Forecast and Debit never come here: the contract lets only checks synthesize.
func (s *Service) checkFailed(_ context.Context, _ string, _ int, err error) ([]client.Decision, error) {
	return nil, err
}
