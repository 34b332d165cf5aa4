package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// readToken reads the shared token: the file's content with surrounding whitespace trimmed.
// Errors name the file, never its content.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read the auth token file %s: %w", path, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the auth token file %s is empty (or only whitespace)", path)
	}
	return token, nil
}

// healthPrefix is the method prefix that needs no token: a load balancer probing health has
// no business holding the callers' secret.
var healthPrefix = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

var errUnauthenticated = status.Error(codes.Unauthenticated,
	`missing or wrong token: this server requires the metadata "authorization: Bearer <token>"`)

// tokenAuth checks the bearer token of every call but health's.
type tokenAuth struct{ want []byte }

func (a tokenAuth) allowed(ctx context.Context, method string) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return a.allowedMD(md, method)
}

func (a tokenAuth) allowedMD(md metadata.MD, method string) bool {
	if strings.HasPrefix(method, healthPrefix) {
		return true
	}
	values := md.Get("authorization")
	if len(values) != 1 {
		return false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Constant time in the token's content (its length is no secret worth the complexity).
	return subtle.ConstantTimeCompare([]byte(strings.TrimLeft(token, " ")), a.want) == 1
}

// tap runs on the transport as a stream's headers arrive: a call without the token is
// refused UNAUTHENTICATED there, before its body is read or decoded and before any handler
// or interceptor runs. (The interceptors below stay, as a second line.)
func (a tokenAuth) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !a.allowedMD(info.Header, info.FullMethodName) {
		return ctx, errUnauthenticated
	}
	return ctx, nil
}

func (a tokenAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !a.allowed(ctx, info.FullMethod) {
		return nil, errUnauthenticated
	}
	return handler(ctx, req)
}

func (a tokenAuth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !a.allowed(ss.Context(), info.FullMethod) {
		return errUnauthenticated
	}
	return handler(srv, ss)
}
