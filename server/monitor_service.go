package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server/monitor"
)

// MonitorService implements contract.MonitorServer: the read-only snapshot and denial stream
// of what a Service decided, as recorded by a monitor.Monitor given to it as its Recorder.
// It answers anyone who reaches it: who may (the keys it reports are personal data) is the
// transport's decision (cmd/throttlekit-server).
type MonitorService struct {
	contract.UnimplementedMonitorServer
	mon *monitor.Monitor
	svc *Service // for the policies in force
}

var _ contract.MonitorServer = (*MonitorService)(nil)

// NewMonitorService reports mon, which must be svc's Recorder, over svc's policies.
func NewMonitorService(mon *monitor.Monitor, svc *Service) *MonitorService {
	return &MonitorService{mon: mon, svc: svc}
}

// GetSnapshot reports the analytics window of every configured policy, in name order.
func (m *MonitorService) GetSnapshot(context.Context, *contract.GetSnapshotRequest) (*contract.GetSnapshotResponse, error) {
	return &contract.GetSnapshotResponse{Snapshot: snapshotMessage(m.Snapshot())}, nil
}

// Snapshot is the monitor's state for the policies in force (also what metrics export).
func (m *MonitorService) Snapshot() monitor.Snapshot {
	set := m.svc.Policies()
	infos := make([]monitor.PolicyInfo, 0, set.Len())
	for _, name := range set.Names() {
		p, _ := set.Lookup(name)
		info := monitor.PolicyInfo{Name: name, Strategy: string(p.Strategy), Limit: p.ReportedLimit()}
		if p.IsAdmitter() {
			// Upstream's kind for Admit policies; the ceiling before it adapts.
			info.Kind, info.Limit = "admitter", p.Concurrency.InitialLimit
		}
		infos = append(infos, info)
	}
	return m.mon.Snapshot(infos)
}

// Watch streams the denials of req.policy ("" for all) as they happen, until the caller
// hangs up or the server stops; at most monitor.WatchRate a second, the rest dropped.
func (m *MonitorService) Watch(req *contract.WatchRequest, stream grpc.ServerStreamingServer[contract.WatchResponse]) error {
	if p := req.GetPolicy(); p != "" {
		if _, ok := m.svc.Policies().Lookup(p); !ok {
			return status.Error(codes.NotFound, boundMessage(fmt.Sprintf("unknown policy %q: Watch takes a configured policy, or \"\" for all", clipName(p))))
		}
	}
	w, err := m.mon.Subscribe(req.GetPolicy())
	if err != nil {
		return monitorStatus(err)
	}
	defer w.Close()
	// Headers now, so that the caller knows the stream is live before the first denial.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		d, err := w.Next(stream.Context())
		if err != nil {
			return monitorStatus(err)
		}
		if err := stream.Send(&contract.WatchResponse{Denial: denialMessage(d)}); err != nil {
			return err
		}
	}
}

func monitorStatus(err error) error {
	switch {
	case errors.Is(err, monitor.ErrTooManyWatchers):
		return status.Error(codes.ResourceExhausted, fmt.Sprintf("%v (at most %d): try again later", err, monitor.MaxWatchers))
	case errors.Is(err, monitor.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "internal error")
}

// clipName bounds a caller's name quoted back in a message.
func clipName(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}
