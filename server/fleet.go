package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
)

// BatchHeader is the response header (ours) of a Reserve: the policy's federated batch, so
// that library clients size their reserves as the server's own Tier 1 does.
const BatchHeader = "throttlekit-batch"

// Reserver is what a backend offers to serve Fleet.Reserve: *client.RedisBackend.
type Reserver interface {
	ReserveAt(ctx context.Context, policy, domain string, want, nowMs int64) (client.Lease, error)
}

// FleetService implements contract.FleetServer (two-tier.md §6.3) over a Service's backend:
// budget of federated policies handed to clients. Who may call it is the transport's
// business (cmd/throttlekit-server: the fleet secret, else loopback peers only).
type FleetService struct {
	contract.UnimplementedFleetServer
	svc      *Service
	reserver Reserver
}

// NewFleetService serves Reserve from svc's backend; false when that backend cannot
// federate (the embedded engine).
func NewFleetService(svc *Service) (*FleetService, bool) {
	r, ok := svc.backend.(Reserver)
	return &FleetService{svc: svc, reserver: r}, ok
}

var errNoFleet = status.Error(codes.Unimplemented, "unknown service "+contract.Fleet_ServiceDesc.ServiceName)

// Reserve leases budget of a federated policy: NOT_FOUND for any other policy, UNIMPLEMENTED
// for the concurrency axis, INTERNAL when the coordinator fails.
func (f *FleetService) Reserve(ctx context.Context, req *contract.ReserveRequest) (resp *contract.ReserveResponse, err error) {
	defer f.recoverPanic(req.GetPolicy(), &err)
	set := f.svc.Policies()
	if !f.federatedInForce() {
		return nil, errNoFleet // as if absent: no federated policy is in force
	}
	p, ok := set.Lookup(req.GetPolicy())
	if !ok || p.Federated == nil {
		return nil, status.Errorf(codes.NotFound, "fleet: no leasable policy %q (Reserve serves the federated policies of this server)",
			boundMessage(req.GetPolicy()))
	}
	if req.GetAxis() == contract.Axis_AXIS_CONCURRENCY {
		return nil, status.Error(codes.Unimplemented, "fleet: the concurrency axis is not leasable")
	}
	want := req.GetWants()
	if want <= 0 {
		want = 1
	}
	var now int64
	if f.svc.clock != nil {
		now = f.svc.clock()
	}
	ctx, cancel := f.svc.bound(ctx)
	defer cancel()
	lease, rerr := f.reserver.ReserveAt(ctx, p.Name, req.GetCaller().GetDomain(), want, now)
	if rerr != nil {
		return nil, f.coordinatorFailed(ctx, p.Name, rerr)
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(BatchHeader, strconv.FormatInt(p.Federated.Batch, 10)))
	return &contract.ReserveResponse{Lease: &contract.Lease{Capacity: lease.Capacity, ExpiryMs: lease.ExpiryMs,
		RefreshIntervalMs: lease.RefreshIntervalMs, SafeCapacity: lease.SafeCapacity,
		RetryAfterMs: lease.RetryAfterMs, Limit: lease.Limit}}, nil
}

// coordinatorFailed is INTERNAL whatever the failure (upstream's status), the details logged.
func (f *FleetService) coordinatorFailed(ctx context.Context, policyName string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, client.ErrInternal) {
		return status.FromContextError(cerr).Err()
	}
	f.svc.storeLog.Warn("the federation coordinator failed a Reserve", "policy", policyName, "error", err.Error())
	return status.Error(codes.Internal, "fleet: the coordinator failed (details are in the server log)")
}

// recoverPanic turns a panic into INTERNAL, the stack logged, as guard does for the
// RateLimiter's RPCs (whose errors guard also maps; Reserve's are statuses already).
func (f *FleetService) recoverPanic(policyName string, errp *error) {
	if r := recover(); r != nil {
		f.svc.log.Error("panic while serving a call", "method", "Reserve", "policy", policyName,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*errp = status.Error(codes.Internal, "internal error")
	}
}

// federatedInForce tells whether the policy set in force holds a federated policy (else the
// service answers as if absent).
func (f *FleetService) federatedInForce() bool {
	set := f.svc.Policies()
	if set == nil {
		return false
	}
	for _, name := range set.Names() {
		if p, _ := set.Lookup(name); p != nil && p.Federated != nil {
			return true
		}
	}
	return false
}
