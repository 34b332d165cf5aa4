package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// transientReplies are Redis states that pass by themselves (loading a dataset, a replica
// during failover, a busy script, a cluster reconfiguring): the store is unavailable, not
// broken.
var transientReplies = []string{"LOADING", "READONLY", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"}

// authReplies are Redis's refusals of the credentials.
var authReplies = []string{"NOAUTH", "WRONGPASS", "NOPERM"}

// classifyRedisError maps a go-redis error to the kind a caller can act on. go-redis's own
// messages name addresses, never passwords.
func classifyRedisError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	msg := "redis: " + err.Error()
	kind := ErrUnavailable
	var redisErr redis.Error
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind, msg = ErrTimeout, "redis: the call's deadline passed ("+err.Error()+")"
	case errors.Is(err, context.Canceled):
		kind, msg = ErrTimeout, "redis: the call was canceled"
	case errors.Is(err, redis.ErrPoolTimeout):
		kind = ErrTimeout
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr),
		strings.Contains(err.Error(), "tls: "):
		kind = ErrAuth
	case errors.As(err, &redisErr) && !errors.As(err, &netErr):
		kind = replyKind(err.Error())
	case errors.As(err, &netErr) && netErr.Timeout():
		kind = ErrTimeout
	}
	return &Error{Kind: kind, Msg: msg, Cause: err}
}

func replyKind(reply string) error {
	for _, p := range authReplies {
		if strings.HasPrefix(reply, p) {
			return ErrAuth
		}
	}
	for _, p := range transientReplies {
		if strings.HasPrefix(reply, p) {
			return ErrUnavailable
		}
	}
	// WRONGTYPE, a script error, anything else Redis says about the command itself is a logic
	// fault: never papered over as unavailability.
	return ErrInternal
}
