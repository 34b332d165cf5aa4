package contract

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The admission messages and RPCs carry upstream 0.5's names, numbers and types
// (admission.md §4.1): an upstream client and this server must read each other's bytes.
func TestAdmissionWireShapes(t *testing.T) {
	type field struct {
		name     string
		number   protoreflect.FieldNumber
		kind     protoreflect.Kind
		repeated bool
	}
	want := map[protoreflect.ProtoMessage][]field{
		&AdmitRequest{}: {{"policy", 1, protoreflect.StringKind, false}, {"key", 2, protoreflect.StringKind, false},
			{"cost", 3, protoreflect.Int64Kind, false}, {"hold", 4, protoreflect.Int64Kind, false}, {"value", 5, protoreflect.Int64Kind, false}},
		&AdmitResponse{}: {{"decision", 1, protoreflect.MessageKind, false}, {"lease_id", 2, protoreflect.StringKind, false},
			{"lease_expires_at", 3, protoreflect.Int64Kind, false}, {"binding_axis", 4, protoreflect.StringKind, false},
			{"policy_denied", 5, protoreflect.BoolKind, false}},
		&ReleaseRequest{}:   {{"lease_id", 1, protoreflect.StringKind, false}, {"dropped", 2, protoreflect.BoolKind, false}},
		&ReleaseResponse{}:  {},
		&HeartbeatRequest{}: {{"lease_ids", 1, protoreflect.StringKind, true}},
		&HeartbeatResponse{}: {{"live_ids", 1, protoreflect.StringKind, true}, {"reclaimed_ids", 2, protoreflect.StringKind, true},
			{"next_deadline", 3, protoreflect.Int64Kind, false}},
	}
	for msg, fields := range want {
		d := msg.ProtoReflect().Descriptor()
		if d.FullName().Parent() != "throttlekit.v1" {
			t.Errorf("%s is not in package throttlekit.v1", d.FullName())
		}
		if d.Fields().Len() != len(fields) {
			t.Errorf("%s has %d fields, want %d", d.FullName(), d.Fields().Len(), len(fields))
		}
		for _, f := range fields {
			fd := d.Fields().ByName(protoreflect.Name(f.name))
			if fd == nil || fd.Number() != f.number || fd.Kind() != f.kind || fd.IsList() != f.repeated {
				t.Errorf("%s.%s: got %v, want number %d kind %v repeated %v", d.FullName(), f.name, fd, f.number, f.kind, f.repeated)
			}
		}
	}
	svc := File_throttlekit_proto.Services().ByName("RateLimiter")
	for _, rpc := range []struct{ name, in, out string }{
		{"Admit", "AdmitRequest", "AdmitResponse"},
		{"Release", "ReleaseRequest", "ReleaseResponse"},
		{"Heartbeat", "HeartbeatRequest", "HeartbeatResponse"},
	} {
		m := svc.Methods().ByName(protoreflect.Name(rpc.name))
		if m == nil || string(m.Input().Name()) != rpc.in || string(m.Output().Name()) != rpc.out || m.IsStreamingClient() || m.IsStreamingServer() {
			t.Errorf("RateLimiter.%s: %v", rpc.name, m)
		}
	}
}
