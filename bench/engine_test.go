package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

// The embedded engine (the same Lua scripts, run in process) beside the Redis door, in the
// same run: Check from one goroutine and from 16, for gcra (a string GET/SET) and for
// slidingWindowLog (a sorted set), and the Redis door's single-caller Check as the
// reference. Every check is admitted and writes, as in BenchmarkGCRA.
const enginePolicies = "limiters:\n" +
	"  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-tk }\n" +
	"  log: { strategy: slidingWindowLog, limit: 10000, windowMs: 1000, prefix: bench-log }\n"

var engineConcurrency = []int{1, 16}

func BenchmarkEngine(b *testing.B) {
	eng, err := client.OpenEngine([]byte(enginePolicies), client.EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	rd, err := client.OpenRedis(redisURL(b), []byte(enginePolicies), client.RedisOptions{},
		client.ConnectOptions{Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()

	check := func(l client.Limiter, policy string) func(key string) error {
		return func(key string) error {
			d, err := l.Check(ctx, policy, key, 1)
			if err == nil && !d.Allowed {
				err = fmt.Errorf("denied: %+v", d)
			}
			return err
		}
	}
	for round := 0; round < rounds(); round++ {
		measure(b, engineResults, "redis-door-gcra", 1, check(rd, "api"))
		for _, n := range engineConcurrency {
			measure(b, engineResults, "engine-gcra", n, check(eng, "api"))
			measure(b, engineResults, "engine-log", n, check(eng, "log"))
		}
	}
	printEngineSummary()
}

// engineResults are BenchmarkEngine's samples, kept apart from BenchmarkGCRA's summary.
var engineResults = map[string][]result{}

// printEngineSummary prints each case's median throughput and its ratio to the Redis
// door's single caller.
func printEngineSummary() {
	door := median(engineResults["redis-door-gcra/serial"])
	if door.nsPerOp == 0 {
		return
	}
	fmt.Printf("\nEmbedded engine Check vs the Redis door's Check, same run (GOMAXPROCS=%d, median of %d)\n",
		runtime.GOMAXPROCS(0), len(engineResults["redis-door-gcra/serial"]))
	fmt.Printf("%-32s %14s %22s %10s %10s\n", "case", "checks/s", "vs Redis door, serial", "p50", "p99")
	var rows [][]string
	row := func(label string, rs []result) {
		if r := median(rs); r.nsPerOp > 0 {
			p50, p99 := medianLatency(rs)
			fmt.Printf("%-32s %12.0f/s %21.1fx %10s %10s\n", label, 1e9/r.nsPerOp, door.nsPerOp/r.nsPerOp, us(p50), us(p99))
			rows = append(rows, []string{label, perSec(r.nsPerOp), us(p50), us(p99), fmt.Sprintf("%.1fx", door.nsPerOp/r.nsPerOp)})
		}
	}
	row("redis door, gcra, serial", engineResults["redis-door-gcra/serial"])
	for _, name := range []string{"engine-gcra", "engine-log"} {
		for _, n := range engineConcurrency {
			row(fmt.Sprintf("%s, %s", name, callersLabel(n)), engineResults[name+"/"+callersLabel(n)])
		}
	}
	fmt.Println("target: the engine's serial Check >= 10x the Redis door's serial Check")
	mdTable(fmt.Sprintf("Embedded engine vs the Redis door (GOMAXPROCS=%d, median of %d rounds)",
		runtime.GOMAXPROCS(0), len(engineResults["redis-door-gcra/serial"])),
		[]string{"case", "checks/s", "p50", "p99", "vs Redis door, serial"}, rows)
}
