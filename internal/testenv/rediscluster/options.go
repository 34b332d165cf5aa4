package rediscluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// Options secure a topology. The zero value starts the plain topology StartCluster and
// StartSentinel start.
type Options struct {
	// Password, when set, is required of every client of the data servers (requirepass), and
	// the data servers use it among themselves (masterauth). Sentinels are told it (sentinel
	// auth-pass) but ask none of their own clients.
	Password string
	// TLS serves every server over TLS only (port 0, tls-port), replication and the cluster
	// bus included (tls-replication, tls-cluster), with certificates from a CA made for the
	// topology (CAFile). Clients need no certificate of their own (tls-auth-clients no).
	//
	// The data servers' certificate names 127.0.0.1 only; the sentinels' names 127.0.0.1 and
	// localhost, so that a test can reach the sentinels by a host name the data servers'
	// certificate does not hold.
	TLS bool
}

// pki is a throwaway CA and the server certificates it signed, as PEM files.
type pki struct {
	caFile                 string
	dataCert, dataKey      string
	sentinelCert, sentinel string // the sentinels' certificate and key
	roots                  *x509.CertPool
}

// newPKI makes a CA under dir (testenv.NewCA) and two server certificates for 127.0.0.1,
// data and sentinel (the sentinels' also names localhost). Servers dial each other
// (replication, the cluster bus) with the same certificate, so both are client
// certificates too.
func newPKI(dir string) (*pki, error) {
	ca, err := testenv.NewCA(dir, "rediscluster")
	if err != nil {
		return nil, err
	}
	p := &pki{caFile: ca.File, roots: ca.Pool}
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	if p.dataCert, p.dataKey, err = ca.Issue("data", usages, loopback, nil); err != nil {
		return nil, err
	}
	if p.sentinelCert, p.sentinel, err = ca.Issue("sentinel", usages, loopback, []string{"localhost"}); err != nil {
		return nil, err
	}
	return p, nil
}

// clientTLS is the configuration the harness's own clients use: trust the CA, check the
// name 127.0.0.1 (every server's address).
func (p *pki) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// serverArgs are the redis-server arguments that serve TLS on port with the certificate of
// a data server; withBus adds the cluster bus.
func (p *pki) serverArgs(port int, withBus bool) []string {
	args := []string{"--port", "0", "--tls-port", fmt.Sprint(port),
		"--tls-cert-file", p.dataCert, "--tls-key-file", p.dataKey, "--tls-ca-cert-file", p.caFile,
		"--tls-auth-clients", "no", "--tls-replication", "yes"}
	if withBus {
		args = append(args, "--tls-cluster", "yes")
	}
	return args
}

// sentinelConf are the sentinel.conf lines that serve TLS on port and reach the data
// servers over TLS.
func (p *pki) sentinelConf(port int) []string {
	return []string{"port 0", fmt.Sprintf("tls-port %d", port),
		"tls-cert-file " + p.sentinelCert, "tls-key-file " + p.sentinel, "tls-ca-cert-file " + p.caFile,
		"tls-auth-clients no", "tls-replication yes"}
}

// cliArgs are the redis-cli arguments that reach the topology's data servers; the password
// goes through the environment (cliEnv), never the command line.
func (g *group) cliArgs() []string {
	if g.pki == nil {
		return nil
	}
	return []string{"--tls", "--cacert", g.pki.caFile}
}

func (g *group) cliEnv() []string {
	if g.opts.Password == "" {
		return nil
	}
	return []string{"REDISCLI_AUTH=" + g.opts.Password}
}

// CAFile is the PEM file of the CA that signed the servers' certificates ("" without TLS).
func (g *group) CAFile() string {
	if g.pki == nil {
		return ""
	}
	return g.pki.caFile
}

// url builds scheme://[:password@]addr1,addr2[/path] for the topology's options; the password
// is escaped as the client's URL parser expects.
func (g *group) url(scheme string, addrs []string, path string) string {
	if g.opts.TLS {
		scheme = strings.Replace(scheme, "redis", "rediss", 1)
	}
	user := ""
	if g.opts.Password != "" {
		user = ":" + url.PathEscape(g.opts.Password) + "@"
	}
	u := scheme + "://" + user + strings.Join(addrs, ",")
	if path != "" {
		u += "/" + path
	}
	return u
}
