package redisdoor

import (
	"errors"
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
