package redisdoor

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// FuzzParseRedisURL checks what parseRedisURL promises for any text, since a URL can come
// from a configuration file, an environment variable or another language's binding: it
// never panics, and an accepted URL yields from 1 to (number of hosts and ?addr= values)
// addresses, each a host:port that net.SplitHostPort reads back, whose port is a decimal
// number from 1 to 65535 and whose host is non-empty, with no control characters and no
// bracket left (the brackets of an IPv6 literal are the address's own, and balanced). A
// single-node URL has exactly one address.
func FuzzParseRedisURL(f *testing.F) {
	for _, seed := range []string{
		"redis://127.0.0.1:6379",
		"redis://localhost",
		"redis://u:p%40ss@h:7000/3",
		"redis://u:pa/ss?x@h:1/2",
		"rediss://[::1]:6380",
		"redis://[fe80::1%25eth0]:1",
		"redis://[::1",
		"redis+cluster://a:1,b:2",
		"rediss+cluster://a:1?addr=b:2&addr=c:3",
		"redis+sentinel://s1:26379,s2/mymaster",
		"redis://h:65535",
		"redis://h:65536",
		"redis://h:0",
		"redis://h:1,g:2",
		"redis+cluster://a:1?addr=%5B::1%5D:7",
		"redis:// h:1",
		"redis://[a]b:1",
		// Accepted before the host rules (control characters, signed ports, decoded escapes):
		"redis://0\x00", "redis://h\t:1", "redis://\u0085h:1", "redis+cluster://a:1?addr=b%0a:2",
		"redis://h:+1", "redis://h:1:2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		target, err := parseRedisURL(raw)
		if err != nil {
			if target != nil {
				t.Fatalf("%q: a target along with error %v", raw, err)
			}
			return
		}
		if err := checkTarget(raw, target); err != nil {
			t.Fatalf("%q accepted: %v (target %+v)", raw, err, *target)
		}
	})
}

func checkTarget(raw string, target *redisTarget) error {
	most := strings.Count(raw, ",") + 1 + strings.Count(raw, "&") + 1
	if n := len(target.addrs); n < 1 || n > most || target.mode == modeSingle && n != 1 {
		return fmt.Errorf("%d addresses", n)
	}
	for _, addr := range target.addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("address %q: %v", addr, err)
		}
		if net.JoinHostPort(host, port) != addr {
			return fmt.Errorf("address %q is not host:port as net.JoinHostPort writes it", addr)
		}
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return fmt.Errorf("address %q: port %q is not a decimal number", addr, port)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("address %q: port %q outside 1..65535", addr, port)
		}
		if host == "" || strings.ContainsAny(host, "[]") {
			return fmt.Errorf("address %q: host %q is empty or has a bracket", addr, host)
		}
		for i, r := range host {
			if unicode.IsControl(r) {
				return fmt.Errorf("address %q: host %q has a control character at byte %d", addr, host, i)
			}
		}
	}
	return nil
}
