package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/server/monitor"
)

// monitorTraffic is known traffic over doorPolicies and the snapshot it must leave: the
// decisions are worked out by hand from the policies (a cold gcra burst of 5; a fixed window
// of 6 spent 2 at a time; a token budget of 100 that admits the crossing debit).
type monitorTraffic struct {
	denials []*contract.DenialEvent // in order, with the decisions the calls answered
}

func (mt *monitorTraffic) run(t *testing.T, c contract.RateLimiterClient) {
	t.Helper()
	ctx := callCtx(t)
	note := func(policy, key string, d *contract.Decision) {
		if !d.GetAllowed() {
			mt.denials = append(mt.denials, &contract.DenialEvent{Policy: policy, Key: key, Limit: d.GetLimit(),
				Remaining: d.GetRemaining(), RetryAfterMs: d.GetRetryAfterMs()})
		}
	}
	for i := range 7 {
		r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "alice"})
		if err != nil || r.GetDecision().GetAllowed() != (i < 5) {
			t.Fatalf("api alice %d: %v %v", i, r, err)
		}
		note("api", "alice", r.GetDecision())
	}
	if r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "bob"}); err != nil || !r.GetDecision().GetAllowed() {
		t.Fatalf("api bob: %v %v", r, err)
	}
	for _, keys := range [][]string{{"x", "y", "x", "x"}, {"x"}} {
		r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "slow", Keys: keys, Cost: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range r.GetDecisions() {
			note("slow", keys[i], d)
		}
	}
	for i, tokens := range []int64{60, 60, 1} {
		r, err := c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: "dave", Tokens: tokens})
		if err != nil || r.GetDecision().GetAllowed() != (i < 2) {
			t.Fatalf("llm debit %d: %v %v", i, r, err)
		}
		note("llm", "dave", r.GetDecision())
	}
	if len(mt.denials) != 4 {
		t.Fatalf("%d denials, want 4 (alice twice, x, dave): %v", len(mt.denials), mt.denials)
	}
}

func kc(key string, n int64) *contract.KeyCount { return &contract.KeyCount{Key: key, Count: n} }

// Every field of the snapshot after known traffic, on both stores.
func TestMonitorSnapshotAfterKnownTraffic(t *testing.T) {
	stores := map[string]func(t *testing.T) []string{
		"memory": func(*testing.T) []string { return nil },
		"redis": func(t *testing.T) []string {
			return []string{"--redis", testenv.URL(t), "--redis-prefix", testenv.Namespace(t)}
		},
	}
	for name, storeArgs := range stores {
		t.Run(name, func(t *testing.T) {
			p := launch(t, append([]string{"-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"}, storeArgs(t)...)...)
			lines := waitReadyFile(t, p, p.ready)
			addr, metricsAddr := lines[0], strings.TrimPrefix(lines[1], "metrics=")
			conn := dial(t, addr)
			before := time.Now().UnixMilli()
			var mt monitorTraffic
			mt.run(t, contract.NewRateLimiterClient(conn))
			after := time.Now().UnixMilli()

			r, err := contract.NewMonitorClient(conn).GetSnapshot(callCtx(t), &contract.GetSnapshotRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := r.GetSnapshot()
			if g := got.GetMeta().GetGeneratedAt(); g < after || g > time.Now().UnixMilli() {
				t.Errorf("generated_at %d, not after the traffic (%d)", g, after)
			}
			var raw struct {
				Meta  struct{ GeneratedAt int64 }
				Watch struct{ Streams int }
			}
			if err := json.Unmarshal([]byte(got.GetRawJson()), &raw); err != nil || raw.Meta.GeneratedAt != got.GetMeta().GetGeneratedAt() {
				t.Errorf("raw_json %.200s: %v", got.GetRawJson(), err)
			}
			calls := map[string]int64{"api": 8, "llm": 3, "slow": 2}
			for _, ps := range got.GetPolicies() {
				l := ps.GetLatency()
				if l.GetN() != calls[ps.GetName()] || l.GetAvgMs() <= 0 || l.GetP50Ms() > l.GetP99Ms() || l.GetP99Ms() > l.GetMaxMs() ||
					l.GetAvgMs() > l.GetMaxMs() || l.GetMaxMs() > float64(after-before) {
					t.Errorf("%s latency %v, want %d calls within %d ms", ps.GetName(), l, calls[ps.GetName()], after-before)
				}
				ps.Latency = &contract.LatencySummary{N: l.GetN()}
			}
			for i, d := range got.GetRecentDenials() {
				if d.GetAt() < before || d.GetAt() > after {
					t.Errorf("denial %d at %d, outside the traffic [%d, %d]", i, d.GetAt(), before, after)
				}
				d.At = 0
			}
			got.Meta.GeneratedAt, got.RawJson = 0, ""

			want := &contract.Snapshot{
				Meta: &contract.MonitorMeta{WindowMs: 60_000, Mode: "process", LensVersion: monitor.Version, NodeId: addr},
				Policies: []*contract.PolicySummary{
					{Name: "api", Kind: "limiter", Strategy: "gcra", Allowed: 6, Denied: 2, Limit: 5, Latency: &contract.LatencySummary{N: 8},
						TopDenied: []*contract.KeyCount{kc("alice", 2)}, TopRequested: []*contract.KeyCount{kc("alice", 7), kc("bob", 1)}},
					{Name: "llm", Kind: "limiter", Strategy: "tokenBudget", Allowed: 2, Denied: 1, Limit: 100, Latency: &contract.LatencySummary{N: 3},
						TopDenied: []*contract.KeyCount{kc("dave", 1)}, TopRequested: []*contract.KeyCount{kc("dave", 3)}},
					{Name: "slow", Kind: "limiter", Strategy: "fixedWindow", Allowed: 4, Denied: 1, Limit: 6, Latency: &contract.LatencySummary{N: 2},
						TopDenied: []*contract.KeyCount{kc("x", 1)}, TopRequested: []*contract.KeyCount{kc("x", 4), kc("y", 1)}},
				},
				RecentDenials: mt.denials,
			}
			if !proto.Equal(got, want) {
				t.Errorf("snapshot\n got %v\nwant %v", got, want)
			}

			// The same window on /metrics.
			_, body := httpGet(t, "http://"+metricsAddr+"/metrics")
			for series, v := range map[string]string{
				`throttlekit_monitor_window_allowed{policy="api"}`:            "6",
				`throttlekit_monitor_window_denied{policy="api"}`:             "2",
				`throttlekit_monitor_limit{policy="llm"}`:                     "100",
				`throttlekit_monitor_window_denied{policy="slow"}`:            "1",
				`throttlekit_monitor_latency_samples{policy="api"}`:           "8",
				`throttlekit_monitor_watch_streams`:                           "0",
				`throttlekit_monitor_watch_dropped_total{reason="over_rate"}`: "0",
			} {
				if g := metricValue(t, body, series); g != v {
					t.Errorf("%s = %s, want %s", series, g, v)
				}
			}
			if !strings.Contains(body, `throttlekit_monitor_latency_ms{policy="api",stat="p99"}`) {
				t.Error("no p99 latency metric")
			}
			p.stop(t)
		})
	}
}

// openWatch opens a stream and waits until the server has subscribed it.
func openWatch(t *testing.T, ctx context.Context, c contract.MonitorClient, policy string) grpc.ServerStreamingClient[contract.WatchResponse] {
	t.Helper()
	s, err := c.Watch(ctx, &contract.WatchRequest{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatalf("Watch(%q): %v", policy, err)
	}
	return s
}

func TestMonitorWatchLiveAndFiltered(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0")
	conn := dial(t, p.waitListening(t))
	mon, rl := contract.NewMonitorClient(conn), contract.NewRateLimiterClient(conn)
	ctx := callCtx(t)
	all, slow := openWatch(t, ctx, mon, ""), openWatch(t, ctx, mon, "slow")

	var mt monitorTraffic
	mt.run(t, rl)
	for _, c := range []struct {
		name   string
		stream grpc.ServerStreamingClient[contract.WatchResponse]
		want   []*contract.DenialEvent
	}{{"all", all, mt.denials}, {"slow", slow, mt.denials[2:3]}} {
		for i, want := range c.want {
			r, err := c.stream.Recv()
			if err != nil {
				t.Fatalf("%s: event %d: %v", c.name, i, err)
			}
			got := r.GetDenial()
			if got.GetAt() <= 0 {
				t.Errorf("%s: event %d has no time", c.name, i)
			}
			got.At = 0
			if !proto.Equal(got, want) {
				t.Errorf("%s: event %d = %v, want %v", c.name, i, got, want)
			}
		}
	}
	// The filtered stream got nothing else: the next denial of slow is its next event.
	if _, err := rl.CheckMany(ctx, &contract.CheckManyRequest{Policy: "slow", Keys: []string{"x"}, Cost: 1}); err != nil {
		t.Fatal(err)
	}
	if r, err := slow.Recv(); err != nil || r.GetDenial().GetKey() != "x" || r.GetDenial().GetPolicy() != "slow" {
		t.Fatalf("next on slow: %v %v", r, err)
	}

	// An unknown policy is NOT_FOUND, at once.
	s, err := mon.Watch(ctx, &contract.WatchRequest{Policy: "nope"})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("Watch of an unknown policy: %v", err)
	}
	// A stop ends the open streams: the drain does not wait for them.
	start := time.Now()
	p.stop(t)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the stop took %s with Watch streams open", el)
	}
	// The all stream still holds the last slow denial; after it, the end.
	if r, err := all.Recv(); err != nil || r.GetDenial().GetKey() != "x" {
		t.Fatalf("the last event on all: %v %v", r, err)
	}
	if _, err := all.Recv(); err == nil {
		t.Error("a Watch stream outlived the server")
	}
}

// A flood of denials reaches a stream at no more than 500 a second; the rest is dropped and
// counted. The bound is checked over the whole interval the stream was open, so a slow
// machine can only make it easier to meet.
func TestMonitorWatchRateCap(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--max-keys-per-call", "1000")
	conn := dial(t, p.waitListening(t))
	mon, rl := contract.NewMonitorClient(conn), contract.NewRateLimiterClient(conn)
	ctx, cancel := context.WithCancel(callCtx(t))
	defer cancel()

	start := time.Now()
	stream := openWatch(t, ctx, mon, "api")
	var got atomic.Int64
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	// Two callers of 100-key batches: a steady flood, so that the stream is held at its rate
	// rather than fed in a few large bursts.
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "flood"
	}
	var made atomic.Int64
	var flood sync.WaitGroup
	for range 2 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for time.Since(start) < 2*time.Second {
				r, err := rl.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: keys})
				if err != nil {
					t.Error(err)
					return
				}
				for _, d := range r.GetDecisions() {
					if !d.GetAllowed() {
						made.Add(1)
					}
				}
			}
		}()
	}
	flood.Wait()
	sent := made.Load()
	time.Sleep(300 * time.Millisecond) // let the last events through
	cancel()
	reader.Wait()
	elapsed := time.Since(start)
	n := got.Load()
	limit := int64(float64(monitor.WatchRate)*elapsed.Seconds()) + monitor.WatchBurst
	t.Logf("%d denials made, %d streamed in %s (bound %d)", sent, n, elapsed, limit)
	if sent < 2*limit {
		t.Fatalf("only %d denials in %s: not a flood", sent, elapsed)
	}
	if n > limit {
		t.Errorf("%d events in %s, over 500/s + a burst of %d (%d)", n, elapsed, monitor.WatchBurst, limit)
	}
	if n < monitor.WatchRate/2 {
		t.Errorf("only %d events in %s: the stream is far below its rate", n, elapsed)
	}
	r, err := mon.GetSnapshot(callCtx(t), &contract.GetSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Watch monitor.WatchStats }
	if err := json.Unmarshal([]byte(r.GetSnapshot().GetRawJson()), &raw); err != nil {
		t.Fatal(err)
	}
	if dropped := raw.Watch.DroppedBufferFull + raw.Watch.DroppedOverRate; dropped < sent-n-int64(256) {
		t.Errorf("%d dropped of %d made and %d streamed", dropped, sent, n)
	}
	p.stop(t)
}

// nonLoopbackIP is an address of this machine that is not loopback, for calls the server
// must see as coming from elsewhere; the test skips without one.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to call from")
	return ""
}

// monitorCode is the status of a GetSnapshot and of a Watch under md. A refused Watch ends
// with its status; an open one waits for a denial, so it is taken as open when nothing ends
// it within a moment. That moment is long when a refusal is expected (a busy machine must
// not pass a late refusal for an open stream) and short otherwise.
func monitorCode(t *testing.T, conn *grpc.ClientConn, expect codes.Code, md ...string) (snapshot, watch codes.Code) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(callCtx(t), md...)
	_, err := contract.NewMonitorClient(conn).GetSnapshot(ctx, &contract.GetSnapshotRequest{})
	snapshot = status.Code(err)
	wait := 300 * time.Millisecond
	if expect != codes.OK {
		wait = 5 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s, err := contract.NewMonitorClient(conn).Watch(wctx, &contract.WatchRequest{})
	if err == nil {
		// The deadline ends an open stream, on whichever side notices it first; a refusal
		// is never DEADLINE_EXCEEDED.
		if _, err = s.Recv(); status.Code(err) == codes.DeadlineExceeded {
			return snapshot, codes.OK
		}
	}
	return snapshot, status.Code(err)
}

func TestMonitorAccess(t *testing.T) {
	ip := nonLoopbackIP(t)
	const secret = "m0n-s3cret"
	launchAt := func(t *testing.T, extra ...string) (loop, remote *grpc.ClientConn) {
		p := launch(t, append([]string{"-c", writeFile(t, "p.yaml", doorPolicies), "--host", "0.0.0.0", "--port", "0"}, extra...)...)
		_, port, err := net.SplitHostPort(p.waitListening(t))
		if err != nil {
			t.Fatal(err)
		}
		return dial(t, net.JoinHostPort("127.0.0.1", port)), dial(t, net.JoinHostPort(ip, port))
	}
	want := func(t *testing.T, what string, conn *grpc.ClientConn, code codes.Code, md ...string) {
		t.Helper()
		if s, w := monitorCode(t, conn, code, md...); s != code || w != code {
			t.Errorf("%s: GetSnapshot %v, Watch %v; want %v", what, s, w, code)
		}
	}
	checkOK := func(t *testing.T, what string, conn *grpc.ClientConn, md ...string) {
		t.Helper()
		ctx := metadata.AppendToOutgoingContext(callCtx(t), md...)
		if _, err := contract.NewRateLimiterClient(conn).Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
			t.Errorf("%s: Check: %v", what, err)
		}
	}

	t.Run("loopback only by default", func(t *testing.T) {
		loop, remote := launchAt(t)
		want(t, "loopback", loop, codes.OK)
		want(t, "from "+ip, remote, codes.Unauthenticated)
		want(t, "from "+ip+" with a secret the server does not have", remote, codes.Unauthenticated, "x-monitor-secret", secret)
		checkOK(t, "RateLimiter from "+ip, remote)
	})
	for _, how := range []string{"flag", "env"} {
		t.Run("monitor secret by "+how, func(t *testing.T) {
			var extra []string
			if how == "flag" {
				extra = []string{"--monitor-secret", secret}
			} else {
				t.Setenv(monitorSecretEnv, secret)
			}
			loop, remote := launchAt(t, extra...)
			want(t, "x-monitor-secret from "+ip, remote, codes.OK, "x-monitor-secret", secret)
			want(t, "authorization: Bearer from "+ip, remote, codes.OK, "authorization", "Bearer "+secret)
			want(t, "no secret from "+ip, remote, codes.Unauthenticated)
			want(t, "a wrong secret", remote, codes.Unauthenticated, "x-monitor-secret", secret+"x")
			want(t, "a prefix of the secret", remote, codes.Unauthenticated, "x-monitor-secret", secret[:4])
			// As upstream's server: once a secret is set, loopback needs it too.
			want(t, "loopback without the secret", loop, codes.Unauthenticated)
			want(t, "loopback with the secret", loop, codes.OK, "x-monitor-secret", secret)
			checkOK(t, "RateLimiter from "+ip+" without the secret", remote)
		})
	}
	t.Run("shared token", func(t *testing.T) {
		loop, remote := launchAt(t, "--auth-token-file", writeFile(t, "token", testToken), "--monitor-secret", secret)
		want(t, "loopback without the token", loop, codes.Unauthenticated)
		want(t, "the monitor secret instead of the token", remote, codes.Unauthenticated, "x-monitor-secret", secret)
		want(t, "the token from loopback", loop, codes.OK, "authorization", "Bearer "+testToken)
		want(t, "the token from "+ip, remote, codes.OK, "authorization", "Bearer "+testToken)
	})
}

func TestCheckPolicyFile(t *testing.T) {
	check := func(args ...string) (code int, stdout, stderr string) {
		cmd := exec.Command(binary, append([]string{"--check"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), out.String(), errb.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errb.String()
	}
	good := writeFile(t, "good.yaml", doorPolicies)
	code, out, errs := check("-c", good)
	if code != 0 || out != progName+": the policy file "+good+" is valid: 3 policies, 0 warning(s)\n" || errs != "" {
		t.Errorf("a good file: %d\nstdout %q\nstderr %q", code, out, errs)
	}

	bad := writeFile(t, "bad.yaml", `
limiters:
  a: { strategy: gcra, limit: -1, period: 1h }
  b: { strategy: nope }
  c: { strategy: fixedWindow, limit: 5 }
`)
	code, out, errs = check("-c", bad, "--port", "1") // serving flags are accepted, nothing listens
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	if code != 1 || out != "" || len(lines) != 4 {
		t.Fatalf("a bad file: %d\nstdout %q\nstderr %s", code, out, errs)
	}
	for i, want := range []string{"limiters[a].limit", "limiters[b].strategy", "limiters[c]"} {
		if !strings.HasPrefix(lines[i], progName+": "+bad+": ") || !strings.Contains(lines[i], want) {
			t.Errorf("problem %d: %q, want it to name %s", i, lines[i], want)
		}
	}
	if lines[3] != progName+": the policy file "+bad+" has 3 problem(s): it would not load" {
		t.Errorf("summary %q", lines[3])
	}

	code, _, errs = check("-c", bad+".missing")
	if code != 1 || !strings.Contains(errs, "cannot read the policy file") {
		t.Errorf("a missing file: %d %q", code, errs)
	}
	// A command line that cannot run is still status 2.
	if code, _, _ = check(); code != 2 {
		t.Errorf("--check without -c: %d, want 2", code)
	}
	warn := writeFile(t, "warn.yaml", "limiters:\n  api: { strategy: gcra, limit: 5, period: 1m }\nreplay: {}\n")
	code, out, errs = check("-c", warn)
	if code != 0 || !strings.Contains(out, "is valid: 1 policies, 1 warning(s)") || !strings.Contains(errs, ": warning: ") {
		t.Errorf("a file with a warning: %d\nstdout %q\nstderr %q", code, out, errs)
	}
}

// A reload changes the policies the snapshot lists: a new one appears, a removed one goes
// with its records, and one kept keeps its window.
func TestMonitorFollowsReload(t *testing.T) {
	file := writeFile(t, "p.yaml", doorPolicies)
	p := launch(t, "-c", file, "--host", "127.0.0.1", "--port", "0")
	conn := dial(t, p.waitListening(t))
	rl, mon := contract.NewRateLimiterClient(conn), contract.NewMonitorClient(conn)
	ctx := callCtx(t)
	for _, pol := range []string{"api", "slow"} {
		if _, err := rl.Check(ctx, &contract.CheckRequest{Policy: pol, Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	reload := func(content string, n int) []string {
		t.Helper()
		if err := writeTo(file, content); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); strings.Count(p.stderr.String(), "policies reloaded") < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no reload %d in the log:\n%s", n, p.stderr.String())
			}
		}
		r, err := mon.GetSnapshot(ctx, &contract.GetSnapshotRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ps := range r.GetSnapshot().GetPolicies() {
			got = append(got, ps.GetName()+":"+ps.GetStrategy()+":"+strconv.FormatInt(ps.GetAllowed(), 10))
		}
		return got
	}
	const apiWeb = "limiters:\n  api: { strategy: gcra, limit: 5, period: 1m, burst: 5 }\n  web: { strategy: fixedWindow, limit: 2, period: 1m }\n"
	if got := reload(apiWeb, 1); strings.Join(got, " ") != "api:gcra:1 web:fixedWindow:0" {
		t.Errorf("policies after the reload: %v", got)
	}
	// slow back, within the same window: its check before was forgotten with it.
	if got := reload(apiWeb+"  slow: { strategy: fixedWindow, limit: 6, windowMs: 1h }\n", 2); strings.Join(got, " ") != "api:gcra:1 slow:fixedWindow:0 web:fixedWindow:0" {
		t.Errorf("policies after slow came back: %v", got)
	}
	p.stop(t)
}
