package main

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

// A quota through the real server (memory store): served on the server's clock, its ignored
// fields warned about at startup, and a reload that brings a bad quota refused with every
// error while the quota in force keeps its count.
func TestQuotaServedAndBadReloadRefused(t *testing.T) {
	const good = "limiters:\n  monthly: { strategy: quota, limit: 3, resetCadence: calendar-month, windowMs: 5 }\n"
	file := writeFile(t, "q.yaml", good)
	p := launch(t, "-c", file, "--store", "memory", "--host", "127.0.0.1", "--port", "0")
	b := openService(t, p.waitListening(t), client.ServiceOptions{})
	ctx := callCtx(t)
	if d, err := b.Check(ctx, "monthly", "k", 2); err != nil || !d.Allowed || d.Remaining != 1 || d.Limit != 3 {
		t.Fatalf("check: %+v, %v", d, err)
	}
	if f, err := b.Forecast(ctx, "monthly", "k", 1); err != nil || f.SpendableNow != 1 || f.FullAt <= time.Now().UnixMilli() {
		t.Fatalf("forecast: %+v, %v", f, err)
	}
	if _, err := b.Debit(ctx, "monthly", "k", 1); !errors.Is(err, client.ErrUnsupported) {
		t.Fatalf("debit: %v, want unsupported", err)
	}
	if !strings.Contains(p.stderr.String(), "windowMs: ignored for a quota") {
		t.Errorf("no warning about windowMs in the log:\n%s", p.stderr.String())
	}

	bad := "limiters:\n  monthly: { strategy: quota, limit: 3, resetCadence: monthly, offsetMinutes: 900 }\n"
	if err := writeTo(file, bad); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "policy reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed reload in the log:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	log := p.stderr.String()
	for _, want := range []string{"resetCadence: unknown cadence \\\"monthly\\\"", "offsetMinutes: must be a whole number in -840..840"} {
		if !strings.Contains(log, want) {
			t.Errorf("the failed reload's log lacks %q:\n%s", want, log)
		}
	}
	if d, err := b.Check(ctx, "monthly", "k", 1); err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after the bad reload: %+v, %v; want the old quota with its count", d, err)
	}
	p.stop(t)
}
