// Package driver runs the C ABI on a Redis Cluster and behind Sentinel: each test starts a
// topology (internal/testenv/rediscluster), runs tests/scaleout/bin/test_scaleout (test_scaleout.c,
// built with tests/scaleout/Makefile against build/lib) with the URL in its environment, and
// then checks on the servers where the program's counts landed. (The Go test lives in a
// directory of its own: Go refuses C sources in a package that does not use cgo.)
//
// The library must be built first (`make lib`; `make test` does). Without it, a C compiler or
// make, a test is skipped locally and fails under CI=true.
package driver

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  string
)

// program builds bin/test_scaleout (once per test binary) and returns its path.
func program(t *testing.T) string {
	t.Helper()
	lib := filepath.Join("..", "..", "..", "build", "lib")
	for _, f := range []string{"libthrottlekit.so", "libthrottlekit-core.so"} {
		if _, err := os.Stat(filepath.Join(lib, f)); err != nil {
			testenv.Require(t, "build/lib/"+f+" is missing: run `make lib` at the repo root")
		}
	}
	if newer := newerSource(filepath.Join(lib, "libthrottlekit-core.so")); newer != "" {
		testenv.Require(t, "build/lib/libthrottlekit-core.so is older than "+newer+": run `make lib` at the repo root")
	}
	for _, bin := range []string{"make", "cc"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Require(t, bin+" is not installed")
		}
	}
	buildOnce.Do(func() {
		out, err := exec.Command("make", "--no-print-directory", "-C", "..").CombinedOutput()
		buildOut, buildErr = string(out), err
	})
	if buildErr != nil {
		t.Fatalf("make -C tests/scaleout: %v\n%s", buildErr, buildOut)
	}
	abs, err := filepath.Abs(filepath.Join("..", "bin", "test_scaleout"))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// newerSource returns a Go source of the core (what the Makefile's GO_SOURCES names: non-test
// .go files outside bench/, the Lua scripts) newer than the library lib, or "".
func newerSource(lib string) string {
	st, err := os.Stat(lib)
	if err != nil {
		return lib
	}
	root := filepath.Join("..", "..", "..")
	found := ""
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipAll
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "bench" || name == "build" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		core := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") ||
			filepath.Base(filepath.Dir(path)) == "luascripts"
		if core {
			if info, err := d.Info(); err == nil && info.ModTime().After(st.ModTime()) {
				found, _ = filepath.Rel(root, path)
			}
		}
		return nil
	})
	return found
}

var summary = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// run runs the C program with env and keys, and requires it to pass everything.
func run(t *testing.T, prog string, env map[string]string, keys []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, keys...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	text := string(out)
	if secret := env["TK_SCALEOUT_SECRET"]; secret != "" {
		text = strings.ReplaceAll(text, secret, "[the password]")
	}
	t.Logf("test_scaleout (%s):\n%s", time.Since(start).Round(time.Millisecond), text)
	m := summary.FindAllStringSubmatch(string(out), -1)
	if err != nil || len(m) == 0 {
		t.Fatalf("test_scaleout: %v, summary %v", err, m)
	}
	last := m[len(m)-1]
	if passed, _ := strconv.Atoi(last[1]); last[2] != "0" || passed < 50 {
		t.Fatalf("test_scaleout: %s passed, %s failed", last[1], last[2])
	}
}

// clusterKeys returns perMaster keys of policy fw in ns for each master of c.
func clusterKeys(t *testing.T, c *rediscluster.Cluster, ns string, perMaster int) ([]string, map[string]*rediscluster.Server) {
	t.Helper()
	owners := c.Owners(t)
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3", len(masters))
	}
	count := map[*rediscluster.Server]int{}
	owner := map[string]*rediscluster.Server{}
	var keys []string
	for i := 0; len(keys) < perMaster*len(masters); i++ {
		k := "user-" + strconv.Itoa(i)
		o := owners[rediscluster.Slot(ns+":fw:"+k)]
		if count[o] < perMaster {
			count[o]++
			owner[k] = o
			keys = append(keys, k)
		}
	}
	return keys, owner
}

// requireCounts checks that each key's fixedWindow count is 4 on the server owner names.
func requireCounts(t *testing.T, ns string, keys []string, owner func(k string) *rediscluster.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for _, k := range keys {
		s := owner(k)
		seen[s.Addr] = true
		v, err := s.Client().HGet(ctx, ns+":fw:"+k, "c").Int64()
		if err != nil || v != 4 {
			t.Errorf("key %s: count %d on %s (%v), want 4", k, v, s.Addr, err)
		}
	}
	t.Logf("%d keys, counts checked on %d servers", len(keys), len(seen))
}

func TestCABIOnCluster(t *testing.T) {
	prog := program(t)
	c := rediscluster.StartCluster(t, 3, 0)
	ns := testenv.Namespace(t)
	keys, owner := clusterKeys(t, c, ns, 2)
	run(t, prog, map[string]string{"TK_SCALEOUT_URL": c.URL(), "TK_SCALEOUT_NS": ns}, keys)
	requireCounts(t, ns, keys, func(k string) *rediscluster.Server { return owner[k] })
}

// The same over rediss+cluster:// with a password: tls_ca_file, the C library's own dialer
// wrapped in TLS, and a wrong password answered TK_E_AUTH without showing it.
func TestCABIOnClusterTLSAndPassword(t *testing.T) {
	const password = "c-abi:s3cret@tls/pw"
	prog := program(t)
	c := rediscluster.StartClusterWith(t, 3, 0, rediscluster.Options{Password: password, TLS: true})
	ns := testenv.Namespace(t)
	keys, owner := clusterKeys(t, c, ns, 2)
	good := c.URL()
	bad := strings.Replace(good, url.PathEscape(password), "wrong-"+url.PathEscape(password), 1)
	if bad == good || !strings.HasPrefix(good, "rediss+cluster://") {
		t.Fatalf("unexpected harness URL shape")
	}
	run(t, prog, map[string]string{"TK_SCALEOUT_URL": good, "TK_SCALEOUT_NS": ns, "TK_SCALEOUT_CA": c.CAFile(),
		"TK_SCALEOUT_BAD_URL": bad, "TK_SCALEOUT_SECRET": "s3cret"}, keys)
	requireCounts(t, ns, keys, func(k string) *rediscluster.Server { return owner[k] })
}

// redis+sentinel:// with the data servers' password; the counts are on the master.
func TestCABIOnSentinel(t *testing.T) {
	const password = "c-abi:s3cret@sentinel"
	prog := program(t)
	s := rediscluster.StartSentinelWith(t, "capi", 1, 3, rediscluster.Options{Password: password})
	ns := testenv.Namespace(t)
	var keys []string
	for i := 0; i < 5; i++ {
		keys = append(keys, fmt.Sprintf("user-%d", i))
	}
	good := s.URL()
	bad := strings.Replace(good, url.PathEscape(password), "wrong-"+url.PathEscape(password), 1)
	if bad == good || !strings.HasPrefix(good, "redis+sentinel://") {
		t.Fatalf("unexpected harness URL shape")
	}
	run(t, prog, map[string]string{"TK_SCALEOUT_URL": good, "TK_SCALEOUT_NS": ns,
		"TK_SCALEOUT_BAD_URL": bad, "TK_SCALEOUT_SECRET": "s3cret"}, keys)
	requireCounts(t, ns, keys, func(string) *rediscluster.Server { return s.Data[0] })
}
