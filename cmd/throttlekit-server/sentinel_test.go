package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

// The server's Redis store behind Sentinel (one master, one replica, three sentinels), the
// data servers requiring a password given in the redis+sentinel:// URL: a burst to denial and
// CheckMany through the Go ServiceBackend, the counts where the master keeps them, then a
// SENTINEL FAILOVER the server follows without a restart. The password never reaches the log.
func TestServerOnRedisSentinel(t *testing.T) {
	const password = "srv-s3cret:p@ss"
	s := rediscluster.StartSentinelWith(t, "tkserver", 1, 3, rediscluster.Options{Password: password})
	url := s.URL()
	if !strings.HasPrefix(url, "redis+sentinel://:") {
		t.Fatalf("the harness's URL %q", client.RedactURL(url))
	}
	master, replica := s.Data[0], s.Data[1]
	ns := testenv.Namespace(t)
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", url, "--redis-prefix", ns, "--fail", "error")
	b, err := client.OpenService(p.waitListening(t), client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := callCtx(t)

	// slow: fixedWindow, 6 an hour. A burst on two keys, to denial, with every field checked.
	var reset int64
	for _, k := range []string{"alice", "bob"} {
		for i := int64(1); i <= 7; i++ {
			d, err := b.Check(ctx, "slow", k, 1)
			if err != nil {
				t.Fatalf("%s check %d: %v", k, i, err)
			}
			if i == 1 {
				reset = d.ResetAt
			}
			want := client.Decision{Allowed: i <= 6, Limit: 6, Remaining: max(0, 6-i), ResetAt: reset, RetryAfterMs: d.RetryAfterMs, WindowMs: 3_600_000}
			if d != want || (i > 6) != (d.RetryAfterMs > 0) || reset <= time.Now().UnixMilli() {
				t.Fatalf("%s check %d: %+v, want %+v", k, i, d, want)
			}
		}
		v, err := master.Client().HGet(ctx, ns+":slow:"+k, "c").Int64()
		if err != nil || v != 6 {
			t.Fatalf("the master holds count %d for %s (%v), want 6", v, k, err)
		}
	}
	ds, err := b.CheckMany(ctx, "slow", []string{"carol", "alice", "carol", "bob", "carol"}, 2)
	if err != nil || len(ds) != 5 {
		t.Fatalf("CheckMany: %v, %v", ds, err)
	}
	for i, want := range []struct {
		allowed   bool
		remaining int64
	}{{true, 4}, {false, 0}, {true, 2}, {false, 0}, {true, 0}} {
		d := ds[i]
		if d.Allowed != want.allowed || d.Remaining != want.remaining || d.Limit != 6 || d.ResetAt <= 0 || (d.RetryAfterMs > 0) == want.allowed || d.Synthesized {
			t.Errorf("CheckMany[%d] = %+v, want allowed %v remaining %d", i, d, want.allowed, want.remaining)
		}
	}

	// The sentinels promote the replica; the server's store follows them.
	if err := s.Sentinels[0].Client().Do(ctx, "sentinel", "failover", s.Name).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	if promoted := s.WaitNewMaster(t, master, 30*time.Second); promoted != replica {
		t.Fatalf("promoted %s, want %s", promoted.Addr, replica.Addr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := b.Check(ctx, "slow", "dave", 1)
		if err == nil {
			if !d.Allowed || d.Remaining != 5 || d.Synthesized {
				t.Fatalf("first check after the failover: %+v", d)
			}
			break
		}
		if errors.Is(err, client.ErrAuth) || time.Now().After(deadline) {
			t.Fatalf("no check through the promoted master: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, err := replica.Client().HGet(ctx, ns+":slow:dave", "c").Int64(); err != nil || v != 1 {
		t.Errorf("the promoted master holds count %d for dave (%v), want 1", v, err)
	}
	// The counts came across with replication: alice stays spent.
	if d, err := b.Check(ctx, "slow", "alice", 1); err != nil || d.Allowed || d.Remaining != 0 {
		t.Errorf("alice after the failover: %+v, %v", d, err)
	}
	p.stop(t)
	if log := p.stderr.String(); strings.Contains(log, password) || strings.Contains(log, "s3cret") {
		t.Errorf("the server's log shows the password:\n%s", log)
	}
}
