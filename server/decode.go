package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// RequestDecoding returns the gRPC server options under which a request body that does not
// decode answers INVALID_ARGUMENT (wire-contract.md), not gRPC's own INTERNAL ("failed to
// unmarshal"): a malformed request is the caller's mistake, not the server's fault.
//
// gRPC wraps any codec error in INTERNAL and writes that status itself, before a handler or
// an interceptor could change it. So the codec here never fails: a body that does not
// decode leaves the message empty and is noted, and an interceptor, first in the chain,
// answers INVALID_ARGUMENT for it before any handler runs. Install these options before any
// other interceptor, so that every noted message is collected.
func RequestDecoding() []grpc.ServerOption {
	d := &decodeCheck{codec: encoding.GetCodecV2(proto.Name)}
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(d),
		grpc.ChainUnaryInterceptor(d.unary),
		grpc.ChainStreamInterceptor(d.stream),
	}
}

// decodeCheck is the protobuf codec, with the failures of Unmarshal kept aside by message
// until the interceptor of the call collects them.
type decodeCheck struct {
	codec  encoding.CodecV2
	failed sync.Map // request message (a pointer) -> the decoder's error
}

func (d *decodeCheck) Marshal(v any) (mem.BufferSlice, error) { return d.codec.Marshal(v) }

func (d *decodeCheck) Name() string { return d.codec.Name() }

func (d *decodeCheck) Unmarshal(data mem.BufferSlice, v any) error {
	if err := d.codec.Unmarshal(data, v); err != nil {
		if m, ok := v.(interface{ Reset() }); ok {
			m.Reset() // nothing half-decoded reaches anyone
		}
		d.failed.Store(v, err)
	}
	return nil
}

// collect answers INVALID_ARGUMENT if req did not decode, and forgets it.
func (d *decodeCheck) collect(method string, req any) error {
	v, ok := d.failed.LoadAndDelete(req)
	if !ok {
		return nil
	}
	return status.Error(codes.InvalidArgument, boundMessage("malformed request body for "+method+": "+v.(error).Error()))
}

func (d *decodeCheck) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := d.collect(info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (d *decodeCheck) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &decodeCheckedStream{ServerStream: ss, d: d, method: info.FullMethod})
}

// decodeCheckedStream collects each message it receives (streams decode in RecvMsg, after
// the interceptors ran).
type decodeCheckedStream struct {
	grpc.ServerStream
	d      *decodeCheck
	method string
}

func (s *decodeCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.d.collect(s.method, m)
}
