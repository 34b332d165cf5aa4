package redisdoor

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/tlsconf"
)

// ConnectOptions shape the Redis client NewClient builds.
type ConnectOptions struct {
	// Timeout bounds dialing, each read and write, and waiting for a pooled connection;
	// 0 means front.DefaultTimeout.
	Timeout time.Duration
	// TLSCAFile is a PEM bundle of the CAs to trust for rediss:// (default: the system's).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a client certificate for mutual TLS.
	TLSCertFile, TLSKeyFile string
	// PoolSize is the connection pool's size per node; 0 keeps go-redis's default.
	PoolSize int
	// Dialer replaces the TCP dialer (e.g. BlockingDial); nil keeps Go's.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (o ConnectOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return front.DefaultTimeout
}

// NewClient builds a go-redis client for a URL of the grammar redisTarget documents,
// configured so that a call never outlives its deadline: ContextTimeoutEnabled, dial, read,
// write and pool timeouts at the call timeout, and one quick retry at most. Nothing is
// dialled until the first call.
func NewClient(rawURL string, o ConnectOptions) (redis.UniversalClient, error) {
	t, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if t.tls {
		// No fixed ServerName: each connection checks the certificate against the host it
		// dials (go-redis's dialer and customDialer take it from the address). A cluster's
		// nodes and a sentinel's master are reached at the addresses the servers announce,
		// not at the URL's first host.
		if tlsConfig, err = tlsconf.Build("", tlsconf.Files{CA: o.TLSCAFile, Cert: o.TLSCertFile, Key: o.TLSKeyFile}); err != nil {
			return nil, err
		}
	} else if o.TLSCAFile != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" {
		return nil, front.NewError(front.ErrInvalidArgument, "TLS files were given but the redis URL is not rediss://")
	}

	timeout := o.timeout()
	dialer := customDialer(o.Dialer, tlsConfig, timeout)
	// A retry helps after a dropped connection (a restart, an idle reset) and must still fit
	// inside the call's deadline, which ContextTimeoutEnabled enforces.
	const maxRetries = 1
	minBackoff, maxBackoff := time.Millisecond, timeout/8
	// One dial per attempt: go-redis would otherwise dial five times 100 ms apart, so that a
	// refused connection ran into the deadline and read as a timeout instead of "unavailable".
	const dialAttempts, dialBackoff = 1, 10 * time.Millisecond
	// RESP2: the scripts reply with plain arrays, and RESP3's push-notification handling
	// costs a socket peek per command (a fifth of the client's CPU in the benchmarks).
	const protocol = 2

	switch t.mode {
	case modeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: t.addrs, Username: t.username, Password: t.password, TLSConfig: tlsConfig,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
			ContextTimeoutEnabled: true, MaxRetries: maxRetries,
			MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
			PoolSize: o.PoolSize, DisableIdentity: true, Protocol: protocol,
			DialerRetries: dialAttempts, DialerRetryTimeout: dialBackoff, Dialer: dialer,
		}), nil
	case modeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: t.master, SentinelAddrs: t.addrs,
			Username: t.username, Password: t.password, TLSConfig: tlsConfig,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
			ContextTimeoutEnabled: true, MaxRetries: maxRetries,
			MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
			PoolSize: o.PoolSize, DisableIdentity: true, Protocol: protocol,
			DialerRetries: dialAttempts, DialerRetryTimeout: dialBackoff, Dialer: dialer,
		}), nil
	}
	return redis.NewClient(&redis.Options{
		Addr: t.addrs[0], Username: t.username, Password: t.password, DB: t.db, TLSConfig: tlsConfig,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		ContextTimeoutEnabled: true, MaxRetries: maxRetries,
		MinRetryBackoff: minBackoff, MaxRetryBackoff: maxBackoff,
		PoolSize: o.PoolSize, DisableIdentity: true, Protocol: protocol,
		DialerRetries: dialAttempts, DialerRetryTimeout: dialBackoff, Dialer: dialer,
	}), nil
}

// customDialer adapts a replacement dialer: bounded by the timeout even for a dial that has
// no deadline of its own, and wrapped in TLS, which go-redis leaves to a custom dialer. nil
// keeps go-redis's own dialer.
func customDialer(dial func(context.Context, string, string) (net.Conn, error), tlsConfig *tls.Config, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	if dial == nil {
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c, err := dial(ctx, network, addr)
		if err != nil || tlsConfig == nil {
			return c, err
		}
		cfg := tlsConfig
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return tc, nil
	}
}
