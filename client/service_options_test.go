package client_test

import (
	"errors"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

func TestServiceOptionsRefusedAtOpen(t *testing.T) {
	for _, o := range []client.ServiceOptions{
		{AuthToken: "two words"},
		{AuthToken: "line\nbreak"},
		{AuthToken: "caf\u00e9"},
		{TLSCAFile: "/nonexistent/ca.pem"},
		{TLSCertFile: "/nonexistent/c.pem"}, // a key is missing too
	} {
		if _, err := client.OpenService("127.0.0.1:50051", o); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want ErrInvalidArgument", o, err)
		}
	}
	b, err := client.OpenService("127.0.0.1:50051", client.ServiceOptions{AuthToken: "ok-token_1.2~"})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
}
