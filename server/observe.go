package server

import (
	"context"
	"errors"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Observer receives what the service decides and how its store fails, for metrics. Methods
// are called on the serving goroutines and must be safe for concurrent use and quick.
type Observer interface {
	// Decided reports the decisions of one Check, CheckMany or Debit call that answered, and
	// how long it took. policy is a configured policy name or "unknown", never a caller's
	// arbitrary string, so that it can serve as a metric label.
	Decided(policy string, ds []client.Decision, elapsed time.Duration)
	// StoreError reports one failed store call: kind is "unavailable", "timeout", "auth" or
	// "internal". Request errors (unknown policy, bad argument, unsupported operation) and
	// callers giving up are not store errors.
	StoreError(kind string)
}

// Recorder receives every decision with the key it was for: the Monitor service's
// analytics (server/monitor). Same rules as Observer: safe for concurrent use, and quick,
// since it runs on the call's own goroutine before the answer is sent.
type Recorder interface {
	// Record reports one Check, CheckMany or Debit call that answered at the instant at:
	// keys[i] got ds[i], and the call took elapsed. policy is always a configured name.
	Record(policy string, keys []string, ds []client.Decision, at time.Time, elapsed time.Duration)
}

// UnknownPolicyLabel stands for any policy name that is not configured.
const UnknownPolicyLabel = "unknown"

// policyLabel bounds label cardinality: only names of the policy set in force pass.
func (s *Service) policyLabel(name string) string {
	if _, ok := s.Policies().Lookup(name); ok {
		return name
	}
	return UnknownPolicyLabel
}

// decided reports a call's decisions, for keys, to the observer and the recorder, if any.
func (s *Service) decided(policyName string, keys []string, start time.Time, ds ...client.Decision) {
	if s.observer == nil && s.recorder == nil {
		return
	}
	// One clock read for both: on some machines it costs as much as the rest of recording.
	end := time.Now()
	elapsed, label := end.Sub(start), s.policyLabel(policyName)
	if s.observer != nil {
		s.observer.Decided(label, ds, elapsed)
	}
	if s.recorder != nil && label != UnknownPolicyLabel {
		s.recorder.Record(label, keys, ds, end, elapsed)
	}
}

// storeFailed reports err to the observer when it is the store's failure. ctx is the
// caller's context (before the service's own bound): when it ended, the caller gave up.
func (s *Service) storeFailed(ctx context.Context, err error) {
	if s.observer == nil || err == nil || ctx.Err() != nil {
		return
	}
	if kind := storeErrorKind(err); kind != "" {
		s.observer.StoreError(kind)
	}
}

func storeErrorKind(err error) string {
	switch {
	case errors.Is(err, client.ErrPolicyNotFound), errors.Is(err, client.ErrInvalidArgument),
		errors.Is(err, client.ErrUnsupported):
		return ""
	case errors.Is(err, client.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, client.ErrTimeout):
		return "timeout"
	case errors.Is(err, client.ErrAuth):
		return "auth"
	}
	return "internal"
}

// markDecisions lists, in the response's headers, the decisions a shadow-mode policy admitted
// (throttlekit-shadow) and the policy windows (throttlekit-window-ms), so that the client's
// decisions carry them too.
func (s *Service) markDecisions(ctx context.Context, ds ...client.Decision) {
	var md metadata.MD
	if v := client.ShadowHeaderValue(ds); v != "" {
		md = metadata.Pairs(client.ShadowHeader, v)
	}
	if v := client.OverrideHeaderValue(ds); v != "" {
		md = metadata.Join(md, metadata.Pairs(client.OverrideHeader, v))
	}
	if v := client.WindowHeaderValue(ds); v != "" {
		md = metadata.Join(md, metadata.Pairs(client.WindowHeader, v))
	}
	if md == nil {
		return
	}
	if err := grpc.SetHeader(ctx, md); err != nil {
		s.log.Warn("cannot set the decision headers", "error", err.Error())
	}
}
