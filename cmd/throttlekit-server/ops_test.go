package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metricValue finds one sample line of the text exposition, e.g. `name{a="b"} 3`.
func metricValue(t *testing.T, body, series string) string {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}

func TestMetricsCountTheCalls(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0")
	b := openService(t, p.waitListening(t), client.ServiceOptions{})
	base := "http://" + logValue(t, p, "metrics_addr")
	ctx := callCtx(t)
	for range 7 { // burst 5: 5 allowed, 2 denied
		if _, err := b.Check(ctx, "api", "m", 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.CheckMany(ctx, "slow", []string{"a", "b", "c"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Debit(ctx, "llm", "m", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Check(ctx, "no-such-policy-"+strings.Repeat("x", 10), "m", 1); !errors.Is(err, client.ErrPolicyNotFound) {
		t.Fatal(err)
	}
	if _, err := b.Peek(ctx, "api", "m"); err != nil { // not a decision
		t.Fatal(err)
	}
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	want := map[string]string{
		`throttlekit_decisions_total{policy="api",result="allowed"}`:  "5",
		`throttlekit_decisions_total{policy="api",result="denied"}`:   "2",
		`throttlekit_decisions_total{policy="slow",result="allowed"}`: "3",
		`throttlekit_decisions_total{policy="llm",result="allowed"}`:  "1",
		`throttlekit_decision_seconds_count{policy="api"}`:            "7",
		`throttlekit_decision_seconds_count{policy="slow"}`:           "1",
		`throttlekit_decision_seconds_count{policy="llm"}`:            "1",
		`throttlekit_store_errors_total{kind="unavailable"}`:          "0",
		`throttlekit_policies`: "3",
	}
	for series, v := range want {
		if got := metricValue(t, body, series); got != v {
			t.Errorf("%s = %s, want %s", series, got, v)
		}
	}
	if strings.Contains(body, "no-such-policy") || strings.Contains(body, `result="synthesized"`) {
		t.Errorf("unexpected series in /metrics:\n%s", body)
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || !strings.Contains(body, "SERVING") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	p.stop(t)
}

// Synthesized decisions and store errors, with a store that is down from the start.
func TestMetricsWithTheStoreDown(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
		"--redis", "redis://127.0.0.1:1/0", "--timeout", "200ms", "--fail", "closed")
	b := openService(t, p.waitListening(t), client.ServiceOptions{})
	base := "http://" + logValue(t, p, "metrics_addr")
	ctx := callCtx(t)
	if d, err := b.Check(ctx, "api", "m", 1); err != nil || !d.Synthesized || d.Allowed {
		t.Fatalf("%+v, %v", d, err)
	}
	if _, err := b.CheckMany(ctx, "api", []string{"a", "b"}, 1); err != nil {
		t.Fatal(err)
	}
	_, body := httpGet(t, base+"/metrics")
	if got := metricValue(t, body, `throttlekit_decisions_total{policy="api",result="synthesized"}`); got != "3" {
		t.Errorf("synthesized = %s, want 3", got)
	}
	if got := metricValue(t, body, `throttlekit_store_errors_total{kind="unavailable"}`); got != "2" {
		t.Errorf("store errors = %s, want 2", got)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with the store down: %d, want 503", code)
	}
	p.stop(t)
}

func TestSIGHUPReloadsPolicies(t *testing.T) {
	file := writeFile(t, "p.yaml", doorPolicies)
	p := launch(t, "-c", file, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0")
	b := openService(t, p.waitListening(t), client.ServiceOptions{})
	base := "http://" + logValue(t, p, "metrics_addr")
	ctx := callCtx(t)
	if _, err := b.Check(ctx, "web", "k", 1); !errors.Is(err, client.ErrPolicyNotFound) {
		t.Fatalf("web before the reload: %v", err)
	}
	hup := func(content, wantLog string) {
		t.Helper()
		if err := writeTo(file, content); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.stderr.String(), wantLog) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", wantLog, p.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	hup(doorPolicies+"  web: { strategy: fixedWindow, limit: 2, period: 1m }\n", "msg=\"policies reloaded\"")
	if d, err := b.Check(ctx, "web", "k", 1); err != nil || d.Limit != 2 {
		t.Fatalf("web after the reload: %+v, %v", d, err)
	}
	if _, body := httpGet(t, base+"/metrics"); metricValue(t, body, "throttlekit_policies") != "4" {
		t.Errorf("throttlekit_policies after the reload: %s", metricValue(t, body, "throttlekit_policies"))
	}
	hup("limiters:\n  web: { strategy: gcra, limit: 10, period: 1m, burst: -3 }\n", "policy reload failed")
	if d, err := b.Check(ctx, "web", "k", 1); err != nil || d.Limit != 2 {
		t.Fatalf("web after a bad reload: %+v, %v; the old policies must stay", d, err)
	}
	if d, err := b.Check(ctx, "api", "k", 1); err != nil || d.Limit != 5 {
		t.Fatalf("api after a bad reload: %+v, %v", d, err)
	}
	log := p.stderr.String()
	for _, want := range []string{file, "burst: must be a whole number >= 1, got -3"} {
		if !strings.Contains(log[strings.Index(log, "policies reloaded"):], want) {
			t.Errorf("the failed reload's log lacks %q:\n%s", want, log)
		}
	}
	p.stop(t)
}

// SIGTERM while many callers hammer the server: each call the client saw answered carries a
// decision or UNAVAILABLE, none hangs, and the server exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0")
	addr := p.waitListening(t)
	const callers = 32
	var answered, refused atomic.Int64
	var bad sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range callers {
		b := openService(t, addr, client.ServiceOptions{Timeout: 5 * time.Second})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				d, err := b.Check(t.Context(), "slow", "load", 1)
				if took := time.Since(start); took > 3*time.Second {
					bad.Store(i, "a call took "+took.String())
				}
				switch {
				case err == nil:
					if d.Limit != 6 || d.Synthesized || d.ResetAt == 0 {
						bad.Store(i, "a wrong decision")
					}
					answered.Add(1)
				case errors.Is(err, client.ErrUnavailable):
					refused.Add(1)
					return // the server is gone
				default:
					bad.Store(i, err.Error())
					return
				}
			}
		}()
	}
	// The load is on once calls are being answered (a busy machine may take a while to get
	// there), and goes on for a moment more.
	for deadline := time.Now().Add(10 * time.Second); answered.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	before := answered.Load()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM under load:\n%s", code, p.stderr.String())
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers still hang 10s after the server exited")
	}
	close(stop)
	bad.Range(func(k, v any) bool {
		t.Errorf("caller %v: %v", k, v)
		return true
	})
	t.Logf("%d calls answered (%d before SIGTERM), %d callers refused", answered.Load(), before, refused.Load())
	if before == 0 {
		t.Fatal("no call was answered before SIGTERM: no load")
	}
}
