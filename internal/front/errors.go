package front

import (
	"errors"
	"fmt"
)

// The kinds of failure a caller can act on. Every error a backend returns matches exactly one
// of them with errors.Is, and carries a message that names what went wrong (never a secret).
var (
	ErrInvalidArgument = errors.New("invalid argument")
	ErrPolicyNotFound  = errors.New("policy not found")
	ErrUnsupported     = errors.New("unsupported")
	ErrUnavailable     = errors.New("unavailable")
	ErrTimeout         = errors.New("timeout")
	ErrConfig          = errors.New("configuration error")
	ErrAuth            = errors.New("authentication failed")
	ErrInternal        = errors.New("internal error")
)

// Error is a failure of one kind (one of the Err* values above) with its own message.
type Error struct {
	Kind  error
	Msg   string
	Cause error // the underlying error, if any
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrTimeout) and the like match the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the cause, e.g. a go-redis or context error.
func (e *Error) Unwrap() error { return e.Cause }

func NewError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Internal is the error of a call whose sending panicked with p: an internal fault, never a
// store's unavailability (no fail mode answers for it).
func Internal(p any) error {
	return &Error{Kind: ErrInternal, Msg: fmt.Sprintf("internal error in the ThrottleKit core: %v", p)}
}

// Refuses is the error of an operation a policy does not support ("policy "x" does not
// support peek"), in the words upstream uses.
func Refuses(policyName, op string) error {
	return &Error{Kind: ErrUnsupported, Msg: "policy " + quotedCut(policyName, maxQuotedName) + " does not support " + op}
}
