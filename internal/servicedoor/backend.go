package servicedoor

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/tlsconf"
	"github.com/throttlekit/throttlekit-go/policy"
)

// SynthesizedHeader is the response header a server sets on a decision its fail mode made.
const SynthesizedHeader = "throttlekit-synthesized"

// ShadowHeader is the response header (ours) listing the indexes, comma-separated, of the
// decisions a shadow-mode policy admitted (see front.Decision.Shadow): "0" for a Check.
const ShadowHeader = "throttlekit-shadow"

// OverrideHeader is the response header (ours) listing, like ShadowHeader, the indexes of the
// decisions a key's override made (see front.Decision.Override).
const OverrideHeader = "throttlekit-override"

// Options configure a Backend.
type Options struct {
	// Timeout bounds a call whose context carries no deadline; 0 means front.DefaultTimeout.
	Timeout time.Duration
	// TLSCAFile is a PEM bundle of the CAs that sign the server's certificate. Setting it, or
	// a client certificate, turns TLS on (with the system's CAs when TLSCAFile is empty);
	// otherwise the connection is plaintext.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a client certificate for a server that requires mutual
	// TLS (--tls-ca); given together.
	TLSCertFile, TLSKeyFile string
	// AuthToken, when set, is sent with every call as `authorization: Bearer <token>` (the
	// server's --auth-token-file). Over plaintext it travels in the clear: use TLS beyond
	// loopback.
	AuthToken string
	// DisableAutoPipeline sends every Check as its own RPC. By default, Checks of one policy
	// and cost that arrive while others are in flight travel together as one CheckMany RPC
	// (the decisions concurrent Checks would get, for far less CPU on both ends); a lone
	// caller is never delayed either way.
	DisableAutoPipeline bool
	// FleetSecret, when set, is sent as `x-fleet-secret` with Fleet.Reserve calls (the
	// server's --fleet-secret), which serve federated policies from credits this door holds.
	// Without it, a server answers Reserve to loopback callers only; refused, the door
	// checks those policies with Check RPCs.
	FleetSecret string
}

// Backend reaches throttlekit-server over gRPC (throttlekit.v1): the service door.
// One connection, opened lazily and shared by every call; safe for concurrent use. Decisions
// are the server's; explicit clocks are not offered by this door (the *At methods answer
// front.ErrUnsupported).
type Backend struct {
	conn    *grpc.ClientConn
	rpc     contract.RateLimiterClient
	timeout time.Duration
	checks  *coalesce.Coalescer[checkReq] // every Check of a plain policy goes through it
	fleet   *fleet                        // federated policies: reserved credits (fleet.go)
}

var _ front.Door = (*Backend)(nil)

// Open prepares a client for the server at target ("host:port"). Nothing is dialled
// yet: reachability shows per call.
func Open(target string, opts Options) (*Backend, error) {
	if err := validateTarget(target); err != nil {
		return nil, err
	}
	dialOpts, err := serviceDialOptions(opts)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+target, dialOpts...)
	if err != nil {
		return nil, front.NewError(front.ErrInvalidArgument, "service target %q: %v", target, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = front.DefaultTimeout
	}
	rpc := contract.NewRateLimiterClient(conn)
	return &Backend{conn: conn, rpc: rpc, timeout: timeout, checks: newServiceBatcher(rpc, opts.DisableAutoPipeline),
		fleet: newFleet(conn, opts.FleetSecret)}, nil
}

// serviceDialOptions turns the options into transport credentials and per-call metadata.
// Files are read here, once: a missing or malformed one is an invalid argument at open.
func serviceDialOptions(opts Options) ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if opts.TLSCAFile != "" || opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		// The server name is the target's host, which grpc fills in from the authority.
		cfg, err := tlsconf.Build("", tlsconf.Files{CA: opts.TLSCAFile, Cert: opts.TLSCertFile, Key: opts.TLSKeyFile})
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		// gRPC's default backoff grows to 2 minutes, and calls fail at once meanwhile: after a
		// server restart a handle would keep failing long after the server is back. A rate
		// limiter should find its server again within about a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})}
	if opts.AuthToken != "" {
		for _, r := range opts.AuthToken {
			if r <= ' ' || r > '~' {
				return nil, front.NewError(front.ErrInvalidArgument, "the auth token holds a character that cannot travel in a header (printable ASCII without spaces only)")
			}
		}
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearerToken("Bearer "+opts.AuthToken)))
	}
	return dialOpts, nil
}

// bearerToken sends `authorization: Bearer <token>` with every call. It does not require a
// secure transport: an operator who runs plaintext has chosen to.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

func validateTarget(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil || host == "" || strings.ContainsAny(host, " /@?#") {
		return front.NewError(front.ErrInvalidArgument, "service target %q: expected host:port, e.g. 127.0.0.1:50051", target)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return front.NewError(front.ErrInvalidArgument, "service target %q: bad port %q", target, port)
	}
	return nil
}

// Close closes the connection. Later calls fail with front.ErrUnavailable.
func (b *Backend) Close() error { return b.conn.Close() }

// Decide makes a Check, Peek or Debit RPC (see front.Door).
func (b *Backend) Decide(ctx context.Context, op front.Op, policy, key string, amount, nowMs int64) (front.Decision, error) {
	if op == front.OpCheck {
		if d, served, err := b.fleetCheck(ctx, policy, key, amount, nowMs); served {
			return d, err
		}
	}
	if err := checkRequest(policy, amount, op.AmountName(), key, nowMs); err != nil {
		return front.Decision{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var d *contract.Decision
	var header metadata.MD
	var err error
	switch op {
	case front.OpCheck:
		var reply any
		if reply, err = b.checks.Do(ctx, checkReq{policy: policy, key: key, cost: amount}); err == nil {
			return reply.(front.Decision), nil
		}
	case front.OpPeek:
		var resp *contract.PeekResponse
		resp, err = b.rpc.Peek(ctx, &contract.PeekRequest{Policy: policy, Key: key}, grpc.Header(&header))
		d = resp.GetDecision()
	case front.OpDebit:
		var resp *contract.DebitResponse
		resp, err = b.rpc.Debit(ctx, &contract.DebitRequest{Policy: policy, Key: key, Tokens: amount}, grpc.Header(&header))
		d = resp.GetDecision()
	case front.OpRefund:
		var resp *contract.RefundResponse
		resp, err = b.rpc.Refund(ctx, &contract.RefundRequest{Policy: policy, Key: key, Cost: amount}, grpc.Header(&header))
		d = resp.GetDecision()
	case front.OpReset:
		_, err = b.rpc.Reset(ctx, &contract.ResetRequest{Policy: policy, Key: key})
		if err != nil {
			return front.Decision{}, serviceError(err)
		}
		return front.Decision{}, nil
	default:
		return front.Decision{}, front.NewError(front.ErrInternal, "%s is not a decision", op)
	}
	if err != nil {
		return front.Decision{}, serviceError(err)
	}
	return flagsOf(header).decision(d, 0), nil
}

// DecideMany sends one CheckMany RPC (see front.Door).
func (b *Backend) DecideMany(ctx context.Context, policy string, keys []string, cost, nowMs int64) ([]front.Decision, error) {
	if ds, served, err := b.fleetCheckMany(ctx, policy, keys, cost, nowMs); served {
		return ds, err
	}
	if err := checkRequest(policy, cost, "cost", "", nowMs); err != nil {
		return nil, err
	}
	for i, k := range keys {
		if err := validateServiceKey(k); err != nil {
			return nil, front.NewError(front.ErrInvalidArgument, "keys[%d]: %s", i, err.Error())
		}
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var header metadata.MD
	resp, err := b.rpc.CheckMany(ctx, &contract.CheckManyRequest{Policy: policy, Keys: keys, Cost: cost}, grpc.Header(&header))
	if err != nil {
		return nil, serviceError(err)
	}
	if len(resp.GetDecisions()) != len(keys) {
		return nil, front.NewError(front.ErrInternal, "the server answered %d decisions for %d keys", len(resp.GetDecisions()), len(keys))
	}
	out := make([]front.Decision, len(keys))
	flags := flagsOf(header)
	for i, d := range resp.GetDecisions() {
		out[i] = flags.decision(d, i)
	}
	return out, nil
}

// DecideAll sends one CheckAll RPC (see front.Door).
func (b *Backend) DecideAll(ctx context.Context, items []front.CheckItem, nowMs int64) ([]front.Decision, error) {
	req := &contract.CheckAllRequest{Items: make([]*contract.CheckAllItem, len(items))}
	for i, it := range items {
		err := checkRequest(it.Policy, it.Cost, "cost", "", nowMs)
		if err == nil {
			err = validateServiceKey(it.Key)
		}
		if err != nil {
			return nil, front.ItemError(i, err)
		}
		req.Items[i] = &contract.CheckAllItem{Policy: it.Policy, Key: it.Key, Cost: it.Cost}
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var header metadata.MD
	resp, err := b.rpc.CheckAll(ctx, req, grpc.Header(&header))
	if err != nil {
		return nil, serviceError(err)
	}
	if len(resp.GetDecisions()) != len(items) {
		return nil, front.NewError(front.ErrInternal, "the server answered %d decisions for %d items", len(resp.GetDecisions()), len(items))
	}
	out := make([]front.Decision, len(items))
	flags := flagsOf(header)
	for i, d := range resp.GetDecisions() {
		out[i] = flags.decision(d, i)
	}
	return out, nil
}

// Foresee sends one Forecast RPC (see front.Door).
func (b *Backend) Foresee(ctx context.Context, policy, key string, cost, nowMs int64) (front.Forecast, error) {
	if err := checkRequest(policy, cost, "cost", key, nowMs); err != nil {
		return front.Forecast{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	resp, err := b.rpc.Forecast(ctx, &contract.ForecastRequest{Policy: policy, Key: key, Cost: cost})
	if err != nil {
		return front.Forecast{}, serviceError(err)
	}
	f := resp.GetForecast()
	return front.Forecast{SpendableNow: f.GetSpendableNow(), NextReplenishAt: f.GetNextReplenishAt(), FullAt: f.GetFullAt()}, nil
}

var errNoClock = front.NewError(front.ErrUnsupported, "explicit clocks are not available through the service door (the server's clock decides)")

func (b *Backend) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.timeout)
}

// checkRequest applies, before sending, the rules every door shares, so that a program
// behaves the same whichever door it uses: the server alone would read a negative cost as 1.
func checkRequest(policyName string, amount int64, amountName, key string, nowMs int64) error {
	if nowMs != 0 {
		return errNoClock
	}
	if policyName == "" {
		return front.NewError(front.ErrInvalidArgument, "policy name is empty")
	}
	if _, err := front.NormalizeAmount(amountName, amount); err != nil {
		return err
	}
	return validateServiceKey(key)
}

// validateServiceKey adds the service door's rule to the common key rule: a proto3 string
// must be valid UTF-8.
func validateServiceKey(key string) error {
	if err := front.ValidateKey(key); err != nil {
		return err
	}
	if !utf8.ValidString(key) {
		return front.NewError(front.ErrInvalidArgument, "key is not valid UTF-8: the service door carries keys as proto3 strings (the Redis door accepts any bytes)")
	}
	return nil
}

// wireFlags are the decision flags a response's headers carry, read once per response.
type wireFlags struct {
	synthesized bool
	shadow      map[int]bool // the indexes of the decisions a shadow admitted
	override    map[int]bool // the indexes of the decisions an override made
	windows     []int64      // the policy windows (WindowHeader)
}

func flagsOf(header metadata.MD) wireFlags {
	f := wireFlags{shadow: ShadowIndexes(header.Get(ShadowHeader)), windows: windows(header.Get(WindowHeader)),
		override: ShadowIndexes(header.Get(OverrideHeader))}
	for _, v := range header.Get(SynthesizedHeader) {
		f.synthesized = f.synthesized || v == "1"
	}
	return f
}

// decision is the i-th decision of the response (0 for a single one), with its flags.
func (f wireFlags) decision(d *contract.Decision, i int) front.Decision {
	return front.Decision{Allowed: d.GetAllowed(), Limit: d.GetLimit(), Remaining: d.GetRemaining(),
		ResetAt: d.GetResetAt(), RetryAfterMs: d.GetRetryAfterMs(), Synthesized: f.synthesized,
		Shadow: f.shadow[i], WindowMs: windowAt(f.windows, i), Override: f.override[i]}
}

// serviceError maps a gRPC status to the error kinds every door shares.
func serviceError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &front.Error{Kind: front.ErrTimeout, Msg: "service: the call's deadline passed", Cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return &front.Error{Kind: front.ErrTimeout, Msg: "service: the call was canceled", Cause: err}
	}
	var e *front.Error
	if errors.As(err, &e) {
		return err
	}
	s, _ := status.FromError(err)
	kind := front.KindOf(s.Code())
	if kind == front.ErrUnavailable && (strings.Contains(s.Message(), "tls:") || strings.Contains(s.Message(), "x509:") ||
		strings.Contains(s.Message(), "authentication handshake failed")) {
		kind = front.ErrAuth
	}
	return &front.Error{Kind: kind, Msg: "service: " + s.Message(), Cause: err}
}

// Policies is nil: the server holds them.
func (b *Backend) Policies() *policy.Set { return nil }
