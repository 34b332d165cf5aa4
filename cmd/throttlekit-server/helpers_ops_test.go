package main

import (
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, as PEM
// files in the test's directory.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, name string) testPKI {
	t.Helper()
	ca, err := testenv.NewCA(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caFile: ca.File}
	if p.serverCert, p.serverKey, err = ca.Issue("server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		[]net.IP{net.IPv4(127, 0, 0, 1)}, nil); err != nil {
		t.Fatal(err)
	}
	if p.clientCert, p.clientKey, err = ca.Issue("client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// logValue finds key=value in the server's text log (the first occurrence).
func logValue(t *testing.T, p *proc, key string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range strings.Fields(p.stderr.String()) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				return v
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the log has no %s=:\n%s", key, p.stderr.String())
	return ""
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func writeTo(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
