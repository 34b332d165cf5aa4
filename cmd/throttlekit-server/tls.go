package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// serverTLS builds the gRPC port's TLS: the certificate, and with --tls-ca mutual TLS.
//
// Under mutual TLS the handshake asks for a client certificate and the chain is verified
// against the --tls-ca bundle once per connection (mtlsCreds); every call on a connection
// without a verified certificate, health included, is refused as UNAUTHENTICATED by the
// interceptor that mtls.unary returns. Refusing in the handshake instead would leave TLS 1.3
// clients with a bare "broken pipe" or "connection reset" (their handshake completes before
// the server's verdict arrives), indistinguishable from a server that went away; this way the
// caller is told why, and no call is served without a verified certificate either way.
func serverTLS(cfg *config) (credentials.TransportCredentials, *clientCertCheck, error) {
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load the TLS certificate %s / key %s: %w", cfg.tlsCert, cfg.tlsKey, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.tlsCA == "" {
		return credentials.NewTLS(tc), nil, nil
	}
	pem, err := os.ReadFile(cfg.tlsCA)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the TLS client CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("the TLS client CA bundle %s holds no PEM certificate", cfg.tlsCA)
	}
	tc.ClientAuth = tls.RequestClientCert // verified by mtlsCreds, against pool only
	return mtlsCreds{TransportCredentials: credentials.NewTLS(tc), pool: pool}, &clientCertCheck{}, nil
}

// mtlsCreds verifies the client's certificate chain after each server handshake and records
// the verdict in the connection's AuthInfo.
type mtlsCreds struct {
	credentials.TransportCredentials
	pool *x509.CertPool
}

// clientCertInfo is the TLS AuthInfo of a connection plus the verdict on its client
// certificate (nil when verified).
type clientCertInfo struct {
	credentials.TLSInfo
	verifyErr error
}

func (c mtlsCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	ti, ok := info.(credentials.TLSInfo)
	if !ok {
		_ = conn.Close()
		return nil, nil, errors.New("mutual TLS: unexpected handshake information")
	}
	return conn, clientCertInfo{TLSInfo: ti, verifyErr: verifyClientChain(ti.State.PeerCertificates, c.pool)}, nil
}

func (c mtlsCreds) Clone() credentials.TransportCredentials {
	return mtlsCreds{TransportCredentials: c.TransportCredentials.Clone(), pool: c.pool}
}

func verifyClientChain(chain []*x509.Certificate, pool *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("no client certificate was presented")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return fmt.Errorf("the client certificate is not trusted: %w", err)
	}
	return nil
}

// clientCertCheck refuses every call on a connection whose client certificate failed.
type clientCertCheck struct{}

func (clientCertCheck) check(ctx context.Context) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "mutual TLS: no peer information")
	}
	info, ok := p.AuthInfo.(clientCertInfo)
	if !ok {
		return status.Error(codes.Unauthenticated, "mutual TLS: the connection is not verified")
	}
	if info.verifyErr != nil {
		return status.Error(codes.Unauthenticated, "mutual TLS: this server requires a client certificate signed by its CA (tls: "+info.verifyErr.Error()+")")
	}
	return nil
}

func (c clientCertCheck) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.check(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (c clientCertCheck) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := c.check(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
