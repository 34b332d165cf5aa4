// Package tlsconf builds the client TLS configuration both doors use from PEM files.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Files are PEM files: a CA bundle to trust (empty: the system's), and a client certificate
// and its key for mutual TLS (both or neither).
type Files struct{ CA, Cert, Key string }

// Build reads the files (a missing or malformed one is an invalid argument) and returns a
// configuration that checks the server's certificate against serverName ("": the host dialled).
func Build(serverName string, f Files) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, front.NewError(front.ErrInvalidArgument, "TLS CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, front.NewError(front.ErrInvalidArgument, "TLS CA file %q holds no PEM certificate", f.CA)
		}
		c.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, front.NewError(front.ErrInvalidArgument, "a TLS client certificate needs both the cert and the key file")
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, front.NewError(front.ErrInvalidArgument, "TLS client certificate: %v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
