package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
)

// guard runs deferred in every RPC: it turns a panic into INTERNAL (the process keeps
// serving; the stack goes to the log, never to the caller) and a backend error into the
// status the contract fixes.
func (s *Service) guard(ctx context.Context, method, policyName string, errp *error) {
	if r := recover(); r != nil {
		s.log.Error("panic while serving a call", "method", method, "policy", policyName,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*errp = status.Error(codes.Internal, "internal error")
		return
	}
	if *errp != nil {
		*errp = s.toStatus(ctx, method, policyName, *errp)
	}
}

// toStatus maps a backend error to its gRPC status. Errors about the request carry the
// client's message, which names the problem (and, for NOT_FOUND, the configured policies)
// so the caller can fix it. Store failures carry a fixed message: the details (addresses,
// Redis replies) are for the operator's log, not for every caller.
func (s *Service) toStatus(ctx context.Context, method, policyName string, err error) error {
	switch {
	case errors.Is(err, client.ErrPolicyNotFound), errors.Is(err, client.ErrUnsupported), errors.Is(err, client.ErrInvalidArgument):
		return status.Error(client.WireCode(err), boundMessage(err.Error()))
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrTimeout):
		if cerr := ctx.Err(); cerr != nil {
			// The caller's deadline passed or it hung up: that is not the store's fault, and
			// gRPC reports it so.
			return status.FromContextError(cerr).Err()
		}
		s.storeLog.Warn("the store failed a call", "method", method, "policy", policyName, "error", err.Error())
		if errors.Is(err, client.ErrTimeout) {
			if s.local {
				return status.Error(codes.Unavailable, "the server could not finish the call within its timeout")
			}
			return status.Error(codes.Unavailable, "the rate-limit store did not answer in time")
		}
		return status.Error(codes.Unavailable, "the rate-limit store is unavailable")
	case errors.Is(err, client.ErrAuth):
		// Not UNAUTHENTICATED: the caller's credentials are fine, the server's are not.
		s.log.Error("the store refused the server's credentials", "method", method, "policy", policyName, "error", err.Error())
		return status.Error(codes.Internal, "internal error: the server cannot authenticate to its store")
	}
	s.log.Error("internal error", "method", method, "policy", policyName, "error", err.Error())
	return status.Error(codes.Internal, "internal error (details are in the server log)")
}

// MaxMessageBytes bounds the message of every status the service answers
// (wire-contract.md): a caller's name or a long policy list must not make the trailer too
// large for the client, which would then see INTERNAL instead of the answer.
const MaxMessageBytes = 1024

// boundMessage cuts msg to MaxMessageBytes, at a character boundary, ending it with "…".
// The client's messages are bounded where they are built; this is the backstop.
func boundMessage(msg string) string {
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	const ellipsis = "…"
	i := MaxMessageBytes - len(ellipsis)
	for i > 0 && !utf8.RuneStart(msg[i]) {
		i--
	}
	return msg[:i] + ellipsis
}
