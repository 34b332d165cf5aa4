package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// waitReadyFile waits, as a harness would, for the ready file to appear, and returns its
// lines; it fails with the server's log if the process exits first or the bound passes.
func waitReadyFile(t *testing.T, p *proc, path string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if !strings.HasSuffix(string(b), "\n") {
				t.Fatalf("the ready file %s does not end with a newline: %q", path, b)
			}
			return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
			t.Fatalf("the server exited (%v) without writing %s:\n%s", p.err, path, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file %s within 30s:\n%s", path, p.stderr.String())
		}
	}
}

func expectGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the ready file %s is still there after the stop (%v)", path, err)
	}
}

// The file names both listeners, each answering; the write leaves no temporary file behind;
// a clean stop removes it.
func TestReadyFileNamesTheListeners(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.ready")
	p := launch(t, "-c", writeFile(t, "p.yaml", policies), "--host", "127.0.0.1", "--port", "0",
		"--metrics-port", "0", "--ready-file", path)
	lines := waitReadyFile(t, p, path)
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "metrics=") {
		t.Fatalf("ready file %q, want the gRPC address, then metrics=host:port", lines)
	}
	addr, metricsAddr := lines[0], strings.TrimPrefix(lines[1], "metrics=")
	if logged := p.waitListening(t); addr != logged {
		t.Errorf("the ready file names %s, the log %s", addr, logged)
	}
	if logged := logValue(t, p, "metrics_addr"); metricsAddr != logged {
		t.Errorf("the ready file names metrics at %s, the log at %s", metricsAddr, logged)
	}
	checkHealth(t, callCtx(t), healthpb.NewHealthClient(dial(t, addr)))
	if code, body := httpGet(t, "http://"+metricsAddr+"/healthz"); code != 200 || !strings.Contains(body, "SERVING") {
		t.Errorf("/healthz at the ready file's metrics address: %d %q", code, body)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the ready file's directory holds %q, want the ready file alone", names)
	}
	p.stop(t)
	expectGone(t, path)
}

// Without metrics the file is one line: the address as net.JoinHostPort spells it.
func TestReadyFileAddressForm(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			if probe, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				t.Skipf("cannot listen on %s here: %v", host, err)
			} else {
				_ = probe.Close()
			}
			path := filepath.Join(t.TempDir(), "ready")
			p := launch(t, "-c", writeFile(t, "p.yaml", policies), "--host", host, "--port", "0", "--ready-file", path)
			lines := waitReadyFile(t, p, path)
			if len(lines) != 1 {
				t.Fatalf("ready file %q, want one line (no metrics listener)", lines)
			}
			h, port, err := net.SplitHostPort(lines[0])
			if err != nil || h != host || port == "0" || lines[0] != net.JoinHostPort(h, port) {
				t.Fatalf("ready file names %q, want %s:<port> as net.JoinHostPort gives it (%v)", lines[0], host, err)
			}
			checkHealth(t, callCtx(t), healthpb.NewHealthClient(dial(t, lines[0])))
			p.stop(t)
			expectGone(t, path)
		})
	}
}

// A file a killed run left behind is replaced whole; a file somebody else put in the place of
// ours is not removed at the stop.
func TestReadyFileStaleAndReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(path, []byte("127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := launch(t, "-c", writeFile(t, "p.yaml", policies), "--host", "127.0.0.1", "--port", "0", "--ready-file", path)
	addr := logValue(t, p, "addr") // logged after the file is written; the stale file is there before
	if b, err := os.ReadFile(path); err != nil || string(b) != addr+"\n" {
		t.Fatalf("ready file %q (%v) once listening, want %q", b, err, addr+"\n")
	}

	other := path + ".other"
	if err := os.WriteFile(other, []byte("another server's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	if b, err := os.ReadFile(path); err != nil || string(b) != "another server's\n" {
		t.Errorf("a ready file that is not the server's own: %q, %v after the stop; want it left alone", b, err)
	}
}
