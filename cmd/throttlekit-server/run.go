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
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
	"github.com/throttlekit/throttlekit-go/server/monitor"
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
	if cfg.check {
		return checkPolicyFile(cfg.configPath, stdout, stderr)
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
	cfg     *config
	log     *slog.Logger
	store   *store
	svc     *server.Service
	monitor *monitor.Monitor // the Monitor service's records; closed first on a stop
	lis     net.Listener
	grpc    *grpc.Server
	health  *healthReporter
	metrics *metrics
	httpSrv *metricsServer // nil without --metrics-port
	ready   *readyFile     // nil without --ready-file
}

func start(cfg *config, log *slog.Logger) (*app, error) {
	set, err := loadPolicies(cfg.configPath, log)
	if err == nil {
		err = canServe(cfg, set)
	}
	if err != nil {
		return nil, err
	}
	var token string
	if cfg.authFile != "" {
		if token, err = readToken(cfg.authFile); err != nil {
			return nil, err
		}
	}
	m := newMetrics()
	opts, err := serverOptions(cfg, token)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cfg, set)
	if err != nil {
		return nil, fmt.Errorf("cannot open the %s store: %w", cfg.store, err)
	}
	h := newHealthReporter()
	if err := st.ping(context.Background(), cfg.timeout); err != nil {
		h.setServing(false)
		log.Warn("the store does not answer yet; health is NOT_SERVING until it does", "error", err.Error())
	}
	lis, err := listen(cfg.host, cfg.port)
	if err != nil {
		_ = st.close()
		return nil, err
	}
	lis = limitConnections(lis, cfg.maxConnections, m, log)
	if !isLoopback(cfg.host) && !cfg.tlsOn() {
		log.Warn("listening beyond loopback without TLS: anyone who can reach this address can make and watch calls unencrypted",
			"host", cfg.host)
	}
	a := &app{cfg: cfg, log: log, store: st, lis: lis, grpc: grpc.NewServer(opts...), health: h, metrics: m}
	if cfg.metricsPort != metricsOff {
		if a.httpSrv, err = startMetrics(cfg, m, h, log); err != nil {
			_ = lis.Close()
			_ = st.close()
			return nil, err
		}
	}
	a.monitor = monitor.New(monitor.Options{NodeID: lis.Addr().String()})
	a.svc = server.New(st.backend, server.Options{Logger: log, Timeout: cfg.timeout, FailMode: cfg.failModeValue(), Observer: m,
		Recorder: a.monitor, MaxKeysPerCall: cfg.maxKeysPerCall, InProcessStore: cfg.store == storeMemory, Shadow: cfg.shadow,
		LeaseTTL: cfg.leaseTTL})
	contract.RegisterRateLimiterServer(a.grpc, a.svc)
	monSvc := server.NewMonitorService(a.monitor, a.svc)
	contract.RegisterMonitorServer(a.grpc, monSvc)
	a.registerFleet(set)
	m.reg.MustRegister(newMonitorCollector(monSvc.Snapshot))
	healthpb.RegisterHealthServer(a.grpc, a.health.srv)
	m.policies.Set(float64(set.Len()))

	// Once every listener is open, so that whoever waits for the file may connect at once;
	// before the listening line, so that a reader of the log finds the file written.
	if cfg.readyFile != "" {
		if a.ready, err = writeReadyFile(cfg.readyFile, readyFileContent(lis.Addr().String(), a.httpSrv.addr())); err != nil {
			a.httpSrv.stop()
			_ = lis.Close()
			_ = st.close()
			return nil, err
		}
	}
	attrs := append([]any{slog.String("addr", lis.Addr().String())}, st.logAttrs(cfg)...)
	attrs = append(attrs, slog.Int("policies", set.Len()), slog.String("timeout", cfg.timeout.String()),
		slog.String("fail", cfg.failMode), slog.String("tls", tlsMode(cfg)), slog.Bool("auth_token", token != ""))
	if cfg.readyFile != "" {
		attrs = append(attrs, slog.String("ready_file", cfg.readyFile))
	}
	if cfg.shadow {
		attrs = append(attrs, slog.Bool("shadow", true))
	}
	log.Info("listening", attrs...)
	if token != "" && cfg.monitorSecret != "" {
		log.Warn("the monitor secret is not used: with a shared token, Monitor calls need the token, like every call")
	} else if token == "" && cfg.monitorSecret == "" && !isLoopback(cfg.host) {
		log.Info("the Monitor service answers loopback callers only (no --monitor-secret and no token)")
	}
	return a, nil
}

// removeReadyFile withdraws the ready file as the server stops serving.
func (a *app) removeReadyFile() {
	if err := a.ready.remove(); err != nil {
		a.log.Warn("cannot remove the ready file", "file", a.cfg.readyFile, "error", err.Error())
	}
}

func tlsMode(cfg *config) string {
	switch {
	case cfg.tlsCA != "":
		return "mutual"
	case cfg.tlsOn():
		return "on"
	}
	return "off"
}

// The server's own keepalive pings (fixed; documented with --keepalive-min-time): a peer
// that looks idle is pinged after keepaliveTime and dropped when it does not answer within
// keepaliveTimeout, so a vanished client does not hold its connection and calls.
const (
	keepaliveTime    = time.Minute
	keepaliveTimeout = 20 * time.Second
)

// maxHeaderListBytes bounds the request headers (metadata) of one call; gRPC's own default is
// 16 MiB, which a caller could make the server hold on every stream.
const maxHeaderListBytes = 64 << 10

// serverOptions gathers the transport's options: the bounds of a public port, the request
// decoding, TLS credentials and the token check. (Metrics come from the service itself,
// which sees decisions and store errors, and from the listener, which counts connections.)
func serverOptions(cfg *config, token string) ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(cfg.maxStreams)),
		grpc.ConnectionTimeout(cfg.handshakeTimeout),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     cfg.connIdle,
			MaxConnectionAge:      cfg.connAge,
			MaxConnectionAgeGrace: cfg.connAgeGrace,
			Time:                  keepaliveTime,
			Timeout:               keepaliveTimeout,
		}),
		// Pings without a call in progress are allowed (at that rate): the idle timeout closes
		// such a connection anyway.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.keepaliveMinTime, PermitWithoutStream: true}),
	}
	// Before anything else sees the call: a stream without the token (or, with none, a
	// Monitor call its rules refuse) is refused as its headers arrive, before its body is
	// read or decoded and before a handler runs. gRPC takes one tap: it is either.
	mon := monitorAuth([]byte(cfg.monitorSecret))
	fleet := fleetAuth([]byte(cfg.fleetSecret))
	if token != "" {
		opts = append(opts, grpc.InTapHandle(bothTaps(tokenAuth{want: []byte(token)}.tap, fleet.tap)))
	} else {
		opts = append(opts, grpc.InTapHandle(bothTaps(mon.tap, fleet.tap)))
	}
	// Its interceptor first: it must see every call, to answer a body that did not decode.
	opts = append(opts, server.RequestDecoding()...)
	if cfg.tlsOn() {
		creds, certCheck, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(creds))
		if certCheck != nil { // mutual TLS: before the token check
			opts = append(opts, grpc.ChainUnaryInterceptor(certCheck.unary), grpc.ChainStreamInterceptor(certCheck.stream))
		}
	}
	if token != "" {
		auth := tokenAuth{want: []byte(token)}
		opts = append(opts, grpc.ChainUnaryInterceptor(auth.unary), grpc.ChainStreamInterceptor(auth.stream))
	} else {
		opts = append(opts, grpc.ChainUnaryInterceptor(mon.unary), grpc.ChainStreamInterceptor(mon.stream))
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(fleet.unary))
	return opts, nil
}

// reload reads the policy file again and swaps it in atomically. A file with errors leaves
// the policies in force; calls in flight finish with the set they started with.
func (a *app) reload() {
	path := a.cfg.configPath
	set, err := loadPolicies(path, a.log)
	if err == nil {
		err = canServe(a.cfg, set)
	}
	if err == nil {
		err = a.svc.SetPolicies(set)
	}
	if err != nil {
		a.log.Error("policy reload failed: the policies in force stay", "file", path, "error", err.Error())
		return
	}
	a.metrics.policies.Set(float64(set.Len()))
	a.monitor.Retain(set.Names())
	a.logFederated(set)
	a.log.Info("policies reloaded", "file", path, "policies", set.Len())
}

// serve answers calls until the first stop signal (SIGHUP reloads the policies), then drains:
// health turns NOT_SERVING, new calls are refused, calls in flight get shutdownGrace to finish
// (a second stop signal cuts that short), and the store closes last, once nothing can use it.
func (a *app) serve(signals <-chan os.Signal) int {
	served := make(chan error, 1)
	go func() { served <- a.grpc.Serve(a.lis) }()
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		a.health.probe(probeCtx, a.store, a.cfg.timeout, a.log)
	}()
	defer func() {
		stopProbe()
		<-probed
		a.httpSrv.stop()
	}()

wait:
	for {
		select {
		case err := <-served:
			a.log.Error("serving failed", "error", err.Error())
			a.removeReadyFile()
			a.grpc.Stop()
			stopProbe()
			<-probed
			a.closeStore()
			return exitFailure
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				a.reload()
				continue
			}
			a.log.Info("shutting down", "signal", sig.String(), "grace", shutdownGrace.String())
			break wait
		}
	}

	a.health.shutdown()
	a.removeReadyFile() // no longer ready: new calls are refused from here on
	// Watch streams never end by themselves: end them, or the drain would wait its grace out.
	a.monitor.Close()
	stopProbe()
	<-probed
	drained := make(chan struct{})
	go func() {
		a.grpc.GracefulStop()
		close(drained)
	}()
	timer := time.NewTimer(shutdownGrace)
	defer timer.Stop()
drain:
	for {
		select {
		case <-drained:
			break drain
		case <-timer.C:
			a.log.Warn("grace period over: cutting the calls still in flight", "grace", shutdownGrace.String())
			a.grpc.Stop()
			break drain
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				continue // no reload while draining
			}
			a.log.Warn("second signal: stopping at once", "signal", sig.String())
			a.grpc.Stop()
			break drain
		}
	}
	<-drained
	a.svc.Close()
	a.closeStore()
	a.log.Info("stopped")
	return exitOK
}

func (a *app) closeStore() {
	if err := a.store.close(); err != nil {
		a.log.Warn("closing the store", "error", err.Error())
	}
}
