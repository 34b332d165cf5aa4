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
	// Buffered for a second signal: the first stop signal asks for a graceful stop, the
	// second for an immediate one; SIGHUP reloads the policy file.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, signals))
}
