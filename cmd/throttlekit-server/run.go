package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// shutdownGrace bounds how long calls in flight may take to finish after a stop signal.
const shutdownGrace = 10 * time.Second

// Exit codes: 0 after a clean stop (or --help), 1 when startup or serving fails, 2 for a
// command line that cannot run.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run is the whole program: parse, start, serve until a signal arrives on signals.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", progName, err, progName)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	a, err := start(cfg, log)
	if err != nil {
		log.Error("startup failed", "error", err.Error())
		return exitFailure
	}
	return a.serve(signals)
}

// app is a started server: listening, not yet serving.
type app struct {
	log    *slog.Logger
	store  *store
	lis    net.Listener
	grpc   *grpc.Server
	health *healthReporter
}

func start(cfg *config, log *slog.Logger) (*app, error) {
	set, err := loadPolicies(cfg.configPath, log)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg, set)
	if err != nil {
		return nil, fmt.Errorf("cannot open the %s store: %w", cfg.store, err)
	}
	if err := st.ping(context.Background(), cfg.timeout); err != nil {
		log.Warn("the store does not answer yet; calls fail until it does", "error", err.Error())
	}
	lis, err := listen(cfg.host, cfg.port)
	if err != nil {
		_ = st.close()
		return nil, err
	}
	if !isLoopback(cfg.host) {
		log.Warn("listening beyond loopback without TLS: anyone who can reach this address can make and watch calls unencrypted",
			"host", cfg.host)
	}

	a := &app{log: log, store: st, lis: lis, grpc: grpc.NewServer(serverOptions(cfg)...), health: newHealthReporter()}
	contract.RegisterRateLimiterServer(a.grpc, server.New(st.backend, server.Options{Logger: log, Timeout: cfg.timeout}))
	healthpb.RegisterHealthServer(a.grpc, a.health.srv)

	attrs := append([]any{slog.String("addr", lis.Addr().String())}, st.logAttrs(cfg)...)
	attrs = append(attrs, slog.Int("policies", set.Len()), slog.String("timeout", cfg.timeout.String()))
	log.Info("listening", attrs...)
	return a, nil
}

// serverOptions is where the transport's options gather: TLS credentials and the
// interceptors (authentication, metrics) arrive here without touching the rest.
func serverOptions(*config) []grpc.ServerOption {
	return nil
}

// serve answers calls until the first signal, then drains: health turns NOT_SERVING, new
// calls are refused, calls in flight get shutdownGrace to finish (a second signal cuts that
// short), and the store closes last, once nothing can use it.
func (a *app) serve(signals <-chan os.Signal) int {
	served := make(chan error, 1)
	go func() { served <- a.grpc.Serve(a.lis) }()

	select {
	case err := <-served:
		a.log.Error("serving failed", "error", err.Error())
		a.grpc.Stop()
		a.closeStore()
		return exitFailure
	case sig := <-signals:
		a.log.Info("shutting down", "signal", sig.String(), "grace", shutdownGrace.String())
	}

	a.health.shutdown()
	drained := make(chan struct{})
	go func() {
		a.grpc.GracefulStop()
		close(drained)
	}()
	timer := time.NewTimer(shutdownGrace)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		a.log.Warn("grace period over: cutting the calls still in flight", "grace", shutdownGrace.String())
		a.grpc.Stop()
	case sig := <-signals:
		a.log.Warn("second signal: stopping at once", "signal", sig.String())
		a.grpc.Stop()
	}
	<-drained
	a.closeStore()
	a.log.Info("stopped")
	return exitOK
}

func (a *app) closeStore() {
	if err := a.store.close(); err != nil {
		a.log.Warn("closing the store", "error", err.Error())
	}
}
