// Package rediscluster starts throwaway Redis topologies for tests: a Redis Cluster and a
// Sentinel set, made of real redis-server processes on free loopback ports, each in its own
// directory under the test's temp dir, with no persistence. Every process is killed when the
// test ends (t.Cleanup), and by the kernel if the test binary dies first (Linux).
//
// StartClusterWith and StartSentinelWith add a password, TLS (with a CA made for the test), or
// both (Options); the harness's own clients and redis-cli use them too.
//
// Without redis-server or redis-cli a test is skipped locally and fails under CI=true, as
// testenv.Require does.
package rediscluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// Require stops the test (skip locally, fail under CI=true) when redis-server or redis-cli is
// missing.
func Require(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Require(tb, bin+" is not installed (apt-get install redis-server)")
		}
	}
}

// Server is one redis-server process (a cluster node, a replica or a sentinel).
type Server struct {
	Addr string // 127.0.0.1:port
	Port int
	dir  string

	cmd    *exec.Cmd
	exited chan struct{}
	kill   sync.Once

	password  string      // what the admin client authenticates with ("" for none)
	tlsConfig *tls.Config // nil: plain TCP

	mu     sync.Mutex
	client *redis.Client
}

// Client is a plain client on this one server (no redirections followed), for inspecting and
// administering it. It is closed when the test ends.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{
			Addr: s.Addr, Password: s.password, TLSConfig: s.tlsConfig,
			DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
			WriteTimeout: 2 * time.Second, MaxRetries: -1, Protocol: 2, DisableIdentity: true,
		})
	}
	return s.client
}

// Alive reports whether the process still runs.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone; a second call does nothing.
func (s *Server) Kill() {
	s.kill.Do(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		_ = s.cmd.Process.Kill()
	})
	<-s.exited
}

// Log returns the server's log file, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

func (s *Server) closeClient() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// group owns the servers of one topology and stops them all when the test ends.
type group struct {
	tb      testing.TB
	dir     string
	opts    Options
	pki     *pki // nil without TLS
	mu      sync.Mutex
	servers []*Server
}

func newGroup(tb testing.TB, opts Options) *group {
	tb.Helper()
	Require(tb)
	g := &group{tb: tb, dir: tb.TempDir(), opts: opts}
	// Registered after TempDir, so it runs before the directory is removed.
	tb.Cleanup(g.stop)
	if opts.TLS {
		p, err := newPKI(filepath.Join(g.dir, "tls"))
		if err != nil {
			tb.Fatalf("rediscluster: making the test CA: %v", err)
		}
		g.pki = p
	}
	return g
}

func (g *group) stop() {
	g.mu.Lock()
	servers := g.servers
	g.servers = nil
	g.mu.Unlock()
	for _, s := range servers {
		s.closeClient()
		s.Kill()
	}
}

// portPair picks a port p free on the loopback, with p+10000 (a cluster node's bus port)
// free too. Both stay below Linux's ephemeral range (32768+), where outgoing connections would
// otherwise take them. Another process may still take one before the server binds it: start
// retries with another pair when the server exits.
func portPair(withBus bool) int {
	for {
		p := 15000 + rand.IntN(7000)
		l1, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		if withBus {
			l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000)))
			if err != nil {
				_ = l1.Close()
				continue
			}
			_ = l2.Close()
		}
		_ = l1.Close()
		return p
	}
}

// start runs a redis-server on a free port with the given extra arguments (args returns them
// for the port and the server's own directory), or a sentinel when conf is non-nil (conf
// writes the configuration file for the port and directory). It returns once the server
// answers PING.
func (g *group) start(name string, withBus bool, args func(port int, dir string) []string, conf func(port int, dir string) string) *Server {
	g.tb.Helper()
	var lastLog string
	for attempt := 0; attempt < 8; attempt++ {
		port := portPair(withBus)
		dir := filepath.Join(g.dir, fmt.Sprintf("%s-%d", name, port))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			g.tb.Fatalf("rediscluster: %v", err)
		}
		argv := []string{}
		if conf != nil {
			path := filepath.Join(dir, "sentinel.conf")
			if err := os.WriteFile(path, []byte(conf(port, dir)), 0o644); err != nil {
				g.tb.Fatalf("rediscluster: %v", err)
			}
			argv = append(argv, path, "--sentinel")
		} else {
			if g.pki != nil {
				argv = append(argv, g.pki.serverArgs(port, withBus)...)
			} else {
				argv = append(argv, "--port", strconv.Itoa(port))
			}
			if g.opts.Password != "" {
				argv = append(argv, "--requirepass", g.opts.Password, "--masterauth", g.opts.Password)
			}
			argv = append(argv,
				"--bind", "127.0.0.1", "--dir", dir,
				"--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no",
				"--save", "", "--appendonly", "no",
				// Replicas sync at once instead of waiting 5 s for more replicas to join.
				"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
			argv = append(argv, args(port, dir)...)
		}
		cmd := exec.Command("redis-server", argv...)
		cmd.Dir = dir
		cmd.SysProcAttr = sysProcAttr()
		if err := cmd.Start(); err != nil {
			g.tb.Fatalf("rediscluster: starting redis-server: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, dir: dir,
			cmd: cmd, exited: make(chan struct{})}
		if conf == nil {
			s.password = g.opts.Password
		}
		if g.pki != nil {
			s.tlsConfig = g.pki.clientTLS()
		}
		go func() { _ = cmd.Wait(); close(s.exited) }()
		g.mu.Lock()
		g.servers = append(g.servers, s)
		g.mu.Unlock()

		if s.waitPing(10 * time.Second) {
			return s
		}
		lastLog = s.Log()
		s.Kill()
	}
	g.tb.Fatalf("rediscluster: redis-server %s did not start; last log:\n%s", name, lastLog)
	return nil
}

// waitPing waits until the server answers PING; false if it exited or the time ran out.
func (s *Server) waitPing(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !s.Alive() {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := s.Client().Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// waitFor polls cond every 50 ms until it returns nil, failing the test with cond's last
// error after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("rediscluster: %s: not reached within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// infoField reads one field of INFO section.
func infoField(ctx context.Context, c *redis.Client, section, field string) (string, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, field)
}

// Role is "master" or "slave" as INFO replication says.
func (s *Server) Role(ctx context.Context) (string, error) {
	return infoField(ctx, s.Client(), "replication", "role")
}

// replicaLinkUp fails unless the server is a replica whose link to its master is up.
func (s *Server) replicaLinkUp(ctx context.Context) error {
	v, err := infoField(ctx, s.Client(), "replication", "master_link_status")
	if err != nil {
		return fmt.Errorf("%s: %w", s.Addr, err)
	}
	if v != "up" {
		return fmt.Errorf("%s: master_link_status:%s", s.Addr, v)
	}
	return nil
}

// cli runs redis-cli with the group's TLS arguments and password (in the environment).
func (g *group) cli(ctx context.Context, args ...string) (string, error) {
	args = append(g.cliArgs(), args...)
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	cmd.Env = append(os.Environ(), g.cliEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
