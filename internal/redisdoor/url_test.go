package redisdoor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

func TestParseRedisURL(t *testing.T) {
	cases := []struct {
		url  string
		want redisTarget
	}{
		{"redis://127.0.0.1:6379", redisTarget{addrs: []string{"127.0.0.1:6379"}}},
		{"redis://localhost", redisTarget{addrs: []string{"localhost:6379"}}},
		{"redis://u:p%40ss@h:7000/3", redisTarget{addrs: []string{"h:7000"}, username: "u", password: "p@ss", db: 3}},
		{"redis://:secret@h:1", redisTarget{addrs: []string{"h:1"}, password: "secret"}},
		{"redis://u:pa/ss?x@h:1/2", redisTarget{addrs: []string{"h:1"}, username: "u", password: "pa/ss?x", db: 2}},
		{"rediss://[::1]:6380", redisTarget{tls: true, addrs: []string{"[::1]:6380"}}},
		{"redis+cluster://a:1,b:2", redisTarget{mode: modeCluster, addrs: []string{"a:1", "b:2"}}},
		{"rediss+cluster://a:1?addr=b:2&addr=c:3", redisTarget{mode: modeCluster, tls: true, addrs: []string{"a:1", "b:2", "c:3"}}},
		{"redis+sentinel://s1:26379,s2/mymaster", redisTarget{mode: modeSentinel, addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster"}},
	}
	for _, c := range cases {
		got, err := parseRedisURL(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if got.mode != c.want.mode || got.tls != c.want.tls || !slices.Equal(got.addrs, c.want.addrs) ||
			got.username != c.want.username || got.password != c.want.password || got.db != c.want.db || got.master != c.want.master {
			t.Errorf("%s: got %+v, want %+v", c.url, *got, c.want)
		}
	}
}

func TestBadRedisURLs(t *testing.T) {
	for _, u := range []string{
		"", "garbage", "127.0.0.1:6379", "http://h:1", "redis://", "redis://h:notaport", "redis://h:0",
		"redis://h:70000", "redis://h:1/x", "redis://h:1,g:2", "redis://h:1?addr=g:2",
		"redis+sentinel://s:1", "redis+cluster://a:1/0", "redis://u:hunter2@h:bad",
		"redis://u:hunter2@", "redis:// h:1",
	} {
		_, err := parseRedisURL(u)
		if !errors.Is(err, front.ErrInvalidArgument) {
			t.Errorf("%q: got %v, want front.ErrInvalidArgument", u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the message shows the password: %v", u, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://h:1":                             "redis://h:1",
		"redis://u:secret@h:1/0":                  "redis://u:xxxxx@h:1/0",
		"redis://:s/e@c?r@et@h:1":                 "redis://:xxxxx@h:1",
		"rediss+cluster://u:pw@a,b":               "rediss+cluster://u:xxxxx@a,b",
		"no-scheme:secret@somewhere":              "[redacted]",
		"redis://secret@h:1":                      "redis://xxxxx@h:1",
		"redis://u:p@ss/w@rd@h:1":                 "redis://u:xxxxx@h:1",
		"rediss://:p@h":                           "rediss://:xxxxx@h",
		"redis+sentinel://u:p@h1:1,h2:2/master":   "redis+sentinel://u:xxxxx@h1:1,h2:2/master",
		"redis+cluster://u:p@h1:1,h2:2?addr=h3:3": "redis+cluster://u:xxxxx@h1:1,h2:2?addr=h3:3",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostValidation(t *testing.T) {
	long := strings.Repeat(strings.Repeat("a", 63)+".", 5)[:300]
	for _, c := range []struct {
		url, problem string // problem: what the message must say
	}{
		{"redis://[::1", "unclosed '['"},
		{"redis://[::1:6379", "unclosed '['"},
		{"redis://u:hunter2@[::1", "unclosed '['"},
		{"redis://::1]:6379", "']'"},
		{"redis://h]:6379", "']'"},
		{"redis://[::1]x:6379", "after ']'"},
		{"redis://[127.0.0.1]:6379", "not an IPv6 address"},
		{"redis://[host]:6379", "not an IPv6 address"},
		{"redis://[fe80::1%a b]:6379", "zone"},
		{"redis://ho\x01st:6379", "control character '\\x01'"},
		{"redis://host\x7f:6379", "control character"},
		{"redis://u:hunter2@ho\nst:1", "control character '\\n'"},
		{"redis://ho st:6379", "character ' '"},
		{"redis://h\u00e9llo:6379", "character '\u00e9'"},
		{"redis://h\xff:6379", "character"},
		{"redis://host*:6379", "character '*'"},
		{"redis://:6379", "empty host"},
		{"redis://u:hunter2@:6379", "empty host"},
		{"redis://host:0", "bad port \"0\""},
		{"redis://host:70000", "bad port \"70000\""},
		{"redis://host:99999999999999999999", "bad port"},
		{"redis://host:+80", "bad port"},
		{"redis://host:-1", "bad port"},
		{"redis://host:", "empty port"},
		{"redis://host:6379:1", "too many ':'"},
		{"redis://::1", "too many ':'"},
		{"redis://" + long + ":6379", "300 bytes long, more than 253"},
		{"redis://" + strings.Repeat("a", 64) + ".example:1", "more than 63"},
		{"redis://.:1", "empty label"},
		{"redis://a..b:1", "empty label"},
		{"redis+cluster://a:1,,b:2", "empty host"},
		{"redis+cluster://a:1,[::1", "unclosed '['"},
		{"redis+cluster://a:1?addr=ho%01st:1", "control character"},
		{"redis+sentinel://s\x02:26379/m", "control character"},
	} {
		_, err := parseRedisURL(c.url)
		if !errors.Is(err, front.ErrInvalidArgument) {
			t.Errorf("%q: got %v, want front.ErrInvalidArgument", c.url, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.problem) {
			t.Errorf("%q: message %q does not say %q", c.url, msg, c.problem)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%q: the message shows the password: %q", c.url, msg)
		}
		if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("%q: the message holds a raw control character: %q", c.url, msg)
		}
		// tk_error_t.message holds 255 bytes: the problem must come within them.
		if i := strings.Index(msg, c.problem); i+len(c.problem) > 255 {
			t.Errorf("%q: the problem starts at byte %d of the message, past what the C ABI shows", c.url, i)
		}
	}

	for url, want := range map[string][]string{
		"redis://[::1]:6379":             {"[::1]:6379"},
		"redis://[::1]":                  {"[::1]:6379"},
		"redis://[fe80::1%eth0]:7000":    {"[fe80::1%eth0]:7000"},
		"redis://[::ffff:10.0.0.1]:1":    {"[::ffff:10.0.0.1]:1"},
		"redis://10.0.0.1:65535":         {"10.0.0.1:65535"},
		"redis://Redis-0.svc_a.local.:1": {"Redis-0.svc_a.local.:1"},
		"redis://" + long[:253] + ":1":   {long[:253] + ":1"},
		"redis://u:p:w@h:00001":          {"h:00001"},
	} {
		got, err := parseRedisURL(url)
		if err != nil {
			t.Errorf("%q: %v", url, err)
			continue
		}
		if !slices.Equal(got.addrs, want) {
			t.Errorf("%q: addrs %q, want %q", url, got.addrs, want)
		}
	}
}

func TestSeedLimit(t *testing.T) {
	const seedCap = 64 // the documented limit (c-abi.md, throttlekit.h)
	seeds := func(n int, sep string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("127.0.0.1:%d", 7000+i)
		}
		return strings.Join(s, sep)
	}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"redis+cluster://" + seeds(seedCap, ","), true},
		{"redis+cluster://" + seeds(seedCap+1, ","), false},
		{"redis+cluster://" + seeds(10000, ","), false},
		{"redis+cluster://a:1?addr=" + seeds(seedCap-1, "&addr="), true},
		{"redis+cluster://a:1?addr=" + seeds(seedCap, "&addr="), false},
		{"redis+sentinel://" + seeds(seedCap, ",") + "/m", true},
		{"redis+sentinel://" + seeds(seedCap+1, ",") + "/m", false},
	} {
		got, err := parseRedisURL(c.url)
		if c.ok {
			if err != nil || len(got.addrs) != seedCap {
				t.Errorf("%.60s...: %v, want %d seeds", c.url, err, seedCap)
			}
			continue
		}
		if !errors.Is(err, front.ErrInvalidArgument) || !strings.Contains(err.Error(), "more than 64") {
			t.Errorf("%.60s...: got %v, want front.ErrInvalidArgument naming the limit of 64 seeds", c.url, err)
		}
	}
}
