// Package rediserr says what a Redis failure means to a caller: the error kind of a go-redis or
// stream error, and the replies the doors react to.
package rediserr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/throttlekit/throttlekit-go/internal/front"
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

// Classify maps a go-redis error to the kind a caller can act on. go-redis's own
// messages name addresses, never passwords.
func Classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*front.Error); ok {
		return e // classified already (an internal fault while sending)
	}
	msg := "redis: " + err.Error()
	kind := front.ErrUnavailable
	var redisErr redis.Error
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind, msg = front.ErrTimeout, "redis: the call's deadline passed ("+err.Error()+")"
	case errors.Is(err, context.Canceled):
		kind, msg = front.ErrTimeout, "redis: the call was canceled"
	case errors.Is(err, redis.ErrPoolTimeout):
		kind = front.ErrTimeout
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr),
		strings.Contains(err.Error(), "tls: "):
		kind = front.ErrAuth
	case errors.As(err, &redisErr) && !errors.As(err, &netErr):
		kind = ReplyKind(err.Error())
	case errors.As(err, &netErr) && netErr.Timeout():
		kind = front.ErrTimeout
	}
	return &front.Error{Kind: kind, Msg: msg, Cause: err}
}

func ReplyKind(reply string) error {
	for _, p := range authReplies {
		if strings.HasPrefix(reply, p) {
			return front.ErrAuth
		}
	}
	for _, p := range transientReplies {
		if strings.HasPrefix(reply, p) {
			return front.ErrUnavailable
		}
	}
	// WRONGTYPE, a script error, anything else Redis says about the command itself is a logic
	// fault: never papered over as unavailability.
	return front.ErrInternal
}

// IsNoScript reports whether err is Redis's NOSCRIPT: the script cache lost the script
// (restart, failover, SCRIPT FLUSH) and the call must be sent again as EVAL.
func IsNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
