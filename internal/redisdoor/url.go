package redisdoor

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// redisTarget is a parsed Redis URL. The grammar (c-abi.md) is:
//
//	redis://[user:password@]host:port[/db]        one node; rediss:// for TLS
//	redis+cluster://[user:password@]h1:p1,h2:p2   Redis Cluster (any subset of the nodes);
//	                                              rediss+cluster:// for TLS; ?addr=h:p adds seeds
//	redis+sentinel://[user:password@]h1:p1,h2:p2/master-name   Sentinel; rediss+sentinel:// for TLS
//
// A port defaults to 6379 (26379 for sentinels). A host is a DNS name (at most 253 bytes),
// an IPv4 address or an IPv6 address in brackets; a cluster or sentinel URL lists at most 64
// seeds. Everything is checked here, at open, so that a malformed URL is an invalid argument
// rather than a failed lookup on every call. Errors never repeat the password.
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
		return front.NewError(front.ErrInvalidArgument, "redis URL %s: "+format, append([]any{quote(RedactURL(raw))}, args...)...)
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
	seeds := strings.Split(authority, ",")
	if len(seeds) > maxSeeds {
		return nil, bad("%d seed nodes, more than %d: list a few of the nodes (any %d find the others)", len(seeds), maxSeeds, maxSeeds)
	}
	for _, h := range seeds {
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
		if len(t.addrs) > maxSeeds {
			return nil, bad("%d seed nodes (the host list and ?addr= together), more than %d: list a few of the nodes (any %d find the others)", len(t.addrs), maxSeeds, maxSeeds)
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

// The limits of a URL's hosts. A host is a DNS name (RFC 1035's 253 characters, labels of
// at most 63 of letters, digits, '-' and '_'), an IPv4 address, or an IPv6 address in
// brackets; a seed list (cluster nodes or sentinels, ?addr= included) has at most maxSeeds
// entries: a client tries the seeds one after another, so a long list only stretches the
// first call of a handle, and a few nodes of a cluster are enough to find the others.
const (
	maxHostLen  = 253
	maxLabelLen = 63
	maxSeeds    = 64
)

// normalizeAddr checks one host[:port] and adds the default port. Its errors name the
// problem; they quote the host (cut when long, control characters escaped), which never
// holds the URL's password.
func normalizeAddr(h, defaultPort string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", front.NewError(front.ErrInvalidArgument, format, args...)
	}
	if h == "" {
		return bad("empty host (expected host:port)")
	}
	var host, port string
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return bad("unclosed '[' in %s: no ']' (an IPv6 address is written [addr]:port, e.g. [::1]:6379)", quote(h))
		}
		host, port = h[1:end], defaultPort
		switch after := h[end+1:]; {
		case after == "":
		case after[0] == ':':
			port = after[1:]
		default:
			return bad("unexpected %s after ']' in %s (expected [addr]:port)", quote(after), quote(h))
		}
		if err := checkIPv6(host); err != nil {
			return "", err
		}
	} else {
		if i := strings.IndexAny(h, "[]"); i >= 0 {
			return bad("'%c' in %s: brackets go only around a whole IPv6 address, e.g. [::1]:6379", h[i], quote(h))
		}
		if strings.Count(h, ":") > 1 {
			return bad("too many ':' in %s (one separates the port; an IPv6 address goes in brackets, e.g. [::1]:6379)", quote(h))
		}
		var hasPort bool
		host, port, hasPort = strings.Cut(h, ":")
		if !hasPort {
			port = defaultPort
		}
		if err := checkHostName(host); err != nil {
			return "", err
		}
	}
	if port == "" {
		return bad("empty port in %s (expected a port 1..65535 after ':')", quote(h))
	}
	n := 0
	for _, c := range []byte(port) {
		if c < '0' || c > '9' || n > 65535 {
			n = -1
			break
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return bad("bad port %s in %s (expected a number 1..65535)", quote(port), quote(h))
	}
	return net.JoinHostPort(host, port), nil
}

// checkHostName accepts a DNS name or an IPv4 address.
func checkHostName(host string) error {
	bad := func(format string, args ...any) error {
		return front.NewError(front.ErrInvalidArgument, format, args...)
	}
	if host == "" {
		return bad("empty host (expected host:port)")
	}
	if len(host) > maxHostLen {
		return bad("host is %d bytes long, more than %d (a DNS name's limit): %s", len(host), maxHostLen, quote(host))
	}
	for _, r := range host {
		switch {
		case r < 0x20 || r == 0x7f:
			return bad("control character %q in host %s", r, quote(host))
		case !hostChar(r):
			return bad("character %q is not allowed in host %s (a host is a DNS name of letters, digits, '-', '_' and '.', an IPv4 address, or an IPv6 address in brackets)", r, quote(host))
		}
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	for _, l := range labels {
		if l == "" {
			return bad("empty label in host %s (a leading dot or two dots in a row)", quote(host))
		}
		if len(l) > maxLabelLen {
			return bad("a label of host %s is %d bytes long, more than %d", quote(host), len(l), maxLabelLen)
		}
	}
	return nil
}

// checkIPv6 accepts what may stand between brackets: an IPv6 address, with a zone (an
// interface name) or not.
func checkIPv6(host string) error {
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is6() {
		return front.NewError(front.ErrInvalidArgument,
			"%s is not an IPv6 address: brackets are only for IPv6 addresses, e.g. [::1]:6379", quote("["+host+"]"))
	}
	for _, r := range addr.Zone() {
		if !hostChar(r) {
			return front.NewError(front.ErrInvalidArgument, "character %q is not allowed in the zone of %s", r, quote("["+host+"]"))
		}
	}
	return nil
}

// hostChar reports whether r may appear in a DNS name (or an IPv4 address).
func hostChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// quote quotes s for a message: Go syntax (control characters and invalid UTF-8 escaped),
// cut to its first 64 bytes (on a character boundary) when longer, so that the message keeps
// room for what it says about it.
func quote(s string) string {
	const most = 64
	if len(s) <= most {
		return strconv.Quote(s)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
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
