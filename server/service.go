package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/policy"
)

// Options configure a Service. The zero value serves on the store's clock, logs nothing and
// leaves call bounds to the caller's deadline and the backend's own timeout.
type Options struct {
	// Clock returns the instant, in epoch ms, a call is evaluated at. nil leaves time to the
	// store (the Redis server's clock, so that a fleet never disagrees); tests inject one to
	// replay golden vectors.
	Clock func() int64
	// Logger receives store failures, logic faults and recovered panics; nil discards them.
	Logger *slog.Logger
	// Timeout bounds each backend call in addition to the caller's own deadline: a client
	// asking for 30 s must not hold a store call that long. 0 adds no bound.
	Timeout time.Duration
	// FailMode is what a Check or CheckMany answers when the store is unavailable or times
	// out (wire-contract.md): client.FailOpen or client.FailClosed synthesize a decision and
	// flag it with the `throttlekit-synthesized: 1` response header; the zero value,
	// client.FailError, answers UNAVAILABLE.
	FailMode client.FailMode
	// Observer, when non-nil, receives decisions and store failures (metrics).
	Observer Observer
	// Recorder, when non-nil, receives every decision with its key (the Monitor service).
	Recorder Recorder
	// MaxKeysPerCall caps the keys of one CheckMany: a longer list answers INVALID_ARGUMENT
	// naming the cap, and nothing is charged. 0 means DefaultMaxKeysPerCall; negative, no cap.
	MaxKeysPerCall int
	// InProcessStore says that the backend computes in this process (the embedded engine;
	// a *client.EngineBackend is recognised without it): its timeouts are this server's own
	// work not finishing within Timeout, not a store outage, so no fail mode answers for
	// them and the caller gets UNAVAILABLE.
	InProcessStore bool
	// Shadow admits every check the limiters deny, flagged (a shadow switch for the whole
	// server, as a policy's shadow: true is for one policy): a rollout watched in metrics.
	Shadow bool
	// LeaseTTL is how long an admission lease lives unless renewed (admission.md §4.2);
	// 0 means client.DefaultLeaseTTL. Keep it well above clients' heartbeat interval (1 s).
	LeaseTTL time.Duration
}

// DefaultMaxKeysPerCall is the CheckMany cap when Options leave it 0 (wire-contract.md).
const DefaultMaxKeysPerCall = 1000

// Service implements contract.RateLimiterServer over a client.Limiter. It is safe for
// concurrent use; register it with contract.RegisterRateLimiterServer.
type Service struct {
	// Unimplemented methods of later contract versions answer UNIMPLEMENTED by themselves.
	contract.UnimplementedRateLimiterServer

	backend  client.Limiter
	calls    client.Limiter // backend, or backend at the injected clock
	timeout  time.Duration
	log      *slog.Logger
	storeLog *rateLimitedLog
	failMode client.FailMode
	observer Observer
	recorder Recorder
	maxKeys  int  // 0: no cap
	local    bool // the store computes in this process: its timeouts are ours
	shadow   bool // Options.Shadow

	// Admission (admission_rpc.go): nil admitter when the backend offers none.
	admitter  client.Admitter
	clock     func() int64
	leaseTTL  time.Duration
	leases    *leaseTable
	sweepOnce sync.Once
	closeOnce sync.Once
	stopSweep chan struct{}
	swept     chan struct{}
}

var _ contract.RateLimiterServer = (*Service)(nil)

// New returns a Service answering from backend. The caller keeps ownership of backend and
// closes it after the gRPC server has stopped.
func New(backend client.Limiter, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var calls client.Limiter = backend
	if opts.Clock != nil {
		calls = atClock{backend, opts.Clock}
	}
	maxKeys := opts.MaxKeysPerCall
	switch {
	case maxKeys == 0:
		maxKeys = DefaultMaxKeysPerCall
	case maxKeys < 0:
		maxKeys = 0
	}
	_, engine := backend.(*client.EngineBackend)
	admitter, _ := backend.(client.Admitter)
	leaseTTL := opts.LeaseTTL
	if leaseTTL <= 0 {
		leaseTTL = client.DefaultLeaseTTL
	}
	if l, ok := backend.(interface{ SetLeaseTTL(time.Duration) }); ok {
		l.SetLeaseTTL(leaseTTL)
	}
	return &Service{
		admitter:  admitter,
		clock:     opts.Clock,
		leaseTTL:  leaseTTL,
		leases:    newLeaseTable(),
		stopSweep: make(chan struct{}),
		swept:     make(chan struct{}),
		backend:   backend,
		calls:     calls,
		timeout:   opts.Timeout,
		log:       log,
		storeLog:  newRateLimitedLog(log, time.Second),
		failMode:  opts.FailMode,
		observer:  opts.Observer,
		recorder:  opts.Recorder,
		maxKeys:   maxKeys,
		local:     opts.InProcessStore || engine,
		shadow:    opts.Shadow,
	}
}

// policyHolder is what both client backends offer for swapping policies at run time.
type policyHolder interface {
	SetPolicies(*policy.Set) error
	Policies() *policy.Set
}

// SetPolicies swaps the backend's policy set atomically (calls in flight finish with the old
// one), e.g. on a reload. A backend that cannot swap answers client.ErrUnsupported; a set
// the backend refuses leaves the old one in force and answers client.ErrConfig.
func (s *Service) SetPolicies(set *policy.Set) error {
	h, ok := s.backend.(policyHolder)
	if !ok {
		return &client.Error{Kind: client.ErrUnsupported, Msg: "this backend cannot swap its policies at run time"}
	}
	return h.SetPolicies(set)
}

// Policies returns the policy set in force, or nil when the backend does not expose it.
func (s *Service) Policies() *policy.Set {
	if h, ok := s.backend.(policyHolder); ok {
		return h.Policies()
	}
	return nil
}

// bound applies the Service's timeout on top of the caller's deadline.
func (s *Service) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}
