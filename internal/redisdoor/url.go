package redisdoor

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// redisTarget is a parsed Redis URL. The grammar (c-abi.md) is:
//
//	redis://[user:password@]host:port[/db]        one node; rediss:// for TLS
//	redis+cluster://[user:password@]h1:p1,h2:p2   Redis Cluster (any subset of the nodes);
//	                                              rediss+cluster:// for TLS; ?addr=h:p adds seeds
//	redis+sentinel://[user:password@]h1:p1,h2:p2/master-name   Sentinel; rediss+sentinel:// for TLS
//
// A port defaults to 6379 (26379 for sentinels). Errors never repeat the password.
type redisTarget struct {
	mode     redisMode
	tls      bool
	addrs    []string
	username string
	password string
	db       int
	master   string // sentinel mode
}

type redisMode int

const (
	modeSingle redisMode = iota
	modeCluster
	modeSentinel
)

func parseRedisURL(raw string) (*redisTarget, error) {
	bad := func(format string, args ...any) error {
		return front.NewError(front.ErrInvalidArgument, "redis URL %q: "+format, append([]any{RedactURL(raw)}, args...)...)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, bad("expected scheme://host:port, e.g. redis://127.0.0.1:6379")
	}
	t := &redisTarget{}
	switch scheme {
	case "redis":
	case "rediss":
		t.tls = true
	case "redis+cluster":
		t.mode = modeCluster
	case "rediss+cluster":
		t.mode, t.tls = modeCluster, true
	case "redis+sentinel":
		t.mode = modeSentinel
	case "rediss+sentinel":
		t.mode, t.tls = modeSentinel, true
	default:
		return nil, bad("unknown scheme %q (redis, rediss, redis+cluster, rediss+cluster, redis+sentinel, rediss+sentinel)", scheme)
	}

	// The user information ends at the last '@': a password may hold '/', '?' or '@' itself.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, password, _ := strings.Cut(rest[:at], ":")
		var err1, err2 error
		t.username, err1 = url.PathUnescape(user)
		t.password, err2 = url.PathUnescape(password)
		if err1 != nil || err2 != nil {
			return nil, bad("malformed user information")
		}
		rest = rest[at+1:]
	}
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")

	defaultPort := "6379"
	if t.mode == modeSentinel {
		defaultPort = "26379"
	}
	for _, h := range strings.Split(authority, ",") {
		addr, err := normalizeAddr(h, defaultPort)
		if err != nil {
			return nil, bad("%s", err.Error())
		}
		t.addrs = append(t.addrs, addr)
	}

	if query != "" {
		values, err := url.ParseQuery(query)
		if err != nil {
			return nil, bad("malformed query")
		}
		for name, vs := range values {
			if name != "addr" || t.mode != modeCluster {
				return nil, bad("unknown parameter %q (only ?addr= for a cluster)", name)
			}
			for _, v := range vs {
				addr, err := normalizeAddr(v, defaultPort)
				if err != nil {
					return nil, bad("addr: %s", err.Error())
				}
				t.addrs = append(t.addrs, addr)
			}
		}
	}

	switch t.mode {
	case modeSingle:
		if len(t.addrs) != 1 {
			return nil, bad("one host expected (use redis+cluster:// or redis+sentinel:// for several)")
		}
		if path != "" {
			db, err := strconv.Atoi(path)
			if err != nil || db < 0 {
				return nil, bad("database must be a number >= 0, got %q", path)
			}
			t.db = db
		}
	case modeCluster:
		if path != "" {
			return nil, bad("a cluster URL has no database path")
		}
	case modeSentinel:
		if path == "" || strings.Contains(path, "/") {
			return nil, bad("expected the master name as the path, e.g. redis+sentinel://h1:26379,h2:26379/mymaster")
		}
		t.master = path
	}
	return t, nil
}

// normalizeAddr checks one host[:port] and adds the default port.
func normalizeAddr(h, defaultPort string) (string, error) {
	if h == "" {
		return "", front.NewError(front.ErrInvalidArgument, "empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port given (a bracketed IPv6 literal keeps its brackets in h).
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	if host == "" || strings.ContainsAny(host, " /@?#[]") {
		return "", front.NewError(front.ErrInvalidArgument, "bad host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", front.NewError(front.ErrInvalidArgument, "bad port %q in %q", port, h)
	}
	return net.JoinHostPort(host, port), nil
}

// RedactURL hides the password of a Redis URL so that it can appear in messages and logs.
// The user information ends at the last '@' (a password may hold '@', '/' or ':'), the rule
// the URL parser follows; user information without a ':' is hidden whole, as it may be a
// password written without its user.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		if strings.Contains(raw, "@") {
			return "[redacted]"
		}
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if hasPassword {
		user += ":xxxxx"
	} else {
		user = "xxxxx"
	}
	return scheme + "://" + user + "@" + rest[at+1:]
}
