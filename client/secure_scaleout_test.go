package client_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

// securePassword holds the characters a URL must escape ('/', '%') and those the parser
// must take literally (':', '@').
const securePassword = "Tk-s3cr:t@p/ss%w0rd"

// openSecure opens a backend on url trusting caFile, with a fresh key namespace.
func openSecure(t *testing.T, url, caFile, yaml string) (*client.RedisBackend, string) {
	t.Helper()
	ns := testenv.Namespace(t)
	b, err := client.OpenRedis(url, []byte(yaml), client.RedisOptions{Namespace: ns},
		client.ConnectOptions{Timeout: 5 * time.Second, TLSCAFile: caFile})
	if err != nil {
		t.Fatalf("OpenRedis(%s): %v", client.RedactURL(url), err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, ns
}

// withPassword replaces the password of a URL the harness built.
func withPassword(raw, password string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	if password == "" {
		return scheme + "://" + rest
	}
	return scheme + "://:" + url.PathEscape(password) + "@" + rest
}

// requireRefused checks that a check through url fails with kind for cause, and that neither the
// error nor its cause chain shows a password.
func requireRefused(t *testing.T, what, url, caFile string, kind error, cause string) {
	t.Helper()
	b, err := client.OpenRedis(url, []byte(bigWindowYAML), client.RedisOptions{Namespace: testenv.Namespace(t)},
		client.ConnectOptions{Timeout: 2 * time.Second, TLSCAFile: caFile})
	if err != nil {
		t.Fatalf("%s: OpenRedis must not dial, yet: %v", what, err)
	}
	defer b.Close()
	d, err := b.Check(ctx, "p", "k", 1)
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), cause) {
		t.Fatalf("%s: Check = %s, %v; want %v for %q", what, show(d), err, kind, cause)
	}
	for _, secret := range []string{securePassword, "wrong-" + securePassword, url} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows a secret: %v", what, err)
		}
	}
	t.Logf("%s: %v", what, err)
}

// A Redis Cluster behind TLS and a password: every node serves TLS only (tls-port,
// tls-cluster, tls-replication) with a certificate of a CA made for the test, and requires
// the password (requirepass; masterauth between the nodes). Everything goes through
// rediss+cluster:// with the CA file option.
func TestClusterTLSAndPassword(t *testing.T) {
	c := rediscluster.StartClusterWith(t, 3, 1, rediscluster.Options{Password: securePassword, TLS: true})
	url := c.URL()
	if !strings.HasPrefix(url, "rediss+cluster://:") || !strings.Contains(url, "%2F") {
		t.Fatalf("the harness's URL %q is not a rediss+cluster:// URL with an escaped password", client.RedactURL(url))
	}
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3", len(masters))
	}

	t.Run("ServersRefusePlainAndAnonymous", func(t *testing.T) {
		// The nodes must really require TLS and the password, or the tests below prove nothing.
		plain := redis.NewClient(&redis.Options{Addr: masters[0].Addr, Password: securePassword,
			DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
		defer plain.Close()
		if err := plain.Ping(ctx).Err(); err == nil {
			t.Errorf("%s answers PING over plain TCP", masters[0].Addr)
		}
		if info, err := masters[0].Client().Info(ctx, "server").Result(); err != nil || !strings.Contains(info, "redis_mode:cluster") {
			t.Errorf("INFO over TLS with the password: %v", err)
		}
	})

	t.Run("GoldenVectors", func(t *testing.T) {
		replayGolden(t, "", func(t *testing.T, yaml string) client.Limiter {
			b, _ := openSecure(t, url, c.CAFile(), yaml)
			return b
		})
	})

	t.Run("BurstDenyOnEveryMaster", func(t *testing.T) {
		// An hour's gcra: with an explicit clock a key's TTL still runs in real time, and a
		// short one could expire between two checks on a loaded machine.
		const yaml = "limiters:\n  g: { strategy: gcra, limit: 5, period: 1h, burst: 3 }\n  fw: { strategy: fixedWindow, limit: 4, period: 1h }\n"
		b, ns := openSecure(t, url, c.CAFile(), yaml)
		owners := c.Owners(t)
		for _, m := range masters {
			on := func(p string) string {
				return keysOn(ns, p, "burst", 1, func(slot int) bool { return owners[slot] == m })[0]
			}
			// gcra at an explicit instant: 3 admitted, one per 720 s of emission interval.
			k := on("g")
			const now = int64(1_700_000_000_000)
			for i := int64(1); i <= 4; i++ {
				d, err := b.CheckAt(ctx, "g", k, 1, now)
				want := client.Decision{Allowed: i <= 3, Limit: 3, Remaining: max(0, 3-i), ResetAt: now + 720_000*min(i, 3), WindowMs: 3_600_000}
				if i > 3 {
					want.RetryAfterMs = 720_000
				}
				if err != nil || d != want {
					t.Fatalf("master %s key %s check %d: %s, %v; want %s", m.Addr, k, i, show(d), err, show(want))
				}
			}
			// fixedWindow at the server clock; the count is where the slot's master keeps it.
			k = on("fw")
			var reset int64
			for i := int64(1); i <= 5; i++ {
				d, err := b.Check(ctx, "fw", k, 1)
				if err != nil {
					t.Fatalf("master %s key %s check %d: %v", m.Addr, k, i, err)
				}
				if i == 1 {
					reset = d.ResetAt
				}
				want := client.Decision{Allowed: i <= 4, Limit: 4, Remaining: max(0, 4-i), ResetAt: reset, RetryAfterMs: d.RetryAfterMs, WindowMs: 3_600_000}
				if d != want || (i > 4) != (d.RetryAfterMs > 0) || reset <= time.Now().UnixMilli() {
					t.Fatalf("master %s key %s check %d: %s; want %s", m.Addr, k, i, show(d), show(want))
				}
			}
			if got := storedCount(t, m, ns+":fw:"+k); got != 4 {
				t.Errorf("master %s holds count %d for %s, want 4", m.Addr, got, k)
			}
		}
	})

	t.Run("CheckManyAcrossMasters", func(t *testing.T) {
		// Hour-long windows and explicit instants minutes apart: the keys' TTLs run in real
		// time, and must not expire between the batch and the key-by-key replay.
		const yaml = `limiters:
  gcra: { strategy: gcra, limit: 10, period: 1h, burst: 4 }
  tb:   { strategy: tokenBucket, capacity: 5, refillPerSec: 0.0025 }
  fw:   { strategy: fixedWindow, limit: 3, windowMs: 3600000 }
  swl:  { strategy: slidingWindowLog, limit: 3, windowMs: 1h }
`
		many, nsMany := openSecure(t, url, c.CAFile(), yaml)
		one, _ := openSecure(t, url, c.CAFile(), yaml)
		var keys []string
		for i := 0; i < 18; i++ {
			keys = append(keys, "k"+strconv.Itoa(i))
		}
		keys = append(keys, keys[2], keys[2], keys[11])
		owners := c.Owners(t)
		// A few ms past an hour boundary.
		now := time.Now().UnixMilli()
		now = now - now%3_600_000 + 7
		for _, p := range []string{"gcra", "tb", "fw", "swl"} {
			hit := map[string]bool{}
			for _, k := range keys {
				hit[owners[rediscluster.Slot(nsMany+":"+p+":"+k)].Addr] = true
			}
			if len(hit) != 3 {
				t.Fatalf("%s: the keys reach %d masters, want 3", p, len(hit))
			}
			allowed, denied := 0, 0
			for round, step := range []int64{0, 0, 1_200_000, 3_000_000} {
				now += step
				got, err := many.CheckManyAt(ctx, p, keys, 1, now)
				if err != nil || len(got) != len(keys) {
					t.Fatalf("%s round %d: CheckManyAt: %d decisions, %v", p, round, len(got), err)
				}
				for i, k := range keys {
					want, err := one.CheckAt(ctx, p, k, 1, now)
					if err != nil {
						t.Fatalf("%s round %d: CheckAt(%s): %v", p, round, k, err)
					}
					if got[i] != want {
						t.Errorf("%s round %d keys[%d]=%s:\n CheckMany %s\n Check     %s", p, round, i, k, show(got[i]), show(want))
					}
					if got[i].Allowed {
						allowed++
					} else {
						denied++
					}
				}
			}
			if allowed == 0 || denied == 0 {
				t.Errorf("%s: %d allowed, %d denied: the comparison must see both", p, allowed, denied)
			}
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		requireRefused(t, "a wrong password", withPassword(url, "wrong-"+securePassword), c.CAFile(), client.ErrAuth, "WRONGPASS")
	})
	t.Run("NoPassword", func(t *testing.T) {
		requireRefused(t, "no password", withPassword(url, ""), c.CAFile(), client.ErrAuth, "NOAUTH")
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		// The system's roots do not hold the test CA: the handshake fails, a credentials
		// problem, not an outage.
		requireRefused(t, "the system's CAs", url, "", client.ErrAuth, "certificate signed by unknown authority")
	})
	t.Run("PlainURLOnTLSNodes", func(t *testing.T) {
		plain := "redis+cluster://" + strings.SplitN(url, "@", 2)[1]
		b, err := client.OpenRedis(withPassword(plain, securePassword), []byte(bigWindowYAML), client.RedisOptions{},
			client.ConnectOptions{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if d, err := b.Check(ctx, "p", "k", 1); !(errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrTimeout)) || strings.Contains(err.Error(), securePassword) {
			t.Fatalf("plain TCP to TLS nodes: %s, %v; want an unavailable/timeout error without the password", show(d), err)
		} else {
			t.Logf("plain TCP to TLS nodes: %v", err)
		}
	})
}

// sentinelChecks runs a burst to denial and a CheckMany through b, a backend on a Sentinel
// set whose master is master, and checks the count where the master keeps it.
func sentinelChecks(t *testing.T, b *client.RedisBackend, ns string, master *rediscluster.Server) {
	t.Helper()
	var reset int64
	for i := int64(1); i <= 5; i++ {
		d, err := b.Check(ctx, "fw", "burst", 1)
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		if i == 1 {
			reset = d.ResetAt
		}
		want := client.Decision{Allowed: i <= 4, Limit: 4, Remaining: max(0, 4-i), ResetAt: reset, RetryAfterMs: d.RetryAfterMs, WindowMs: 3_600_000}
		if d != want || (i > 4) != (d.RetryAfterMs > 0) || reset <= time.Now().UnixMilli() {
			t.Fatalf("check %d: %s; want %s", i, show(d), show(want))
		}
	}
	if got := storedCount(t, master, ns+":fw:burst"); got != 4 {
		t.Errorf("the master %s holds count %d, want 4", master.Addr, got)
	}
	ds, err := b.CheckMany(ctx, "fw", []string{"a", "burst", "a", "b", "a"}, 2)
	if err != nil || len(ds) != 5 {
		t.Fatalf("CheckMany: %v, %v", ds, err)
	}
	for i, want := range []struct {
		allowed   bool
		remaining int64
	}{{true, 2}, {false, 0}, {true, 0}, {true, 2}, {false, 0}} {
		if ds[i].Allowed != want.allowed || ds[i].Remaining != want.remaining || ds[i].Limit != 4 || ds[i].ResetAt <= 0 ||
			(ds[i].RetryAfterMs > 0) == want.allowed {
			t.Errorf("CheckMany[%d] = %s, want allowed %v remaining %d", i, show(ds[i]), want.allowed, want.remaining)
		}
	}
}

const sentinelYAML = "limiters:\n  fw: { strategy: fixedWindow, limit: 4, period: 1h }\n"

// A Sentinel set whose data servers require a password (requirepass, masterauth; the
// sentinels know it through auth-pass). The URL's password is the data servers' password:
// the grammar has no second one for the sentinels, which ask none here. After a failover the
// client authenticates to the promoted replica with the same password.
func TestSentinelPassword(t *testing.T) {
	s := rediscluster.StartSentinelWith(t, "pw", 1, 3, rediscluster.Options{Password: securePassword})
	url := s.URL()
	if !strings.HasPrefix(url, "redis+sentinel://:") || !strings.HasSuffix(url, "/pw") {
		t.Fatalf("the harness's URL %q", client.RedactURL(url))
	}
	master := s.Data[0]
	if err := redis.NewClient(&redis.Options{Addr: master.Addr, MaxRetries: -1, Protocol: 2, DisableIdentity: true}).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("the master answers PING without the password: %v", err)
	}

	b, ns := openSecure(t, url, "", sentinelYAML)
	sentinelChecks(t, b, ns, master)
	requireRefused(t, "a wrong password", withPassword(url, "wrong-"+securePassword), "", client.ErrAuth, "WRONGPASS")
	requireRefused(t, "no password", withPassword(url, ""), "", client.ErrAuth, "NOAUTH")

	// SENTINEL FAILOVER: the replica, in sync, becomes the master; the same backend follows.
	replica := s.Data[1]
	if err := s.Sentinels[0].Client().Do(ctx, "sentinel", "failover", s.Name).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	promoted := s.WaitNewMaster(t, master, 30*time.Second)
	if promoted != replica {
		t.Fatalf("promoted %s, want %s", promoted.Addr, replica.Addr)
	}
	deadline := time.Now().Add(switchGrace + 3*time.Second)
	for {
		d, err := b.Check(ctx, "fw", "after", 1)
		if err == nil {
			if !d.Allowed || d.Remaining != 3 {
				t.Fatalf("first check after the failover: %s", show(d))
			}
			break
		}
		if errors.Is(err, client.ErrAuth) || time.Now().After(deadline) {
			t.Fatalf("no check through the promoted master: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := storedCount(t, promoted, ns+":fw:after"); got != 1 {
		t.Errorf("the promoted master holds count %d, want 1", got)
	}
	// The burst's count came across with the replication: the key stays spent.
	if d, err := b.Check(ctx, "fw", "burst", 1); err != nil || d.Allowed || d.Remaining != 0 {
		t.Errorf("the spent key after the failover: %s, %v", show(d), err)
	}
}

// TLS everywhere and a password, through rediss+sentinel://. The sentinels are named by
// "localhost", which only their certificate holds; the master, which the sentinels announce
// as 127.0.0.1, presents a certificate for 127.0.0.1 alone. Each connection must check the
// name it dialled, not the URL's first host. Both dialers: go-redis's own, and the custom
// one the C library uses (BlockingDial).
func TestSentinelTLSAndPassword(t *testing.T) {
	s := rediscluster.StartSentinelWith(t, "tls", 1, 3, rediscluster.Options{Password: securePassword, TLS: true})
	if !strings.HasPrefix(s.URL(), "rediss+sentinel://:") {
		t.Fatalf("the harness's URL %q", client.RedactURL(s.URL()))
	}
	var hosts []string
	for _, sn := range s.Sentinels {
		hosts = append(hosts, "localhost:"+strconv.Itoa(sn.Port))
	}
	byName := "rediss+sentinel://:" + url.PathEscape(securePassword) + "@" + strings.Join(hosts, ",") + "/" + s.Name
	for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){"GoRedisDialer": nil, "BlockingDial": redisdoor.BlockingDial} {
		t.Run(name, func(t *testing.T) {
			for _, u := range []string{s.URL(), byName} {
				sub := "ByIP"
				if u == byName {
					sub = "ByLocalhost"
				}
				ns := testenv.Namespace(t)
				b, err := client.OpenRedis(u, []byte(sentinelYAML), client.RedisOptions{Namespace: ns},
					client.ConnectOptions{Timeout: 5 * time.Second, TLSCAFile: s.CAFile(), Dialer: dial})
				if err != nil {
					t.Fatal(err)
				}
				t.Run(sub, func(t *testing.T) {
					sentinelChecks(t, b, ns, s.Data[0])
				})
				_ = b.Close()
			}
		})
	}
	requireRefused(t, "a wrong password", withPassword(byName, "wrong-"+securePassword), s.CAFile(), client.ErrAuth, "WRONGPASS")
	requireRefused(t, "the system's CAs", byName, "", client.ErrAuth, "certificate signed by unknown authority")
}
