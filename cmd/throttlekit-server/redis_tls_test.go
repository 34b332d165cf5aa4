package main

import (
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

// The server's Redis store on a Redis Cluster served over TLS only, with a password, its CA
// given with --redis-tls-ca: a burst to denial on keys of every master. Without the CA the
// same server cannot reach the store, and says so per call.
func TestServerOnATLSCluster(t *testing.T) {
	c := rediscluster.StartClusterWith(t, 3, 0, rediscluster.Options{Password: "tls-s3cret", TLS: true})
	if !strings.HasPrefix(c.URL(), "rediss+cluster://") || c.CAFile() == "" {
		t.Fatalf("the harness's cluster is not TLS: %s", client.RedactURL(c.URL()))
	}
	ns := testenv.Namespace(t)
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", c.URL(), "--redis-prefix", ns, "--redis-tls-ca", c.CAFile(), "--fail", "error")
	b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := callCtx(t)
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} { // spread over the slots
		for i := int64(1); i <= 7; i++ {
			d, err := b.Check(ctx, "slow", k, 1)
			if err != nil || d.Allowed != (i <= 6) || d.Remaining != max(0, 6-i) || d.Limit != 6 {
				t.Fatalf("key %s, check %d: %+v, %v", k, i, d, err)
			}
		}
	}

	// The same cluster without its CA: the store is unreachable for every call.
	q := launch(t, "-c", writeFile(t, "q.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", c.URL(), "--redis-prefix", ns, "--fail", "error")
	b2, err := client.OpenService(q.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if d, err := b2.Check(ctx, "slow", "a", 1); err == nil {
		t.Fatalf("a server that does not trust the cluster's CA decided: %+v", d)
	}
	if strings.Contains(q.stderr.String(), "tls-s3cret") {
		t.Fatalf("the password reached the log:\n%s", q.stderr.String())
	}
}

// The --redis-tls-* flags only make sense for a Redis store, and the certificate comes with
// its key.
func TestRedisTLSFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--redis-tls-ca", "ca.pem"},
		{"--redis", "rediss://127.0.0.1:1", "--redis-tls-cert", "c.pem"},
		{"--redis", "rediss://127.0.0.1:1", "--redis-tls-key", "k.pem"},
	} {
		_, err := parseFlags(append([]string{"-c", "p.yaml"}, args...))
		if err == nil || !strings.Contains(err.Error(), "--redis-tls") {
			t.Errorf("%v: %v, want a usage error naming --redis-tls-*", args, err)
		}
	}
}
