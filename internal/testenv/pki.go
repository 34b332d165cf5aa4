package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CA is a throwaway certificate authority for tests: a P-256 key and a self-signed
// certificate, written as PEM files into one directory together with every certificate it
// issues. Certificates are valid from an hour ago until a day from when the CA was made, long
// enough for the slowest topology test.
type CA struct {
	// File is the PEM file of the CA's certificate (dir/ca.pem): what a peer trusts.
	File string
	// Pool holds the CA's certificate alone, for a tls.Config's RootCAs or ClientCAs.
	Pool *x509.CertPool

	dir       string
	cert      *x509.Certificate
	key       *ecdsa.PrivateKey
	notBefore time.Time
	notAfter  time.Time

	mu     sync.Mutex
	serial int64 // the last serial number used; the CA's own is 1
}

// NewCA makes a CA named "<name> test CA" and writes its certificate to dir/ca.pem, creating
// dir if need be.
func NewCA(dir, name string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &CA{dir: dir, key: key, notBefore: now.Add(-time.Hour), notAfter: now.Add(24 * time.Hour), serial: 1}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             ca.notBefore,
		NotAfter:              ca.notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.Pool = x509.NewCertPool()
	ca.Pool.AddCert(ca.cert)
	ca.File = filepath.Join(dir, "ca.pem")
	if err := writePEM(ca.File, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue signs a certificate with common name name for the extended key usages given
// (ExtKeyUsageServerAuth for a server, ExtKeyUsageClientAuth for a client, both for a server
// that also dials its peers) and the IP addresses and DNS names given (either may be nil),
// and writes it to dir/<name>.pem and its PKCS #8 key to dir/<name>.key. Each certificate
// gets a serial number of its own; a second certificate of the same name overwrites the
// files of the first (so no certificate may be named "ca").
func (ca *CA) Issue(name string, usages []x509.ExtKeyUsage, ips []net.IP, dns []string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    ca.notBefore,
		NotAfter:     ca.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+".key")
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// writePEM writes one PEM block, readable by the owner only.
func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
