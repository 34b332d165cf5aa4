package client

import (
	"google.golang.org/grpc/codes"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Decision is the outcome of a Check, Peek or Debit. A denial is a Decision with Allowed
// false, never an error. Its fields: Allowed; Limit, the effective ceiling (burst for gcra,
// capacity for tokenBucket); Remaining, units left after this call, never negative; ResetAt,
// epoch ms at which the limiter is full again (0 when synthesized); RetryAfterMs (0 when
// allowed); Synthesized, made by a fail mode rather than by the limiter.
type Decision = front.Decision

// Forecast tells what a limiter can still give without consuming anything: SpendableNow, how
// many requests of the asked size would pass now; NextReplenishAt and FullAt, the epoch ms of
// the next replenishment and of a full limiter.
type Forecast = front.Forecast

// CheckItem is one entry of CheckAll: Policy, Key and Cost (0 means 1).
type CheckItem = front.CheckItem

// Shade admits a denial the limiter made, flagged Shadow (what a shadow policy or switch
// answers); other decisions come back as they are.
func Shade(d Decision) Decision { return front.Shade(d) }

// AllAllowed reports whether every decision allows.
func AllAllowed(ds []Decision) bool { return front.AllAllowed(ds) }

// Error is a failure of one kind (one of the Err* values) with its own message: Kind, Msg, and
// Cause, the underlying error if any. errors.Is(err, ErrTimeout) and the like match its kind.
type Error = front.Error

// The kinds of failure a caller can act on. Every error a backend returns matches exactly one
// of them with errors.Is, and carries a message that names what went wrong (never a secret).
var (
	ErrInvalidArgument = front.ErrInvalidArgument
	ErrPolicyNotFound  = front.ErrPolicyNotFound
	ErrUnsupported     = front.ErrUnsupported
	ErrUnavailable     = front.ErrUnavailable
	ErrTimeout         = front.ErrTimeout
	ErrConfig          = front.ErrConfig
	ErrAuth            = front.ErrAuth
	ErrInternal        = front.ErrInternal
)

// FailMode says what a check answers when the store cannot be reached in time.
type FailMode = front.FailMode

// The fail modes.
const (
	FailError  = front.FailError  // return the error (ErrUnavailable or ErrTimeout)
	FailOpen   = front.FailOpen   // admit: a synthesized decision with Allowed true
	FailClosed = front.FailClosed // deny: a synthesized decision with Allowed false
)

// DefaultTimeout bounds a call (connecting included) when no timeout is configured.
const DefaultTimeout = front.DefaultTimeout

// A Waiter hears how a check started with StartCheck ends.
type Waiter = front.Waiter

// ParsePolicies parses a policy file's text, mapping its errors to ErrConfig.
func ParsePolicies(yaml []byte) (*policy.Set, error) { return front.ParsePolicies(yaml) }

// WireCode is the gRPC status code that carries err's kind in throttlekit.v1: what
// throttlekit-server answers for it, and what ServiceBackend reads back as that kind.
func WireCode(err error) codes.Code { return front.CodeOf(err) }
