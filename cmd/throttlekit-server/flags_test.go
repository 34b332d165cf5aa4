package main

import (
	"flag"
	"strings"
	"testing"
	"time"
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
	cfg, err := parseFlags([]string{"-c", "x.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{configPath: "x.yaml", host: "0.0.0.0", port: 50051, store: storeMemory,
		timeout: 500 * time.Millisecond, logFormat: "text", logLevel: "info", failMode: "open",
		metricsHost: "127.0.0.1", metricsPort: metricsOff}
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
