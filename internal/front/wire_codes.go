package front

import (
	"errors"

	"google.golang.org/grpc/codes"
)

// wireCodes pairs each error kind with the gRPC code that carries it in throttlekit.v1: the
// one table both ends of the service door read, the server to answer and the client to
// understand the answer. ErrConfig never travels: a server with a bad configuration does not
// serve.
var wireCodes = [...]struct {
	kind error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrPolicyNotFound, codes.NotFound},
	{ErrUnsupported, codes.Unimplemented},
	{ErrUnavailable, codes.Unavailable},
	{ErrTimeout, codes.DeadlineExceeded},
	{ErrAuth, codes.Unauthenticated},
	{ErrInternal, codes.Internal},
}

// codeAliases are the other codes a server may send, read as the kind they mean.
var codeAliases = map[codes.Code]error{
	codes.OutOfRange:       ErrInvalidArgument,
	codes.PermissionDenied: ErrAuth,
	codes.Canceled:         ErrTimeout,
}

// CodeOf is the gRPC code for err's kind (Internal for an error of no kind).
func CodeOf(err error) codes.Code {
	for _, w := range wireCodes {
		if errors.Is(err, w.kind) {
			return w.code
		}
	}
	return codes.Internal
}

// KindOf is the error kind a gRPC code carries (ErrInternal for a code of no kind).
func KindOf(code codes.Code) error {
	for _, w := range wireCodes {
		if w.code == code {
			return w.kind
		}
	}
	if kind, ok := codeAliases[code]; ok {
		return kind
	}
	return ErrInternal
}
