package main

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/throttlekit/throttlekit-go/contract"
)

// fleetPrefix is the method prefix of the Fleet service, which hands out budget.
var fleetPrefix = "/" + contract.Fleet_ServiceDesc.ServiceName + "/"

// fleetAuth guards Fleet.Reserve as upstream's server does (two-tier.md §6.3), whatever
// --auth-token-file says for the other services: with a secret, every call from any peer
// must present it; without one, loopback peers only (the Monitor's rule, loopbackAddr).
type fleetAuth struct{ secret []byte }

var (
	errFleetSecret = status.Error(codes.Unauthenticated,
		`Fleet.Reserve needs the fleet secret: send the metadata "x-fleet-secret: <secret>" (or "authorization: Bearer <secret>")`)
	errFleetLoopback = status.Error(codes.Unauthenticated,
		"Fleet.Reserve answers loopback callers only: the server needs --fleet-secret to open it beyond loopback")
)

// check returns nil when a call to method from p with md may proceed.
func (a fleetAuth) check(method string, p *peer.Peer, md metadata.MD) error {
	if !strings.HasPrefix(method, fleetPrefix) {
		return nil
	}
	if len(a.secret) > 0 {
		if a.secretGiven(md) {
			return nil
		}
		return errFleetSecret
	}
	if p == nil || !loopbackAddr(p.Addr) {
		return errFleetLoopback
	}
	return nil
}

// secretGiven compares in constant time (a length mismatch fails) the x-fleet-secret
// header when present and not empty, else the bearer credential.
func (a fleetAuth) secretGiven(md metadata.MD) bool {
	given, found := "", false
	if v := md.Get("x-fleet-secret"); len(v) > 0 && v[0] != "" {
		given, found = v[0], true
	} else {
		given, found = bearer(md)
	}
	return found && subtle.ConstantTimeCompare([]byte(given), a.secret) == 1
}

// tap refuses a Fleet call as its headers arrive, before its body is read.
func (a fleetAuth) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	p, _ := peer.FromContext(ctx)
	return ctx, a.check(info.FullMethodName, p, info.Header)
}

// unary is a second line behind the tap (Fleet has no streaming call).
func (a fleetAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	p, _ := peer.FromContext(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	if err := a.check(info.FullMethod, p, md); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// bothTaps runs first, then second: gRPC takes a single tap.
func bothTaps(first, second tap.ServerInHandle) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		ctx, err := first(ctx, info)
		if err != nil {
			return ctx, err
		}
		return second(ctx, info)
	}
}
