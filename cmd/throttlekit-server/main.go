// Command throttlekit-server serves the ThrottleKit gRPC contract throttlekit.v1 over a
// policy file, from the embedded engine or a Redis shared by a fleet. `--help` documents the
// flags.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered for a second signal: the first asks for a graceful stop, the second for an
	// immediate one.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, signals))
}
