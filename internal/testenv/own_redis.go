package testenv

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// OwnRedis is a redis-server of the test's own, never the shared one: on a port fixed at its
// start, so that Kill and Start bring it down and back in the same place.
type OwnRedis struct {
	tb   testing.TB
	port int
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts a redis-server with extra arguments on a free loopback port; it is killed
// when the test ends. Without redis-server the test stops (skipped locally, failed in CI).
func StartRedis(tb testing.TB, args ...string) *OwnRedis {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Require(tb, "redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &OwnRedis{tb: tb, port: l.Addr().(*net.TCPAddr).Port, args: args}
	_ = l.Close()
	r.Start()
	tb.Cleanup(r.Kill)
	return r
}

// Addr is host:port.
func (r *OwnRedis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is the server's redis:// URL, database 0.
func (r *OwnRedis) URL() string { return "redis://" + r.Addr() + "/0" }

// Start (re)starts the server and waits until it answers PING.
func (r *OwnRedis) Start() {
	r.tb.Helper()
	argv := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no",
		"--dir", r.tb.TempDir()}, r.args...)
	r.cmd = exec.Command("redis-server", argv...)
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", r.Addr())
		if err == nil {
			_ = c.Close()
			if r.answers() {
				return
			}
		}
		if time.Now().After(deadline) {
			r.tb.Fatal("our redis-server did not come up within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answers reports whether the server answers PING (a password refusal counts: it is up).
func (r *OwnRedis) answers() bool {
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	var replyErr redis.Error
	return err == nil || (err != nil && isReply(err, &replyErr))
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *OwnRedis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func isReply(err error, target *redis.Error) bool { return errors.As(err, target) }
