package client

import "github.com/throttlekit/throttlekit-go/internal/servicedoor"

// SynthesizedHeader is the response header a server sets on a decision its fail mode made.
const SynthesizedHeader = servicedoor.SynthesizedHeader

// ShadowHeader is the response header (ours) listing the indexes of the decisions a
// shadow-mode policy admitted.
const ShadowHeader = servicedoor.ShadowHeader

// ShadowHeaderValue is the ShadowHeader value for ds ("" when none is a shadow's).
func ShadowHeaderValue(ds []Decision) string {
	return servicedoor.ShadowValue(func(i int) bool { return ds[i].Shadow }, len(ds))
}

// OverrideHeader is the response header (ours) listing the indexes of the decisions a key's
// override made.
const OverrideHeader = servicedoor.OverrideHeader

// OverrideHeaderValue is the OverrideHeader value for ds ("" when no override decided).
func OverrideHeaderValue(ds []Decision) string {
	return servicedoor.ShadowValue(func(i int) bool { return ds[i].Override }, len(ds))
}

// WindowHeader is the response header (ours) carrying the decisions' policy windows.
const WindowHeader = servicedoor.WindowHeader

// WindowHeaderValue is the WindowHeader value for ds ("" when no window is known).
func WindowHeaderValue(ds []Decision) string {
	return servicedoor.WindowValue(func(i int) int64 { return ds[i].WindowMs }, len(ds))
}

// ServiceOptions configure a ServiceBackend: the call timeout (0: DefaultTimeout), TLS files
// (a CA bundle, or a client certificate, turns TLS on), an AuthToken sent as `authorization:
// Bearer <token>`, and DisableAutoPipeline (by default, concurrent Checks of one policy and
// cost travel together as one CheckMany RPC).
type ServiceOptions = servicedoor.Options

// ServiceBackend reaches throttlekit-server over gRPC (throttlekit.v1): the service door.
// One connection, opened lazily and shared by every call; safe for concurrent use. Decisions
// are the server's; explicit clocks are not offered by this door (the *At methods answer
// ErrUnsupported).
type ServiceBackend struct{ backend }

var _ Limiter = (*ServiceBackend)(nil)

// OpenService prepares a client for the server at target ("host:port"). Nothing is dialled
// yet: reachability shows per call.
func OpenService(target string, opts ServiceOptions) (*ServiceBackend, error) {
	b, err := servicedoor.Open(target, opts)
	if err != nil {
		return nil, err
	}
	return &ServiceBackend{newBackend(b)}, nil
}
