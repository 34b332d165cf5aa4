package testenv

import "google.golang.org/grpc/mem"

// RawCodec sends and receives gRPC message bodies as they are (*[]byte), for tests that send
// a server bytes no client would: pass it with grpc.ForceCodecV2.
type RawCodec struct{}

func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// Name is "proto": the server reads the body as the protobuf it expects.
func (RawCodec) Name() string { return "proto" }
