// Package bench measures the Redis door beside go-redis/redis_rate (the reference GCRA
// limiter) on the same Redis in the same run, and prints their ratios. It is a module of its
// own so that redis_rate never becomes a dependency of the library.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// Both limiters get the same GCRA policy, generous enough that every check is admitted and
// writes (the common, and costlier, path), over the same 1,000 keys.
const (
	rate     = 1_000_000
	keySpace = 1000
	policies = "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-tk }\n"
)

var (
	ctx     = context.Background()
	keys    = makeKeys()
	mu      sync.Mutex
	results = map[string][]result{}
)

type result struct {
	nsPerOp   float64
	cmdsPerOp float64
	p50, p99  float64 // per-call latency, ns (0 where not timed)
}

func makeKeys() []string {
	k := make([]string, keySpace)
	for i := range k {
		k[i] = "user-" + strconv.Itoa(i)
	}
	return k
}

func redisURL(b *testing.B) string {
	url := os.Getenv("THROTTLEKIT_REDIS_URL")
	if url == "" {
		b.Fatal("THROTTLEKIT_REDIS_URL is not set: run `make bench`")
	}
	return url
}

var concurrency = []int{1, 16, 64}

// openTK opens the Redis door on the bench policy, with auto-pipelining on or off.
func openTK(b *testing.B, pipelined bool) *client.RedisBackend {
	tk, err := client.OpenRedis(redisURL(b), []byte(policies), client.RedisOptions{DisableAutoPipeline: !pipelined},
		client.ConnectOptions{Timeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return tk
}

func admitted(tk *client.RedisBackend) func(key string) error {
	return func(key string) error {
		d, err := tk.Check(ctx, "api", key, 1)
		if err == nil && !d.Allowed {
			err = fmt.Errorf("denied: %+v", d)
		}
		return err
	}
}

// BenchmarkGCRA runs, at each concurrency, ThrottleKit's Check (auto-pipelining on, then off)
// and redis_rate's Allow back to back, in several rounds, and at 64 callers redis-benchmark
// sending the same script call pipelined 16 deep (the ceiling of one Redis); the summary
// takes each one's median.
func BenchmarkGCRA(b *testing.B) {
	tk, tkOff := openTK(b, true), openTK(b, false)
	defer tk.Close()
	defer tkOff.Close()
	opts, err := redis.ParseURL(redisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	rr := redis_rate.NewLimiter(rdb)
	limit := redis_rate.Limit{Rate: rate, Burst: rate, Period: time.Second}

	checks := []struct {
		name  string
		check func(key string) error
	}{
		{"throttlekit", admitted(tk)},
		{"throttlekit-nopipe", admitted(tkOff)},
		{"redis_rate", func(key string) error {
			res, err := rr.Allow(ctx, "bench-rr:"+key, limit)
			if err == nil && res.Allowed == 0 {
				err = fmt.Errorf("denied: %+v", res)
			}
			return err
		}},
	}
	// Rounds interleave the two at every concurrency, alternating which goes first, so that
	// drift in the machine's load falls on both alike.
	for round := 0; round < rounds(); round++ {
		for _, n := range concurrency {
			for i := range checks {
				c := checks[(i+round)%len(checks)]
				measure(b, results, c.name, n, c.check)
			}
		}
		results[ceilingName] = append(results[ceilingName], redisBenchmark(b))
	}
}

const ceilingName = "redis-benchmark/goroutines=64"

// redisBenchmark runs redis-benchmark -c 64 -P 16 with gcra.check's EVALSHA on 1,000 keys, as
// issue 10 states it, and returns its throughput as a result.
func redisBenchmark(b *testing.B) result {
	opts, err := redis.ParseURL(redisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	script, _ := luascripts.Lookup("gcra", "check")
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.ScriptLoad(ctx, script.Source).Err(); err != nil {
		b.Fatal(err)
	}
	host, port, _ := strings.Cut(opts.Addr, ":")
	args := []string{"-h", host, "-p", port, "-c", "64", "-P", "16", "-n", "400000", "-r", "1000", "-q"}
	if opts.Password != "" {
		args = append(args, "-a", opts.Password)
	}
	args = append(args, "EVALSHA", script.SHA1, "1", "key:__rand_int__", "0", "60000", "1000000000", "1000000000", "1")
	out, err := exec.Command("redis-benchmark", args...).CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	// -q ends with "EVALSHA ...: 98765.43 requests per second, p50=..." after \r progress lines.
	last := out[bytes.LastIndexByte(bytes.TrimRight(out, "\r\n"), '\r')+1:]
	_, after, ok := bytes.Cut(last, []byte(": "))
	rps, err := strconv.ParseFloat(string(bytes.Fields(after)[0]), 64)
	if !ok || err != nil || rps <= 0 {
		b.Fatalf("redis-benchmark: cannot read its throughput from %q", last)
	}
	return result{nsPerOp: 1e9 / rps, cmdsPerOp: 1}
}

// rounds is $BENCH_ROUNDS, default 5.
func rounds() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}

func callersLabel(n int) string {
	if n == 1 {
		return "serial"
	}
	return fmt.Sprintf("goroutines=%d", n)
}

// measure runs check from n goroutines (1 = serially) and records, in into under
// "<name>/<callers>", ns/op and script calls per op (EVALSHA + EVAL: the round trips a check
// costs; 0 where no Redis is involved).
func measure(b *testing.B, into map[string][]result, name string, n int, check func(key string) error) {
	b.Run(callersLabel(n)+"/"+name, func(b *testing.B) {
		b.ReportAllocs()
		callsBefore := scriptCalls(b)
		// Every call is timed into its own slot of lat, allocated before the timer starts;
		// the caller's index (which also picks the key) is the slot.
		lat := make([]time.Duration, b.N)
		clear(lat) // fault its pages in now, not in the timed loop
		b.ResetTimer()
		if n == 1 {
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := check(keys[i%keySpace]); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(start)
			}
		} else {
			b.SetParallelism((n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					start := time.Now()
					if err := check(keys[i%keySpace]); err != nil {
						b.Error(err)
						return
					}
					lat[(i-1)%int64(len(lat))] = time.Since(start)
				}
			})
		}
		b.StopTimer()
		cmds := float64(scriptCalls(b)-callsBefore) / float64(b.N)
		b.ReportMetric(cmds, "script-calls/op")
		p50, p99 := percentiles(lat)
		b.ReportMetric(p50, "p50-ns")
		b.ReportMetric(p99, "p99-ns")
		// b.N grows over the calls of one sub-benchmark (starting at 1); its last (longest) run
		// is the sample.
		r := result{nsPerOp: float64(b.Elapsed().Nanoseconds()) / float64(b.N), cmdsPerOp: cmds, p50: p50, p99: p99}
		key := name + "/" + callersLabel(n)
		mu.Lock()
		if b.N == 1 || len(into[key]) == 0 {
			into[key] = append(into[key], r)
		} else {
			into[key][len(into[key])-1] = r
		}
		mu.Unlock()
	})
}

// scriptCalls reads how many EVALSHA and EVAL commands Redis has run so far.
func scriptCalls(b *testing.B) int64 {
	opts, err := redis.ParseURL(redisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		stat, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_eval")
		if !ok || !(strings.HasPrefix(stat, ":") || strings.HasPrefix(stat, "sha:")) {
			continue
		}
		_, fields, _ := strings.Cut(stat, ":")
		calls, _, _ := strings.Cut(strings.TrimPrefix(fields, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		total += n
	}
	return total
}

// TestMain prints, after the benchmarks, ThrottleKit beside redis_rate at each concurrency.
func TestMain(m *testing.M) {
	code := m.Run()
	printSummary()
	os.Exit(code)
}

func printSummary() {
	if len(results) == 0 {
		return
	}
	fmt.Printf("\nThrottleKit Check (auto-pipelining on / off) vs go-redis/redis_rate Allow, same Redis, same run (GOMAXPROCS=%d, median of %d)\n",
		runtime.GOMAXPROCS(0), len(results["throttlekit/serial"]))
	fmt.Printf("%-15s %12s %12s %12s %9s %9s %9s\n", "callers", "tk", "tk no-pipe", "redis_rate", "tk/rr", "tk/off", "calls/chk")
	for _, n := range concurrency {
		l := callersLabel(n)
		tk, off, rr := median(results["throttlekit/"+l]), median(results["throttlekit-nopipe/"+l]), median(results["redis_rate/"+l])
		if tk.nsPerOp == 0 || rr.nsPerOp == 0 || off.nsPerOp == 0 {
			continue
		}
		fmt.Printf("%-15s %10.0f/s %10.0f/s %10.0f/s %8.2fx %8.2fx %9.2f\n", l,
			1e9/tk.nsPerOp, 1e9/off.nsPerOp, 1e9/rr.nsPerOp, rr.nsPerOp/tk.nsPerOp, off.nsPerOp/tk.nsPerOp, tk.cmdsPerOp)
	}
	if ceil, tk := median(results[ceilingName]), median(results["throttlekit/goroutines=64"]); ceil.nsPerOp > 0 && tk.nsPerOp > 0 {
		fmt.Printf("redis-benchmark -c 64 -P 16 EVALSHA gcra.check: %.0f/s; throttlekit at 64 callers = %.2fx of it\n",
			1e9/ceil.nsPerOp, ceil.nsPerOp/tk.nsPerOp)
	}
	fmt.Println("targets: tk/rr >= 1.00 in parallel and >= 1.5 at 64 callers; >= 0.60x redis-benchmark at 64;")
	fmt.Println("serial latency: tk within 1.10x of redis_rate's time per check")
	printGCRATable()
}

// printGCRATable prints the summary above as a markdown table, with each case's per-call
// p50 and p99 (medians over the rounds).
func printGCRATable() {
	var rows [][]string
	for _, n := range concurrency {
		l := callersLabel(n)
		tk, off, rr := median(results["throttlekit/"+l]), median(results["throttlekit-nopipe/"+l]), median(results["redis_rate/"+l])
		if tk.nsPerOp == 0 || rr.nsPerOp == 0 || off.nsPerOp == 0 {
			continue
		}
		row := []string{strconv.Itoa(n)}
		for _, name := range []string{"throttlekit", "throttlekit-nopipe", "redis_rate"} {
			r := results[name+"/"+l]
			p50, p99 := medianLatency(r)
			row = append(row, perSec(median(r).nsPerOp), us(p50), us(p99))
		}
		rows = append(rows, append(row, ratio(rr.nsPerOp/tk.nsPerOp), ratio(off.nsPerOp/tk.nsPerOp),
			fmt.Sprintf("%.2f", tk.cmdsPerOp)))
	}
	if len(rows) == 0 {
		return
	}
	mdTable(fmt.Sprintf("Redis door: ThrottleKit Check (auto-pipelining on / off) vs go-redis/redis_rate Allow (GOMAXPROCS=%d, median of %d rounds)",
		runtime.GOMAXPROCS(0), len(results["throttlekit/serial"])),
		[]string{"callers", "tk checks/s", "tk p50", "tk p99", "tk no-pipe checks/s", "no-pipe p50", "no-pipe p99",
			"redis_rate checks/s", "rr p50", "rr p99", "tk/rr", "tk/off", "script calls/check"}, rows)
	if ceil, tk := median(results[ceilingName]), median(results["throttlekit/goroutines=64"]); ceil.nsPerOp > 0 && tk.nsPerOp > 0 {
		mdTable("Redis door vs the ceiling of one Redis (redis-benchmark -c 64 -P 16 EVALSHA gcra.check, 1,000 keys)",
			[]string{"reference", "checks/s", "tk at 64 callers", "tk / reference"},
			[][]string{{"redis-benchmark", perSec(ceil.nsPerOp), perSec(tk.nsPerOp), ratio(ceil.nsPerOp / tk.nsPerOp)}})
	}
}

func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.nsPerOp, b.nsPerOp) })
	return sorted[len(sorted)/2]
}
