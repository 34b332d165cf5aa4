package bench

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// The service door (throttlekit-server's Service, in this process, over gRPC on loopback)
// beside the direct Redis door, in the same run: Check from 64 concurrent callers, with the
// server on a Redis store (the same Redis, another namespace) and on the embedded engine.
// The generous gcra policy of BenchmarkGCRA admits every check, so every check writes.
const (
	serviceCallers   = 64
	serviceNamespace = "bench-svc"
)

// serviceCases are the three doors, in the order of the summary.
var serviceCases = []struct{ name, label string }{
	{"direct-redis", "direct Redis door"},
	{"service-redis", "service door (redis store)"},
	{"service-memory", "service door (memory store)"},
}

func BenchmarkServiceDoor(b *testing.B) {
	url := redisURL(b)
	connect := client.ConnectOptions{Timeout: 2 * time.Second}
	direct, err := client.OpenRedis(url, []byte(policies), client.RedisOptions{}, connect)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	redisStore, err := client.OpenRedis(url, []byte(policies), client.RedisOptions{Namespace: serviceNamespace}, connect)
	if err != nil {
		b.Fatal(err)
	}
	defer redisStore.Close()
	memoryStore, err := client.OpenEngine([]byte(policies), client.EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer memoryStore.Close()

	doors := map[string]client.Limiter{"direct-redis": direct}
	for name, store := range map[string]client.Limiter{"service-redis": redisStore, "service-memory": memoryStore} {
		addr, stop := serve(b, store)
		defer stop() // after the client closes, before the store does
		svc, err := client.OpenService(addr, client.ServiceOptions{Timeout: 2 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer svc.Close()
		doors[name] = svc
	}

	check := func(l client.Limiter) func(key string) error {
		return func(key string) error {
			d, err := l.Check(ctx, "api", key, 1)
			if err == nil && !d.Allowed {
				err = fmt.Errorf("denied: %+v", d)
			}
			return err
		}
	}
	// Rounds interleave the doors, rotating which goes first, as BenchmarkGCRA does.
	for round := 0; round < rounds(); round++ {
		for i := range serviceCases {
			c := serviceCases[(i+round)%len(serviceCases)]
			measure(b, serviceResults, c.name, serviceCallers, check(doors[c.name]))
		}
	}
	printServiceSummary()
}

// serve starts the throttlekit.v1 service over store on 127.0.0.1 and a free port, as
// cmd/throttlekit-server does; it returns the address and what stops it.
func serve(b *testing.B, store client.Limiter) (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	contract.RegisterRateLimiterServer(srv, server.New(store, server.Options{}))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	return lis.Addr().String(), func() {
		srv.Stop()
		if err := <-served; err != nil {
			b.Errorf("serving: %v", err)
		}
	}
}

// serviceResults are BenchmarkServiceDoor's samples, kept apart from the other summaries.
var serviceResults = map[string][]result{}

// printServiceSummary prints each door's median throughput and its ratio to the direct
// Redis door's.
func printServiceSummary() {
	mu.Lock()
	defer mu.Unlock()
	direct := median(serviceResults["direct-redis/"+callersLabel(serviceCallers)])
	if direct.nsPerOp == 0 {
		return
	}
	fmt.Printf("\nService door Check vs the direct Redis door, %d callers, same run (GOMAXPROCS=%d, median of %d)\n",
		serviceCallers, runtime.GOMAXPROCS(0), len(serviceResults["direct-redis/"+callersLabel(serviceCallers)]))
	fmt.Printf("%-30s %14s %16s %12s %10s %10s\n", "door", "checks/s", "vs direct door", "calls/check", "p50", "p99")
	var rows [][]string
	for _, c := range serviceCases {
		rs := serviceResults[c.name+"/"+callersLabel(serviceCallers)]
		if r := median(rs); r.nsPerOp > 0 {
			p50, p99 := medianLatency(rs)
			fmt.Printf("%-30s %12.0f/s %15.2fx %12.2f %10s %10s\n", c.label, 1e9/r.nsPerOp, direct.nsPerOp/r.nsPerOp, r.cmdsPerOp, us(p50), us(p99))
			rows = append(rows, []string{c.label, perSec(r.nsPerOp), us(p50), us(p99), ratio(direct.nsPerOp / r.nsPerOp),
				fmt.Sprintf("%.2f", r.cmdsPerOp)})
		}
	}
	fmt.Println("target: the service door >= 0.50x the direct Redis door")
	mdTable(fmt.Sprintf("Service door vs the direct Redis door, %d callers (GOMAXPROCS=%d, median of %d rounds)",
		serviceCallers, runtime.GOMAXPROCS(0), len(serviceResults["direct-redis/"+callersLabel(serviceCallers)])),
		[]string{"door", "checks/s", "p50", "p99", "vs direct door", "script calls/check"}, rows)
}

// The service door on a leased policy (two-tier.md §8: the server's L1 decides, so most
// checks end in the server without a Redis call) beside the direct Redis door on the same
// gcra policy in strict mode (every check a script call), 64 callers each, same Redis, same
// run. Issue "Two-tier leasing" targets the first at >= 1.0x the second.
const tieredPolicies = "limiters:\n" +
	"  strict: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-tier,\n" +
	"            twoTier: { mode: strict } }\n" +
	"  leased: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-tier-leased,\n" +
	"            twoTier: { mode: leased, batch: 1000 } }\n"

var leasedServiceCases = []struct{ name, label, policy string }{
	{"direct-redis-strict", "direct Redis door, strict", "strict"},
	{"service-redis-leased", "service door (redis store), leased", "leased"},
}

func BenchmarkServiceLeased(b *testing.B) {
	url := redisURL(b)
	connect := client.ConnectOptions{Timeout: 2 * time.Second}
	direct, err := client.OpenRedis(url, []byte(tieredPolicies), client.RedisOptions{}, connect)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	store, err := client.OpenRedis(url, []byte(tieredPolicies), client.RedisOptions{Namespace: serviceNamespace}, connect)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	addr, stop := serve(b, store)
	defer stop()
	svc, err := client.OpenService(addr, client.ServiceOptions{Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	doors := map[string]client.Limiter{"direct-redis-strict": direct, "service-redis-leased": svc}
	for round := 0; round < rounds(); round++ {
		for i := range leasedServiceCases {
			c := leasedServiceCases[(i+round)%len(leasedServiceCases)]
			l, policy := doors[c.name], c.policy
			measure(b, leasedServiceResults, c.name, serviceCallers, func(key string) error {
				d, err := l.Check(ctx, policy, key, 1)
				if err == nil && !d.Allowed {
					err = fmt.Errorf("denied: %+v", d)
				}
				return err
			})
		}
	}
	printLeasedServiceSummary()
}

var leasedServiceResults = map[string][]result{}

func printLeasedServiceSummary() {
	mu.Lock()
	defer mu.Unlock()
	l := callersLabel(serviceCallers)
	direct := median(leasedServiceResults["direct-redis-strict/"+l])
	if direct.nsPerOp == 0 {
		return
	}
	var rows [][]string
	for _, c := range leasedServiceCases {
		rs := leasedServiceResults[c.name+"/"+l]
		if r := median(rs); r.nsPerOp > 0 {
			p50, p99 := medianLatency(rs)
			rows = append(rows, []string{c.label, perSec(r.nsPerOp), us(p50), us(p99), ratio(direct.nsPerOp / r.nsPerOp),
				fmt.Sprintf("%.4f", r.cmdsPerOp)})
		}
	}
	mdTable(fmt.Sprintf("Two-tier: the service door on a leased gcra policy (batch 1,000) vs the direct Redis door on it in strict mode, %d callers (GOMAXPROCS=%d, median of %d rounds)",
		serviceCallers, runtime.GOMAXPROCS(0), len(leasedServiceResults["direct-redis-strict/"+l])),
		[]string{"door", "checks/s", "p50", "p99", "vs direct door (strict)", "script calls/check"}, rows)
	if svc := median(leasedServiceResults["service-redis-leased/"+l]); svc.nsPerOp > 0 {
		x := direct.nsPerOp / svc.nsPerOp
		met := "met"
		if x < 1.0 {
			met = "MISSED"
		}
		fmt.Printf("\ntarget service door on a leased policy: %.0f/s = %.2fx the direct Redis door on strict (%.0f/s); target >= 1.0x: %s\n",
			1e9/svc.nsPerOp, x, 1e9/direct.nsPerOp, met)
	}
}
