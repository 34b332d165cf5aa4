package main

import (
	"context"
	"crypto/subtle"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/throttlekit/throttlekit-go/contract"
)

// monitorPrefix is the method prefix of the Monitor service, whose answers carry the keys
// callers are limited by: personal data, so it is not open to whoever reaches the port.
var monitorPrefix = "/" + contract.Monitor_ServiceDesc.ServiceName + "/"

// monitorAuth guards the Monitor service when no shared token is configured (with one,
// tokenAuth requires it of Monitor calls as of every other). With a secret, every Monitor
// call must present it, as upstream's server requires; without one, only loopback callers
// may call. Refusals are UNAUTHENTICATED, the status upstream's server answers (its client
// turns any status but NOT_FOUND, UNIMPLEMENTED and UNAVAILABLE into a plain error).
func monitorAuth(secret []byte) secretGate {
	return secretGate{prefix: monitorPrefix, secret: secret, given: monitorSecretGiven,
		errSecret: errMonitorSecret, errLoopback: errMonitorLoopback}
}

var (
	errMonitorSecret = status.Error(codes.Unauthenticated,
		`the Monitor service needs the monitor secret: send the metadata "x-monitor-secret: <secret>" (or "authorization: Bearer <secret>")`)
	errMonitorLoopback = status.Error(codes.Unauthenticated,
		"the Monitor service answers loopback callers only: the server needs --monitor-secret to open it beyond loopback")
)

// monitorSecretGiven compares, in constant time, what the call presents in either header.
func monitorSecretGiven(md metadata.MD, secret []byte) bool {
	ok := false
	if v := md.Get("x-monitor-secret"); len(v) == 1 {
		ok = subtle.ConstantTimeCompare([]byte(v[0]), secret) == 1
	}
	if s, found := bearer(md); found {
		ok = subtle.ConstantTimeCompare([]byte(s), secret) == 1 || ok
	}
	return ok
}

// secretGate is the Fleet's and the Monitor's rule for the calls under prefix: with a
// secret, a call must present it (each service reads it its own way, given); without one,
// loopback peers only.
type secretGate struct {
	prefix                 string
	secret                 []byte
	given                  func(md metadata.MD, secret []byte) bool
	errSecret, errLoopback error
}

// check returns nil when a call to method from p with md may proceed.
func (g secretGate) check(method string, p *peer.Peer, md metadata.MD) error {
	if !strings.HasPrefix(method, g.prefix) {
		return nil
	}
	if len(g.secret) > 0 {
		if g.given(md, g.secret) {
			return nil
		}
		return g.errSecret
	}
	if p == nil || !loopbackAddr(p.Addr) {
		return g.errLoopback
	}
	return nil
}

// bearer is the credential of a call's single "authorization: Bearer <credential>" header
// (the scheme in any case).
func bearer(md metadata.MD) (string, bool) {
	v := md.Get("authorization")
	if len(v) != 1 {
		return "", false
	}
	scheme, s, found := strings.Cut(v[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(s, " "), true
}

// loopbackAddr tells whether a peer's address is this machine's loopback (or a Unix socket).
func loopbackAddr(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// tap refuses a call as its headers arrive, before its body is read.
func (g secretGate) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	p, _ := peer.FromContext(ctx)
	return ctx, g.check(info.FullMethodName, p, info.Header)
}

func (g secretGate) callCheck(ctx context.Context, method string) error {
	p, _ := peer.FromContext(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	return g.check(method, p, md)
}

// The interceptors are a second line behind the tap, as for the token.
func (g secretGate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.callCheck(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g secretGate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.callCheck(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
