package client_test

import (
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// The service door's decisions carry the override flag the server's store set
// (the throttlekit-override header), for single checks and batches.
func TestOverrideFlagOnTheServiceDoor(t *testing.T) {
	store := openEngine(t, overridePolicies, client.EngineOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	contract.RegisterRateLimiterServer(srv, server.New(store, server.Options{}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	svc, err := client.OpenService(lis.Addr().String(), client.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	for key, allowed := range map[string]bool{"vip": true, "banned": false} {
		d, err := svc.Check(ctx, "tiers", key, 1)
		if err != nil || d.Allowed != allowed || !d.Override {
			t.Errorf("%s: %+v, %v", key, d, err)
		}
	}
	if d, err := svc.Check(ctx, "tiers", "x", 1); err != nil || d.Override {
		t.Errorf("plain key: %+v, %v", d, err)
	}
	ds, err := svc.CheckMany(ctx, "tiers", []string{"x", "banned", "gold"}, 1)
	if err != nil || ds[0].Override || !ds[1].Override || !ds[2].Override || ds[2].Limit != 4 {
		t.Errorf("CheckMany: %+v, %v", ds, err)
	}
	if err := store.SetOverride(ctx, "tiers", "x", "deny", 0); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.Check(ctx, "tiers", "x", 1); err != nil || d.Allowed || !d.Override {
		t.Errorf("after a record in the server's store: %+v, %v", d, err)
	}
}
