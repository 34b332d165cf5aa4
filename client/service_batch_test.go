package client_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// rpcCounts counts the RPCs a server receives, and the keys its CheckMany calls carry.
type rpcCounts struct{ checks, checkManys, batchedKeys atomic.Int64 }

func (c *rpcCounts) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	switch r := req.(type) {
	case *contract.CheckRequest:
		c.checks.Add(1)
	case *contract.CheckManyRequest:
		c.checkManys.Add(1)
		c.batchedKeys.Add(int64(len(r.GetKeys())))
	}
	return next(ctx, req)
}

// serveEngine runs the service on the embedded engine, in process, on loopback.
func serveEngine(t *testing.T, yaml string) (string, *rpcCounts) {
	t.Helper()
	eng, err := client.OpenEngine([]byte(yaml), client.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counts := &rpcCounts{}
	srv := grpc.NewServer(grpc.UnaryInterceptor(counts.intercept))
	contract.RegisterRateLimiterServer(srv, server.New(eng, server.Options{}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); _ = eng.Close() })
	return lis.Addr().String(), counts
}

// Concurrent Checks through the service door travel as CheckMany RPCs, and each caller sees
// exactly what it would see alone: 5 admitted with 4..0 left, then denials.
func TestServiceDoorBatchesConcurrentChecks(t *testing.T) {
	const callers, perCaller = 64, 20
	want := burstOfFive(perCaller)
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableAutoPipeline=%v", off), func(t *testing.T) {
			addr, counts := serveEngine(t, pipelinePolicies)
			b, err := client.OpenService(addr, client.ServiceOptions{Timeout: 5 * time.Second, DisableAutoPipeline: off})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			seqs := hammer(t, callers, perCaller, func(key string) (client.Decision, error) {
				return b.Check(ctx, "gcra", key, 1)
			})
			for g, s := range seqs {
				if !slices.Equal(s, want) {
					t.Fatalf("caller %d saw %v, want %v", g, s, want)
				}
			}
			calls := int64(callers * perCaller)
			rpcs := counts.checks.Load() + counts.checkManys.Load()
			t.Logf("%d checks: %d Check RPCs, %d CheckMany RPCs carrying %d keys", calls, counts.checks.Load(), counts.checkManys.Load(), counts.batchedKeys.Load())
			if got := counts.checks.Load() + counts.batchedKeys.Load(); got != calls {
				t.Errorf("%d checks reached the server as %d", calls, got)
			}
			if off && counts.checkManys.Load() != 0 {
				t.Errorf("batching off, yet %d CheckMany RPCs", counts.checkManys.Load())
			}
			if !off && rpcs*2 > calls {
				t.Errorf("%d concurrent checks took %d RPCs: nothing was batched", calls, rpcs)
			}
		})
	}
}

// Checks of different policies or costs never share a CheckMany: each gets its own policy's
// decision.
func TestServiceDoorBatchesOnlyLikeChecks(t *testing.T) {
	addr, _ := serveEngine(t, pipelinePolicies)
	b, err := client.OpenService(addr, client.ServiceOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for g := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			policy, cost, limit := "gcra", int64(1+g%2), int64(5)
			if g%3 == 0 {
				policy, limit = "fixed", 1000
			}
			d, err := b.Check(ctx, policy, fmt.Sprintf("mixed-%d", g), cost)
			if err != nil || !d.Allowed || d.Limit != limit || d.Remaining != limit-cost {
				t.Errorf("caller %d (%s, cost %d): %+v, %v", g, policy, cost, d, err)
			}
		}()
	}
	wg.Wait()
}
