package main

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
)

func openService(t *testing.T, addr string, opts client.ServiceOptions) *client.ServiceBackend {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	b, err := client.OpenService(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func wantAllowed(t *testing.T, what string, b *client.ServiceBackend) {
	t.Helper()
	if d, err := b.Check(callCtx(t), "api", "k", 1); err != nil || d.Limit != 5 {
		t.Fatalf("%s: %+v, %v; want a decision", what, d, err)
	}
}

func wantAuthError(t *testing.T, what string, b *client.ServiceBackend) {
	t.Helper()
	_, err := b.Check(callCtx(t), "api", "k", 1)
	if !errors.Is(err, client.ErrAuth) {
		t.Fatalf("%s: %v, want ErrAuth", what, err)
	}
}

func TestTLS(t *testing.T) {
	pki, other := newTestPKI(t, "ours"), newTestPKI(t, "theirs")
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--tls-cert", pki.serverCert, "--tls-key", pki.serverKey)
	addr := p.waitListening(t)
	wantAllowed(t, "TLS with the CA", openService(t, addr, client.ServiceOptions{TLSCAFile: pki.caFile}))
	wantAuthError(t, "TLS with another CA", openService(t, addr, client.ServiceOptions{TLSCAFile: other.caFile}))
	if _, err := openService(t, addr, client.ServiceOptions{}).Check(callCtx(t), "api", "k", 1); err == nil {
		t.Fatal("a plaintext client got an answer from a TLS server")
	}
	// A file that cannot be used is the caller's mistake, at open.
	for _, o := range []client.ServiceOptions{
		{TLSCAFile: pki.caFile + ".missing"},
		{TLSCAFile: pki.serverKey},
		{TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert},
	} {
		if _, err := client.OpenService(addr, o); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want ErrInvalidArgument", o, err)
		}
	}
	p.stop(t)
	if log := p.stderr.String(); !strings.Contains(log, "tls=on") {
		t.Errorf("the startup line does not say TLS is on:\n%s", log)
	}
}

func TestMutualTLS(t *testing.T) {
	pki, other := newTestPKI(t, "ours"), newTestPKI(t, "theirs")
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "0.0.0.0", "--port", "0",
		"--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-ca", pki.caFile)
	_, port, err := net.SplitHostPort(p.waitListening(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	wantAllowed(t, "mTLS with a client certificate", openService(t, addr,
		client.ServiceOptions{TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey}))
	wantAuthError(t, "mTLS without a client certificate", openService(t, addr, client.ServiceOptions{TLSCAFile: pki.caFile}))
	wantAuthError(t, "mTLS with a certificate of another CA", openService(t, addr,
		client.ServiceOptions{TLSCAFile: pki.caFile, TLSCertFile: other.clientCert, TLSKeyFile: other.clientKey}))
	p.stop(t)
	log := p.stderr.String()
	if strings.Contains(log, "without TLS") {
		t.Errorf("a TLS server got the plain-text warning:\n%s", log)
	}
	if !strings.Contains(log, "tls=mutual") {
		t.Errorf("the startup line does not say mutual TLS:\n%s", log)
	}
}

const testToken = "s3cr3t-t0ken-value"

func TestAuthToken(t *testing.T) {
	tokenFile := writeFile(t, "token", "\n  "+testToken+"\n\n")
	cases := map[string][]string{
		"flag": {"--auth-token-file", tokenFile},
		"env":  nil, // THROTTLEKIT_AUTH_TOKEN_FILE, below
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			if name == "env" {
				t.Setenv(authTokenEnv, tokenFile)
			}
			args := append([]string{"-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0"}, extra...)
			p := launch(t, args...)
			addr := p.waitListening(t)
			wantAllowed(t, "the right token", openService(t, addr, client.ServiceOptions{AuthToken: testToken}))
			wantAuthError(t, "no token", openService(t, addr, client.ServiceOptions{}))
			wantAuthError(t, "a wrong token", openService(t, addr, client.ServiceOptions{AuthToken: testToken + "x"}))
			wantAuthError(t, "a prefix of the token", openService(t, addr, client.ServiceOptions{AuthToken: testToken[:5]}))

			conn := dial(t, addr)
			ctx := callCtx(t)
			// The raw status is UNAUTHENTICATED, on every RPC.
			_, err := contract.NewRateLimiterClient(conn).Peek(ctx, &contract.PeekRequest{Policy: "api", Key: "k"})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Peek without a token: %v, want UNAUTHENTICATED", err)
			}
			for _, v := range []string{"Basic " + testToken, testToken, "Bearer"} {
				mctx := metadata.AppendToOutgoingContext(ctx, "authorization", v)
				_, err := contract.NewRateLimiterClient(conn).Check(mctx, &contract.CheckRequest{Policy: "api", Key: "k"})
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("authorization %q: %v, want UNAUTHENTICATED", v, err)
				}
			}
			// Health needs no token.
			r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health without a token: %v, %v", r.GetStatus(), err)
			}
			p.stop(t)
			if log := p.stderr.String(); strings.Contains(log, testToken) || !strings.Contains(log, "auth_token=true") {
				t.Errorf("the log shows the token or does not say one is required:\n%s", log)
			}
		})
	}
}

// Token and mutual TLS together, as production runs them.
func TestTokenOverMutualTLS(t *testing.T) {
	pki := newTestPKI(t, "ours")
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-ca", pki.caFile,
		"--auth-token-file", writeFile(t, "token", testToken))
	addr := p.waitListening(t)
	tlsOpts := client.ServiceOptions{TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey}
	wantAuthError(t, "mTLS without the token", openService(t, addr, tlsOpts))
	tlsOpts.AuthToken = testToken
	wantAllowed(t, "mTLS with the token", openService(t, addr, tlsOpts))
	// Health over mTLS needs the certificate, not the token.
	creds, err := credentials.NewClientTLSFromFile(pki.caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("health answered a client without a certificate under mutual TLS")
	}
	p.stop(t)
}
