package main

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/policy"
)

// flagNames lists every defined flag as the help text spells it: -c, --config, ...
func flagNames() []string {
	var names []string
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		names = append(names, dashes+f.Name)
	})
	return names
}

func TestParseFlagsDefaults(t *testing.T) {
	t.Setenv(regionEnv, "")
	t.Setenv(fleetSecretEnv, "")
	cfg, err := parseFlags([]string{"-c", "x.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{configPath: "x.yaml", host: "0.0.0.0", port: 50051, store: storeMemory,
		timeout: 500 * time.Millisecond, leaseTTL: 2 * time.Second, logFormat: "text", logLevel: "info", failMode: "open",
		metricsHost: "127.0.0.1", metricsPort: metricsOff,
		maxConnections: 1000, maxStreams: 100, connIdle: 5 * time.Minute, connAge: 30 * time.Minute,
		connAgeGrace: 10 * time.Second, keepaliveMinTime: 10 * time.Second, handshakeTimeout: 10 * time.Second,
		maxKeysPerCall: 1000, region: "default"}
	if *cfg != want {
		t.Fatalf("got %+v\nwant %+v", *cfg, want)
	}
}

func TestShortAndLongNamesShareTheirValue(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "a.yaml", "-p", "7"},
		{"--config", "a.yaml", "--port", "7"},
		{"--config=a.yaml", "-port=7"},
	} {
		cfg, err := parseFlags(args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if cfg.configPath != "a.yaml" || cfg.port != 7 {
			t.Errorf("%v: config %q port %d", args, cfg.configPath, cfg.port)
		}
	}
}

func TestStoreIsInferredFromRedis(t *testing.T) {
	cfg, err := parseFlags([]string{"-c", "x", "--redis", "redis://127.0.0.1:6379/0"})
	if err != nil || cfg.store != storeRedis {
		t.Fatalf("--redis without --store: %+v, %v; want the redis store", cfg, err)
	}
	cfg, err = parseFlags([]string{"-c", "x", "--store", "redis", "--redis", "redis://h"})
	if err != nil || cfg.store != storeRedis {
		t.Fatalf("--store redis --redis URL: %+v, %v", cfg, err)
	}
}

// --memory-max-bytes reaches the embedded engine: a cap under two small keys keeps one.
func TestMemoryMaxBytesReachesTheEngine(t *testing.T) {
	cfg, err := parseFlags([]string{"-c", "x", "--memory-max-bytes", "500"})
	if err != nil || cfg.memoryBytes != 500 {
		t.Fatalf("--memory-max-bytes 500: %+v, %v", cfg, err)
	}
	set, err := policy.Parse([]byte("limiters:\n  p: { strategy: fixedWindow, limit: 5, windowMs: 60000 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	eng := st.backend.(*client.EngineBackend)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := eng.Check(context.Background(), "p", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	if s := eng.Stats(); s.LiveKeys != 1 || s.Evictions != 2 || s.Bytes > 500 {
		t.Fatalf("three keys under a 500-byte cap: %+v, want one held and two evicted", s)
	}
}

func TestFlagRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "x", "--timeout", "0s"}, "--timeout"},
		{[]string{"-c", "x", "--log-format", "xml"}, "--log-format"},
		{[]string{"-c", "x", "--log-level", "loud"}, "--log-level"},
		{[]string{"-c", "x", "--host", ""}, "--host"},
		{[]string{"-c", "x", "-p", "-1"}, "--port"},
		{[]string{"-c", "x", "--max-connections", "0"}, "--max-connections"},
		{[]string{"-c", "x", "--max-concurrent-streams", "0"}, "--max-concurrent-streams"},
		{[]string{"-c", "x", "--max-keys-per-call", "-1"}, "--max-keys-per-call"},
		{[]string{"-c", "x", "--max-connection-idle", "0s"}, "--max-connection-idle"},
		{[]string{"-c", "x", "--max-connection-age", "-1s"}, "--max-connection-age"},
		{[]string{"-c", "x", "--max-connection-age-grace", "0s"}, "--max-connection-age-grace"},
		{[]string{"-c", "x", "--keepalive-min-time", "0s"}, "--keepalive-min-time"},
		{[]string{"-c", "x", "--handshake-timeout", "0s"}, "--handshake-timeout"},
		{[]string{"-c", "x", "--memory-max-bytes", "-1"}, "--memory-max-bytes"},
		{[]string{"-c", "x", "--local-max-keys", "-1"}, "--local-max-keys"},
		{[]string{"-c", "x", "--redis", "redis://h", "--memory-max-bytes", "1000"}, "--memory-max-bytes"},
	} {
		if _, err := parseFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "localhost": true, "127.1.2.3": true,
		"0.0.0.0": false, "::": false, "10.0.0.1": false, "example.com": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
