package main

import (
	"context"
	"crypto/subtle"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/throttlekit/throttlekit-go/contract"
)

// fleetPrefix is the method prefix of the Fleet service, which hands out budget.
var fleetPrefix = "/" + contract.Fleet_ServiceDesc.ServiceName + "/"

// fleetAuth guards Fleet.Reserve as upstream's server does (two-tier.md §6.3), whatever
// --auth-token-file says for the other services: with a secret, every call from any peer
// must present it; without one, loopback peers only (the Monitor's rule, loopbackAddr).
func fleetAuth(secret []byte) secretGate {
	return secretGate{prefix: fleetPrefix, secret: secret, given: fleetSecretGiven,
		errSecret: errFleetSecret, errLoopback: errFleetLoopback}
}

var (
	errFleetSecret = status.Error(codes.Unauthenticated,
		`Fleet.Reserve needs the fleet secret: send the metadata "x-fleet-secret: <secret>" (or "authorization: Bearer <secret>")`)
	errFleetLoopback = status.Error(codes.Unauthenticated,
		"Fleet.Reserve answers loopback callers only: the server needs --fleet-secret to open it beyond loopback")
)

// fleetSecretGiven compares in constant time (a length mismatch fails) the x-fleet-secret
// header when present and not empty, else the bearer credential.
func fleetSecretGiven(md metadata.MD, secret []byte) bool {
	given, found := "", false
	if v := md.Get("x-fleet-secret"); len(v) > 0 && v[0] != "" {
		given, found = v[0], true
	} else {
		given, found = bearer(md)
	}
	return found && subtle.ConstantTimeCompare([]byte(given), secret) == 1
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
