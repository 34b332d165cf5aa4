package monitor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

// clock is a settable time for crossing window boundaries without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_800_000_000_000)} }

func allow(limit, remaining int64) client.Decision {
	return client.Decision{Allowed: true, Limit: limit, Remaining: remaining}
}

func deny(limit, retry int64) client.Decision {
	return client.Decision{Limit: limit, RetryAfterMs: retry}
}

func TestWindowCountersAndExpiry(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.now, NodeID: "n1"})
	infos := []PolicyInfo{{Name: "api", Strategy: "gcra", Limit: 5}, {Name: "idle", Strategy: "fixedWindow", Limit: 7}}
	m.Record("api", []string{"a"}, []client.Decision{allow(5, 4)}, m.now(), 2*time.Millisecond)
	m.Record("api", []string{"a", "b", "a"}, []client.Decision{allow(5, 3), allow(5, 4), deny(5, 900)}, m.now(), 4*time.Millisecond)
	c.add(30 * time.Second)
	m.Record("api", []string{"b"}, []client.Decision{deny(6, 100)}, m.now(), 6*time.Millisecond)

	s := m.Snapshot(infos)
	if s.Meta != (Meta{GeneratedAt: c.now().UnixMilli(), WindowMs: 60_000, Mode: "process", LensVersion: Version, NodeID: "n1"}) {
		t.Errorf("meta %+v", s.Meta)
	}
	want := PolicySummary{Name: "api", Kind: "limiter", Strategy: "gcra", Allowed: 3, Denied: 2, Limit: 6,
		Latency:      Latency{AvgMs: 4, P50Ms: 4, P99Ms: 6, MaxMs: 6, N: 3},
		TopDenied:    []KeyCount{{"a", 1}, {"b", 1}},
		TopRequested: []KeyCount{{"a", 3}, {"b", 2}}}
	if got := fmt.Sprintf("%+v", s.Policies[0]); got != fmt.Sprintf("%+v", want) {
		t.Errorf("api:\n got %s\nwant %+v", got, want)
	}
	idle := PolicySummary{Name: "idle", Kind: "limiter", Strategy: "fixedWindow", Limit: 7, TopDenied: []KeyCount{}, TopRequested: []KeyCount{}}
	if got := fmt.Sprintf("%+v", s.Policies[1]); got != fmt.Sprintf("%+v", idle) {
		t.Errorf("idle:\n got %s\nwant %+v", got, idle)
	}
	if len(s.RecentDenials) != 2 || s.RecentDenials[0] != (Denial{At: 1_800_000_000_000, Policy: "api", Key: "a", Limit: 5, RetryAfterMs: 900}) ||
		s.RecentDenials[1] != (Denial{At: 1_800_000_030_000, Policy: "api", Key: "b", Limit: 6, RetryAfterMs: 100}) {
		t.Errorf("recent denials %+v", s.RecentDenials)
	}

	// 31 s later the first calls are out of the window, the last one still in.
	c.add(31 * time.Second)
	p := m.Snapshot(infos).Policies[0]
	if p.Allowed != 0 || p.Denied != 1 || p.Latency.N != 1 || fmt.Sprint(p.TopRequested) != "[{b 1}]" {
		t.Errorf("after 61 s: %+v", p)
	}
	c.add(30 * time.Second)
	p = m.Snapshot(infos).Policies[0]
	if p.Allowed != 0 || p.Denied != 0 || p.Latency.N != 0 || len(p.TopRequested) != 0 || len(p.TopDenied) != 0 {
		t.Errorf("after 91 s: %+v", p)
	}
}

// A flood of distinct keys keeps every structure at its fixed size, and the heavy hitters
// stay on top.
func TestTopListsBounded(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.now})
	for i := range 100_000 {
		key := fmt.Sprintf("user-%d", i)
		d := allow(10, 1)
		if i%2 == 0 {
			d = deny(10, 5)
		}
		m.Record("api", []string{key}, []client.Decision{d}, m.now(), time.Microsecond)
		if i%100 == 0 {
			m.Record("api", []string{"hot"}, []client.Decision{deny(10, 5)}, m.now(), time.Microsecond)
		}
		if i%1000 == 0 {
			c.add(100 * time.Millisecond) // 10 s over the run: two segments
		}
	}
	s := m.Snapshot([]PolicyInfo{{Name: "api"}})
	p := s.Policies[0]
	if p.Allowed != 50_000 || p.Denied != 51_000 {
		t.Errorf("allowed %d denied %d, want 50000 51000", p.Allowed, p.Denied)
	}
	if len(p.TopDenied) != TopK || len(p.TopRequested) != TopK {
		t.Fatalf("top lists of %d and %d, want %d", len(p.TopDenied), len(p.TopRequested), TopK)
	}
	if p.TopDenied[0].Key != "hot" || p.TopRequested[0].Key != "hot" || p.TopDenied[0].Count < 1000 {
		t.Errorf("the heavy hitter is not first: %v / %v", p.TopDenied[:2], p.TopRequested[:2])
	}
	held := 0
	for _, sh := range (*m.policies.Load())["api"].shards {
		for _, sg := range sh.segs {
			held += len(sg.requested.items) + len(sg.deniedK.items)
			if len(sg.requested.items) > sketchCap || len(sg.deniedK.items) > sketchCap {
				t.Fatalf("a sketch holds %d keys", len(sg.requested.items))
			}
		}
	}
	if max := shardCount * segmentCount * sketchCap * 2; held > max {
		t.Errorf("%d keys held, bound %d", held, max)
	}
	if len(s.RecentDenials) != RecentDenials {
		t.Errorf("%d recent denials, want %d", len(s.RecentDenials), RecentDenials)
	}
}

func TestLongKeysClipped(t *testing.T) {
	m := New(Options{})
	long := strings.Repeat("é", 3000)
	m.Record("api", []string{long}, []client.Decision{deny(1, 1)}, m.now(), 0)
	s := m.Snapshot([]PolicyInfo{{Name: "api"}})
	k := s.Policies[0].TopDenied[0].Key
	if len(k) > MaxKeyBytes || !strings.HasSuffix(k, "…") || !strings.HasPrefix(long, strings.TrimSuffix(k, "…")) {
		t.Errorf("key of %d bytes: %q", len(k), k)
	}
	if s.RecentDenials[0].Key != k {
		t.Errorf("the denial's key is not clipped alike")
	}
}

func TestWatchFilterAndSlowReader(t *testing.T) {
	m := New(Options{})
	all, err := m.Subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	one, err := m.Subscribe("b")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	m.Record("a", []string{"k1"}, []client.Decision{deny(1, 1)}, m.now(), 0)
	m.Record("b", []string{"k2"}, []client.Decision{deny(2, 2)}, m.now(), 0)
	m.Record("b", []string{"k3"}, []client.Decision{allow(2, 1)}, m.now(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []string{"a/k1", "b/k2"} {
		d, err := all.Next(ctx)
		if err != nil || d.Policy+"/"+d.Key != want {
			t.Fatalf("all: %+v %v, want %s", d, err, want)
		}
	}
	if d, err := one.Next(ctx); err != nil || d.Key != "k2" {
		t.Fatalf("b only: %+v %v", d, err)
	}
	// Nobody reads: the buffer fills, the rest is dropped, and recording never waits.
	for range watchBuffer + 100 {
		m.Record("b", []string{"x"}, []client.Decision{deny(1, 1)}, m.now(), 0)
	}
	if one.Dropped() != 100 || all.Dropped() != 100 {
		t.Errorf("dropped %d and %d, want 100 each", one.Dropped(), all.Dropped())
	}
	if full, _ := m.Dropped(); full != 200 {
		t.Errorf("monitor dropped %d, want 200", full)
	}
	m.Close()
	for {
		if _, err := one.Next(ctx); err == ErrClosed {
			break
		} else if err != nil {
			t.Fatalf("after Close: %v", err)
		}
	}
	if _, err := m.Subscribe(""); err != ErrClosed {
		t.Errorf("Subscribe after Close: %v", err)
	}
}

func TestWatchRateCap(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.now})
	w, err := m.Subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	// 10 s of a 5,000/s flood, fed 50 at a time every 10 ms of the test's clock.
	got := 0
	for range 1000 {
		for range 50 {
			m.Record("api", []string{"k"}, []client.Decision{deny(1, 1)}, m.now(), 0)
		}
		c.add(10 * time.Millisecond)
		for len(w.ch) > 0 {
			tctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			if _, err := w.Next(tctx); err == nil {
				got++
			}
			cancel()
		}
	}
	if limit := WatchRate*10 + WatchBurst; got > limit || got < WatchRate*10-WatchRate/10 {
		t.Errorf("%d events sent over 10 s, want about %d and at most %d", got, WatchRate*10, limit)
	}
	if _, rate := m.Dropped(); rate != int64(50_000-got) {
		t.Errorf("dropped over rate %d, want %d", rate, 50_000-got)
	}
}

func TestMaxWatchers(t *testing.T) {
	m := New(Options{})
	var ws []*Watcher
	for range MaxWatchers {
		w, err := m.Subscribe("")
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if _, err := m.Subscribe(""); err != ErrTooManyWatchers {
		t.Fatalf("one more: %v", err)
	}
	ws[0].Close()
	w, err := m.Subscribe("")
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	w.Close()
	if m.Watchers() != MaxWatchers-1 {
		t.Errorf("%d watchers", m.Watchers())
	}
}

func TestRetainAndConcurrentRecording(t *testing.T) {
	m := New(Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				d := allow(3, 1)
				if i%3 == 0 {
					d = deny(3, 1)
				}
				m.Record(fmt.Sprint("p", g%2), []string{fmt.Sprint("k", i%50)}, []client.Decision{d}, m.now(), time.Microsecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			m.Snapshot([]PolicyInfo{{Name: "p0"}, {Name: "p1"}})
		}
	}()
	wg.Wait()
	s := m.Snapshot([]PolicyInfo{{Name: "p0"}, {Name: "p1"}})
	for _, p := range s.Policies {
		if p.Allowed+p.Denied != 8000 || p.Denied != 4*667 {
			t.Errorf("%s: allowed %d denied %d", p.Name, p.Allowed, p.Denied)
		}
	}
	m.Retain([]string{"p1"})
	if _, ok := (*m.policies.Load())["p0"]; ok {
		t.Error("p0 still held after Retain")
	}
}
