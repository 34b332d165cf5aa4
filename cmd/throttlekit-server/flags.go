package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/server"
)

const progName = "throttlekit-server"

// config is the command line, checked and with its defaults resolved.
type config struct {
	configPath  string
	host        string
	port        int
	store       string // storeMemory or storeRedis, resolved
	memoryBytes int64  // --memory-max-bytes: the embedded engine's byte cap; 0 the default
	localKeys   int    // --local-max-keys: two-tier L1 keys per policy; 0 the default
	redisURL    string
	redisPrefix string
	redisTLS    redisTLSFiles
	timeout     time.Duration
	leaseTTL    time.Duration // --lease-ttl: how long an admission lease lives unless renewed
	logFormat   string
	logLevel    string
	failMode    string // open, closed or error
	authFile    string // --auth-token-file, or $THROTTLEKIT_AUTH_TOKEN_FILE
	// monitorSecret (--monitor-secret, or $THROTTLEKIT_MONITOR_SECRET) opens the Monitor
	// service to callers presenting it; without it and without a token, loopback only.
	monitorSecret string
	// fleetSecret (--fleet-secret, or $THROTTLEKIT_FLEET_SECRET) opens Fleet.Reserve to
	// callers presenting it; without it, loopback callers only (two-tier.md §6.3).
	fleetSecret string
	region      string // --region, or $TK_REGION, else "default": a federated policy's default region
	check       bool   // --check: validate the policy file, print what is wrong, exit
	tlsCert     string
	tlsKey      string
	tlsCA       string
	metricsHost string
	metricsPort int    // metricsOff: no metrics server
	readyFile   string // --ready-file: written once listening, removed on a stop signal; "" none

	// The bounds of a public port (wire-contract.md, "Limits a public server keeps").
	maxConnections   int           // open gRPC connections; more are closed at accept
	maxStreams       int           // concurrent streams (calls) per connection
	connIdle         time.Duration // a connection without calls this long is closed
	connAge          time.Duration // any connection is closed after this long...
	connAgeGrace     time.Duration // ...its calls in flight given this long to finish
	keepaliveMinTime time.Duration // clients pinging more often are disconnected
	handshakeTimeout time.Duration // TLS and HTTP/2 handshake of a new connection
	maxKeysPerCall   int           // keys in one CheckMany
	shadow           bool          // admit every denial, flagged
}

// The defaults of the public-port bounds: safe for a port anyone may reach, generous for a
// fleet of application servers each holding a few long-lived connections.
const (
	defaultMaxConnections   = 1000
	defaultMaxStreams       = 100
	defaultConnIdle         = 5 * time.Minute
	defaultConnAge          = 30 * time.Minute
	defaultConnAgeGrace     = 10 * time.Second
	defaultKeepaliveMinTime = 10 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
)

// redisTLSFiles are the --redis-tls-* files, for a rediss:// store.
type redisTLSFiles struct{ ca, cert, key string }

// metricsOff is --metrics-port's default: no metrics listener unless asked for.
const metricsOff = -1

// authTokenEnv names the file holding the shared token when --auth-token-file is not given.
const authTokenEnv = "THROTTLEKIT_AUTH_TOKEN_FILE"

// monitorSecretEnv holds the monitor secret when --monitor-secret is not given: a value in
// the environment is not shown to every user by ps, as a command-line argument is.
const monitorSecretEnv = "THROTTLEKIT_MONITOR_SECRET"

// fleetSecretEnv and regionEnv stand in for --fleet-secret and --region (upstream's names).
const (
	fleetSecretEnv = "THROTTLEKIT_FLEET_SECRET"
	regionEnv      = "TK_REGION"
	defaultRegion  = "default"
)

// tlsOn tells whether the gRPC port serves TLS.
func (c *config) tlsOn() bool { return c.tlsCert != "" }

// failModeValue is the client fail mode named by --fail (checked by parseFlags).
func (c *config) failModeValue() client.FailMode {
	switch c.failMode {
	case "closed":
		return client.FailClosed
	case "error":
		return client.FailError
	}
	return client.FailOpen
}

const (
	storeMemory = "memory"
	storeRedis  = "redis"
)

// usage is written by hand so that it reads as documentation; a test checks that it names
// every flag the FlagSet defines.
const usage = `Usage: throttlekit-server -c FILE [flags]
       throttlekit-server --check -c FILE

Serves the ThrottleKit rate-limiting contract throttlekit.v1 over gRPC (RateLimiter, and the
read-only Monitor: a snapshot of the last 60s and a live denial stream), with the standard
grpc.health.v1 health service on the same port. Decisions come from the policy file's
limiters, evaluated by the embedded engine (one process) or by a Redis a fleet shares.

Flags:
  -c, --config FILE         the policy file (ThrottleKit YAML: limiters, defaults); required
      --check               validate the policy file and exit, without serving: status 0 when
                            it loads (its warnings on stderr), 1 with every problem on stderr
      --host HOST           address to listen on (default 0.0.0.0, every interface; a warning
                            is logged for any non-loopback address, as traffic is not encrypted)
  -p, --port PORT           TCP port to listen on; 0 picks a free one (default 50051)
      --store memory|redis  where limiter state lives: memory is the embedded engine, in this
                            process only; redis is shared by every server on the same Redis
                            (default memory, or redis when --redis is given)
      --memory-max-bytes N  memory store only: the most bytes its keys may hold (an estimate of
                            their heap); past it the keys closest to expiry are evicted
                            (default 536870912, 512 MiB)
      --local-max-keys N    two-tier policies (leased, cached-deny) and federated ones: the
                            keys this process holds local credits or denials for, per policy;
                            past it the oldest goes, forfeiting its credits (default 100000)
      --redis URL           the Redis to use: redis://[user:password@]host:port[/db],
                            rediss:// for TLS, redis+cluster://h1:p1,h2:p2,
                            redis+sentinel://h1:p1,h2:p2/master-name
      --redis-prefix NS     key namespace: policy api, key K is stored at NS:api:K
      --redis-tls-ca FILE   rediss:// only: trust the Redis servers' certificates signed by a
                            CA of this PEM bundle (default: the system's CAs)
      --redis-tls-cert FILE rediss:// only: a client certificate for Redis servers that ask
                            for one (tls-auth-clients); needs --redis-tls-key
      --redis-tls-key FILE  its PEM private key
      --timeout DURATION    bound on each store call, e.g. 500ms or 2s (default 500ms)
      --lease-ttl DURATION  how long an Admit's lease lives unless a Heartbeat renews it; the
                            sweep reclaims it at most 1s later (default 2s, at least 1s)
      --fail open|closed|error
                            what Check and CheckMany answer while the store is unavailable or
                            times out: open admits, closed denies (both flag the decision with
                            the response header throttlekit-synthesized: 1), error answers
                            UNAVAILABLE; logic faults are INTERNAL whatever the mode; Peek,
                            Forecast and Debit always answer UNAVAILABLE (default open)
      --auth-token-file FILE
                            require every RateLimiter and Monitor call to carry the metadata
                            "authorization: Bearer TOKEN", TOKEN being the file's content with
                            surrounding whitespace trimmed; otherwise UNAUTHENTICATED. Health
                            needs no token. Default: $THROTTLEKIT_AUTH_TOKEN_FILE, else none
      --monitor-secret SECRET
                            let callers beyond loopback use the Monitor service (GetSnapshot,
                            Watch: traffic keys, which are personal data) when they send the
                            metadata "x-monitor-secret: SECRET" (or "authorization: Bearer
                            SECRET"); with it, every Monitor call needs it. Without it, only
                            loopback callers may. With --auth-token-file, Monitor calls need
                            the token instead, like every call. Refusals are UNAUTHENTICATED.
                            Default: $THROTTLEKIT_MONITOR_SECRET, else none
      --fleet-secret SECRET
                            Fleet.Reserve (budget of federated policies for library clients)
                            answers callers sending the metadata "x-fleet-secret: SECRET" (or
                            "authorization: Bearer SECRET"), from any address; without it,
                            loopback callers only. Refusals are UNAUTHENTICATED. Default:
                            $THROTTLEKIT_FLEET_SECRET, else none
      --region NAME         the region of federated policies that name none (telemetry only).
                            Default: $TK_REGION, else "default"
      --tls-cert FILE       serve TLS with this PEM certificate (chain); needs --tls-key
      --tls-key FILE        the certificate's PEM private key
      --tls-ca FILE         mutual TLS: require client certificates signed by a CA of this
                            PEM bundle (needs --tls-cert)
      --max-connections N   open gRPC connections at most; a connection beyond is closed as
                            soon as it is accepted (default 1000)
      --max-concurrent-streams N
                            calls in progress at once on one connection; a client that opens
                            more has the extra streams refused (default 100)
      --max-connection-idle DURATION
                            close a connection that has had no call in progress this long
                            (default 5m)
      --max-connection-age DURATION
                            close any connection this long after it opened (the client
                            reconnects), so that no connection holds resources for ever
                            (default 30m)
      --max-connection-age-grace DURATION
                            the calls in flight on such a connection get this long to finish
                            before it is cut (default 10s)
      --keepalive-min-time DURATION
                            a client sending HTTP/2 pings more often than this is disconnected
                            (default 10s); the server pings an idle-looking peer after 1m and
                            closes the connection when it does not answer within 20s
      --handshake-timeout DURATION
                            a new connection must complete its TLS and HTTP/2 handshake (the
                            client preface and SETTINGS) within this, or it is closed
                            (default 10s)
      --max-keys-per-call N keys in one CheckMany at most: a longer list answers
                            INVALID_ARGUMENT naming the cap, and nothing is charged
                            (default 1000)
      --shadow              shadow mode for every policy: checks the limiters deny are
                            admitted, flagged (the throttlekit-shadow response header) and
                            counted as result="shadow"; as shadow: true in a policy
      --metrics-host HOST   address of the metrics listener (default 127.0.0.1; a warning is
                            logged for any non-loopback address, as the listener is plain HTTP
                            without authentication)
      --metrics-port PORT   serve Prometheus /metrics and /healthz over HTTP on this port; 0
                            picks a free one (logged); default: no metrics listener
      --ready-file PATH     once every listener is open, write PATH (atomically: a temporary
                            file in its directory, then a rename) with the gRPC address as
                            host:port on the first line (IPv6 in brackets), and
                            metrics=host:port on a second when --metrics-port is given; the
                            file is removed on the first stop signal. For scripts and
                            supervisors that start the server with --port 0. A path that
                            cannot be written fails the startup. Default: none
      --log-format FORMAT   text or json, the format of the log on stderr (default text)
      --log-level LEVEL     debug, info, warn or error (default info)
  -h, --help                print this help and exit

Health: grpc.health.v1 answers SERVING while the store answers a ping (every 250ms) and
NOT_SERVING while it does not; /healthz on the metrics port answers 200 or 503 alike.

Metrics: throttlekit_decisions_total{policy,result} (result allowed, denied or synthesized;
Check, CheckMany per key, Debit), throttlekit_decision_seconds{policy} (a histogram of those
calls), throttlekit_store_errors_total{kind} (unavailable, timeout, auth, internal),
throttlekit_policies, throttlekit_connections and throttlekit_connections_refused_total;
policy is a configured name, or "unknown". The Monitor's window (60s), read at each scrape:
throttlekit_monitor_window_allowed{policy}, throttlekit_monitor_window_denied{policy},
throttlekit_monitor_limit{policy}, throttlekit_monitor_latency_ms{policy,stat} (stat avg,
p50, p99, max), throttlekit_monitor_latency_samples{policy}, and for Watch streams
throttlekit_monitor_watch_streams and throttlekit_monitor_watch_dropped_total{reason}
(buffer_full, over_rate).

Signals: SIGHUP reloads the policy file (a file with errors is logged and the policies in
force stay; calls in flight finish with the policies they started with). SIGINT or SIGTERM
stops accepting calls, lets calls in flight finish (at most 10s), closes the store and exits
0; a second signal stops at once.

Examples:
  throttlekit-server -c throttlekit.yaml --host 127.0.0.1
  throttlekit-server -c throttlekit.yaml --redis redis://127.0.0.1:6379/0 --redis-prefix prod
`

func usageError(format string, args ...any) error { return fmt.Errorf(format, args...) }

// newFlagSet defines every flag on cfg, each short name sharing its long name's variable.
// (The flag package accepts -name and --name alike.)
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet(progName, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by run, in one format
	fs.StringVar(&cfg.configPath, "c", "", "the policy file")
	fs.StringVar(&cfg.configPath, "config", "", "the policy file")
	fs.StringVar(&cfg.host, "host", "0.0.0.0", "address to listen on")
	fs.IntVar(&cfg.port, "p", 50051, "TCP port")
	fs.IntVar(&cfg.port, "port", 50051, "TCP port")
	fs.StringVar(&cfg.store, "store", "", "memory or redis")
	fs.Int64Var(&cfg.memoryBytes, "memory-max-bytes", 0, "the memory store's byte cap")
	fs.IntVar(&cfg.localKeys, "local-max-keys", 0, "two-tier L1 keys per policy")
	fs.StringVar(&cfg.redisURL, "redis", "", "the Redis URL")
	fs.StringVar(&cfg.redisPrefix, "redis-prefix", "", "key namespace")
	fs.StringVar(&cfg.redisTLS.ca, "redis-tls-ca", "", "CA bundle for the Redis servers")
	fs.StringVar(&cfg.redisTLS.cert, "redis-tls-cert", "", "client certificate for Redis")
	fs.StringVar(&cfg.redisTLS.key, "redis-tls-key", "", "its private key")
	fs.DurationVar(&cfg.timeout, "timeout", 500*time.Millisecond, "bound on each store call")
	fs.DurationVar(&cfg.leaseTTL, "lease-ttl", 2*time.Second, "admission lease lifetime")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.failMode, "fail", "open", "open, closed or error")
	fs.StringVar(&cfg.authFile, "auth-token-file", "", "file holding the shared token")
	fs.StringVar(&cfg.monitorSecret, "monitor-secret", "", "secret opening the Monitor service beyond loopback")
	fs.StringVar(&cfg.fleetSecret, "fleet-secret", "", "secret Fleet.Reserve callers present")
	fs.StringVar(&cfg.region, "region", "", "default region of federated policies")
	fs.BoolVar(&cfg.check, "check", false, "validate the policy file and exit")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "CA bundle for client certificates")
	fs.StringVar(&cfg.metricsHost, "metrics-host", "127.0.0.1", "metrics listener address")
	fs.IntVar(&cfg.metricsPort, "metrics-port", metricsOff, "metrics listener port")
	fs.StringVar(&cfg.readyFile, "ready-file", "", "file written with the addresses once listening")
	fs.IntVar(&cfg.maxConnections, "max-connections", defaultMaxConnections, "open connections at most")
	fs.IntVar(&cfg.maxStreams, "max-concurrent-streams", defaultMaxStreams, "concurrent calls per connection")
	fs.DurationVar(&cfg.connIdle, "max-connection-idle", defaultConnIdle, "idle connection timeout")
	fs.DurationVar(&cfg.connAge, "max-connection-age", defaultConnAge, "maximum connection age")
	fs.DurationVar(&cfg.connAgeGrace, "max-connection-age-grace", defaultConnAgeGrace, "grace after the maximum age")
	fs.DurationVar(&cfg.keepaliveMinTime, "keepalive-min-time", defaultKeepaliveMinTime, "least interval between client pings")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", defaultHandshakeTimeout, "bound on a new connection's handshake")
	fs.IntVar(&cfg.maxKeysPerCall, "max-keys-per-call", server.DefaultMaxKeysPerCall, "keys in one CheckMany at most")
	fs.BoolVar(&cfg.shadow, "shadow", false, "admit every check the limiters deny, flagged")
	return fs
}

// parseFlags reads the command line. flag.ErrHelp asks for the usage text; any other error
// is a command line that cannot run, with a message saying why.
func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usageError("unexpected argument %q (flags only; the policy file goes after -c)", fs.Arg(0))
	}
	if cfg.configPath == "" {
		return nil, usageError("the policy file is required: -c FILE (or --config FILE)")
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return nil, usageError("--port must be 0 to 65535, got %d", cfg.port)
	}
	if cfg.host == "" {
		return nil, usageError("--host must not be empty (0.0.0.0 listens on every interface)")
	}
	if cfg.memoryBytes < 0 {
		return nil, usageError("--memory-max-bytes must not be negative, got %d", cfg.memoryBytes)
	}
	if cfg.localKeys < 0 {
		return nil, usageError("--local-max-keys must not be negative, got %d", cfg.localKeys)
	}
	if cfg.timeout <= 0 {
		return nil, usageError("--timeout must be positive, got %s", cfg.timeout)
	}
	if cfg.leaseTTL < time.Second || cfg.leaseTTL%time.Millisecond != 0 {
		// Below the clients' 1 s heartbeat cadence every held lease would be reclaimed.
		return nil, usageError("--lease-ttl must be a whole number of milliseconds of at least 1s, got %s", cfg.leaseTTL)
	}
	switch cfg.logFormat {
	case "text", "json":
	default:
		return nil, usageError("--log-format must be text or json, got %q", cfg.logFormat)
	}
	if _, err := parseLevel(cfg.logLevel); err != nil {
		return nil, usageError("%v", err)
	}
	switch cfg.failMode {
	case "open", "closed", "error":
	default:
		return nil, usageError("--fail must be open, closed or error, got %q", cfg.failMode)
	}
	if cfg.authFile == "" {
		cfg.authFile = os.Getenv(authTokenEnv)
	}
	if cfg.monitorSecret == "" {
		cfg.monitorSecret = os.Getenv(monitorSecretEnv)
	}
	if cfg.fleetSecret == "" {
		cfg.fleetSecret = os.Getenv(fleetSecretEnv)
	}
	if cfg.region == "" {
		cfg.region = cmp.Or(os.Getenv(regionEnv), defaultRegion)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, usageError("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCA != "" && cfg.tlsCert == "" {
		return nil, usageError("--tls-ca (mutual TLS) needs --tls-cert and --tls-key")
	}
	if cfg.metricsPort != metricsOff && (cfg.metricsPort < 0 || cfg.metricsPort > 65535) {
		return nil, usageError("--metrics-port must be 0 to 65535, got %d", cfg.metricsPort)
	}
	if cfg.metricsHost == "" {
		return nil, usageError("--metrics-host must not be empty")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"--max-connections", cfg.maxConnections}, {"--max-concurrent-streams", cfg.maxStreams}, {"--max-keys-per-call", cfg.maxKeysPerCall}} {
		if n.v < 1 || n.v > math.MaxInt32 {
			return nil, usageError("%s must be 1 to %d, got %d", n.name, math.MaxInt32, n.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--max-connection-idle", cfg.connIdle}, {"--max-connection-age", cfg.connAge}, {"--max-connection-age-grace", cfg.connAgeGrace},
		{"--keepalive-min-time", cfg.keepaliveMinTime}, {"--handshake-timeout", cfg.handshakeTimeout}} {
		if d.v <= 0 {
			return nil, usageError("%s must be positive, got %s", d.name, d.v)
		}
	}
	return cfg, resolveStore(cfg)
}

// resolveStore applies the store rules: memory by default, redis when a URL is given
// without --store, and no URL ignored silently.
func resolveStore(cfg *config) error {
	switch cfg.store {
	case "":
		cfg.store = storeMemory
		if cfg.redisURL != "" {
			cfg.store = storeRedis
		}
	case storeMemory:
		if cfg.redisURL != "" {
			return usageError("--redis is given but --store is memory: drop one of them")
		}
	case storeRedis:
		if cfg.redisURL == "" {
			return usageError("--store redis needs --redis URL, e.g. --redis redis://127.0.0.1:6379/0")
		}
	default:
		return usageError("--store must be memory or redis, got %q", cfg.store)
	}
	if cfg.memoryBytes != 0 && cfg.store != storeMemory {
		return usageError("--memory-max-bytes bounds the memory store, but the store is redis")
	}
	if t := cfg.redisTLS; (t.ca != "" || t.cert != "" || t.key != "") && cfg.store != storeRedis {
		return usageError("--redis-tls-* configure a rediss:// store, but the store is memory")
	}
	if t := cfg.redisTLS; (t.cert == "") != (t.key == "") {
		return usageError("--redis-tls-cert and --redis-tls-key go together")
	}
	return nil
}
