package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// binary is the server built once for every test, run as a user runs it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "throttlekit-server-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, progName)
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the server:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	plainDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// plainDir is TestMain's directory, where plainBinary builds.
var plainDir string

var plainBuild struct {
	once sync.Once
	path string
	err  error
}

// plainBinary is the server built without the race detector, for the tests that measure its
// memory: the detector's shadow memory would be counted as the server's. Without -race it is
// binary itself; with it, a second build, made once.
func plainBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return binary
	}
	plainBuild.once.Do(func() {
		plainBuild.path = filepath.Join(plainDir, progName+"-plain")
		build := exec.Command("go", "build", "-o", plainBuild.path, ".")
		out, err := build.CombinedOutput()
		if err != nil {
			plainBuild.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if plainBuild.err != nil {
		t.Fatalf("building the server without -race: %v", plainBuild.err)
	}
	return plainBuild.path
}

// proc is one run of the server binary.
type proc struct {
	cmd    *exec.Cmd
	stdout strings.Builder
	stderr syncBuffer
	ready  string        // the --ready-file it writes once it listens
	exited chan struct{} // closed once the process is reaped
	err    error         // cmd.Wait's result, after exited
}

type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sb.WriteString(line + "\n")
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// launch starts the binary with args, and --ready-file unless args name one; the process is
// killed if the test ends first.
func launch(t *testing.T, args ...string) *proc {
	t.Helper()
	return launchBinary(t, binary, args...)
}

// launchBinary is launch of the server built at bin.
func launchBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{exited: make(chan struct{})}
	if i := slices.Index(args, "--ready-file"); i >= 0 && i+1 < len(args) {
		p.ready = args[i+1]
	} else {
		p.ready = filepath.Join(t.TempDir(), "server.ready")
		args = append(args, "--ready-file", p.ready)
	}
	p.cmd = exec.Command(bin, args...)
	// A race-enabled binary otherwise sleeps a second at exit, waiting for late reports.
	p.cmd.Env = append(os.Environ(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.stderr.add(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pipe)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitListening returns the address the server listens on, from its ready file, or fails
// with its log.
func (p *proc) waitListening(t *testing.T) string {
	t.Helper()
	return waitReadyFile(t, p, p.ready)[0]
}

// wait returns the exit code once the process ends, failing the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("the server did not exit within %s:\n%s", timeout, p.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("waiting for the server: %v", p.err)
	}
	return 0
}

// stop sends SIGTERM and expects a clean exit within a few seconds.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, p.stderr.String())
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeFile writes content to a file of the test's own directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
