package main

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartupErrors(t *testing.T) {
	good := writeFile(t, "good.yaml", policies)
	bad := writeFile(t, "bad.yaml", "limiters:\n  api: { strategy: gcra, limit: 10, period: 1m, burst: -3 }\n")
	missing := good + ".missing"
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	readyNoDir := filepath.Join(t.TempDir(), "no-such-dir", "server.ready")
	readyIsDir := t.TempDir()

	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no config", []string{"--port", "0"}, exitUsage, []string{"-c FILE", "--help"}},
		{"unreadable config", []string{"-c", missing}, exitFailure, []string{missing}},
		{"bad config", []string{"--config", bad}, exitFailure,
			[]string{bad, "config.limiters[api].burst: must be a whole number >= 1, got -3"}},
		{"bad store", []string{"-c", good, "--store", "disk"}, exitUsage, []string{`--store must be memory or redis, got "disk"`}},
		{"redis store without url", []string{"-c", good, "--store", "redis"}, exitUsage, []string{"--store redis needs --redis"}},
		{"memory store with url", []string{"-c", good, "--store", "memory", "--redis", "redis://127.0.0.1"}, exitUsage, []string{"--redis"}},
		{"bad redis url", []string{"-c", good, "--redis", "http://u:hunter2@h:1"}, exitFailure, []string{"unknown scheme", "xxxxx"}},
		{"taken port", []string{"-c", good, "--host", "127.0.0.1", "-p", takenPort}, exitFailure,
			[]string{"address 127.0.0.1:" + takenPort + " is already in use"}},
		{"bad port", []string{"-c", good, "--port", "70000"}, exitUsage, []string{"--port"}},
		{"unknown flag", []string{"-c", good, "--fial", "open"}, exitUsage, []string{"-fial"}},
		{"bad fail mode", []string{"-c", good, "--fail", "maybe"}, exitUsage, []string{`--fail must be open, closed or error, got "maybe"`}},
		{"tls cert without key", []string{"-c", good, "--tls-cert", good}, exitUsage, []string{"--tls-key"}},
		{"mtls without a cert", []string{"-c", good, "--tls-ca", good}, exitUsage, []string{"--tls-ca"}},
		{"bad tls files", []string{"-c", good, "--tls-cert", good, "--tls-key", good}, exitFailure, []string{"TLS"}},
		{"missing token file", []string{"-c", good, "--auth-token-file", missing}, exitFailure, []string{missing}},
		{"empty token", []string{"-c", good, "--auth-token-file", writeFile(t, "empty-token", " \n\t\n")}, exitFailure, []string{"empty"}},
		{"stray argument", []string{"-c", good, "extra"}, exitUsage, []string{`"extra"`}},
		{"ready file in a missing directory", []string{"-c", good, "--host", "127.0.0.1", "-p", "0", "--ready-file", readyNoDir},
			exitFailure, []string{"cannot write the ready file " + readyNoDir, "no such file or directory"}},
		{"ready file is a directory", []string{"-c", good, "--host", "127.0.0.1", "-p", "0", "--metrics-port", "0", "--ready-file", readyIsDir},
			exitFailure, []string{"cannot write the ready file " + readyIsDir, "it is a directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := launch(t, tc.args...)
			code := p.wait(t, 30*time.Second)
			stderr := p.stderr.String()
			if code != tc.code {
				t.Fatalf("exit code %d, want %d:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("stderr shows a password:\n%s", stderr)
			}
		})
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	p := launch(t, "--help")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("--help exited %d:\n%s", code, p.stderr.String())
	}
	out := p.stdout.String()
	for _, name := range flagNames() {
		if !strings.Contains(out, name+" ") && !strings.Contains(out, name+",") {
			t.Errorf("--help does not document %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "Example") {
		t.Errorf("--help shows no example:\n%s", out)
	}
}
