// Command capi compares libthrottlekit called from C with the Go client making the same
// checks, in turns on one Redis, and measures the cost of crossing the C ABI. `make bench`
// runs it after building the library and capi_bench (its C half).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// leased is api's gcra fronted by a leased two-tier block, as capi_bench's leased mode has it.
const policies = "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-capi }\n" +
	"  leased: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-capi-leased,\n" +
	"            twoTier: { mode: leased, batch: 1000 } }\n"

func main() {
	cBench := flag.String("c", "", "path of the capi_bench binary")
	seconds := flag.Float64("seconds", 2, "duration of each measurement")
	rounds := flag.Int("rounds", 3, "rounds (the median is reported)")
	leasedOnly := flag.Bool("leased-only", false, "only the two-tier leased measurements beside the ceiling")
	flag.Parse()
	url := os.Getenv("THROTTLEKIT_REDIS_URL")
	if url == "" || *cBench == "" {
		fmt.Fprintln(os.Stderr, "capi: needs THROTTLEKIT_REDIS_URL and -c path/to/capi_bench (run `make bench`)")
		os.Exit(2)
	}
	open := func(pipelined bool) *client.RedisBackend {
		l, err := client.OpenRedis(url, []byte(policies), client.RedisOptions{DisableAutoPipeline: !pipelined},
			client.ConnectOptions{Timeout: 2 * time.Second})
		if err != nil {
			fail(err)
		}
		return l
	}
	goOn, goOff := open(true), open(false)
	defer goOn.Close()
	defer goOff.Close()
	dur := time.Duration(*seconds * float64(time.Second))
	if *leasedOnly {
		leasedBeside(*cBench, url, goOn, *rounds, *seconds)
		return
	}

	// One row per thread count: C and Go, auto-pipelining on and off, measured in turns.
	type row struct{ cOn, goOn, cOff, goOff []sample }
	threadCounts := []int{1, 16, 64}
	rows := map[int]*row{}
	for _, n := range threadCounts {
		rows[n] = &row{}
	}
	var boundary1, boundary16 []float64
	// Admission: tk_admit + tk_release (threads) and tk_admit_async + tk_release_async (pairs
	// in flight from one thread), on the Redis door and the embedded engine, beside tk_check.
	type admitCase struct {
		door, mode string
		threads    int
	}
	var admitCases []admitCase
	for _, door := range []string{"redis", "memory"} {
		for _, mode := range []string{"admit", "admit-async", "check"} {
			for _, threads := range []int{1, 16} {
				admitCases = append(admitCases, admitCase{door, mode, threads})
			}
		}
	}
	admits := map[admitCase][]sample{}
	target := func(door string) string {
		if door == "memory" {
			return "memory"
		}
		return url
	}
	for r := 0; r < *rounds; r++ {
		for _, threads := range threadCounts {
			w := rows[threads]
			w.cOn = append(w.cOn, runC(*cBench, url, "check", threads, *seconds))
			w.goOn = append(w.goOn, runGo(goOn, threads, dur))
			w.cOff = append(w.cOff, runC(*cBench, url, "check-nopipe", threads, *seconds))
			w.goOff = append(w.goOff, runGo(goOff, threads, dur))
		}
		for _, c := range admitCases {
			admits[c] = append(admits[c], runC(*cBench, target(c.door), c.mode, c.threads, *seconds))
		}
		boundary1 = append(boundary1, cpuNsPerCall(runC(*cBench, url, "boundary", 1, *seconds/2).ops, 1))
		boundary16 = append(boundary16, cpuNsPerCall(runC(*cBench, url, "boundary", 16, *seconds/2).ops, 16))
	}

	fmt.Printf("\nlibthrottlekit from C vs the Go client, same Redis, in turns (median of %d rounds of %.1fs)\n", *rounds, *seconds)
	fmt.Printf("%-8s %13s %13s %7s %15s %15s %7s\n", "threads", "C", "Go", "C/Go", "C no-pipe", "Go no-pipe", "C/Go")
	for _, threads := range threadCounts {
		w := rows[threads]
		cOn, gOn, cOff, gOff := medianOps(w.cOn), medianOps(w.goOn), medianOps(w.cOff), medianOps(w.goOff)
		fmt.Printf("%-8d %11.0f/s %11.0f/s %6.2fx %13.0f/s %13.0f/s %6.2fx\n", threads, cOn, gOn, cOn/gOn, cOff, gOff, cOff/gOff)
	}
	fmt.Printf("boundary cost (tk_check of an unknown policy, no I/O), CPU time per call: %.0f ns from 1 thread, %.0f ns from 16 threads\n",
		median(boundary1), median(boundary16))
	fmt.Printf("(CPU time per call = busy cores / calls per second; %d cores here)\n", runtime.NumCPU())
	fmt.Println("targets: C / Go >= 0.95 (auto-pipelining on, the default); boundary < 1000 ns/call")

	// The same, with each side's per-call p50 and p99 (medians over the rounds), as markdown.
	fmt.Printf("\n#### C ABI (tk_check) vs the Go client, Redis door (%d cores, median of %d rounds of %.1fs)\n\n",
		runtime.NumCPU(), *rounds, *seconds)
	fmt.Println("| threads | auto-pipelining | C checks/s | C p50 | C p99 | Go checks/s | Go p50 | Go p99 | C/Go |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, threads := range threadCounts {
		w := rows[threads]
		for _, side := range []struct {
			mode   string
			c, gos []sample
		}{{"on", w.cOn, w.goOn}, {"off", w.cOff, w.goOff}} {
			c, g := medianSample(side.c), medianSample(side.gos)
			fmt.Printf("| %d | %s | %.0f/s | %s | %s | %.0f/s | %s | %s | %.2fx |\n", threads, side.mode,
				c.ops, us(c.p50), us(c.p99), g.ops, us(g.p50), us(g.p99), c.ops/g.ops)
		}
	}
	fmt.Printf("\n#### C ABI boundary cost (tk_check of an unknown policy, no I/O; CPU time per call, %d cores)\n\n", runtime.NumCPU())
	fmt.Println("| threads | CPU time per call |")
	fmt.Println("| --- | ---: |")
	fmt.Printf("| 1 | %.0f ns |\n| 16 | %.0f ns |\n", median(boundary1), median(boundary16))
	fmt.Printf("\n#### C ABI admission (admit + release of a pinned concurrency policy) beside tk_check, per door\n\n")
	fmt.Println("sync: tk_admit + tk_release from N threads; async: tk_admit_async + tk_release_async, N pairs in flight from one")
	fmt.Println("thread waiting on the completion fd (as nginx does); check: tk_check from N threads. memory: tk_open_memory.")
	fmt.Println()
	fmt.Println("| door | N | sync pairs/s | p50 | p99 | async pairs/s | p50 | p99 | checks/s | p50 |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, door := range []string{"redis", "memory"} {
		for _, threads := range []int{1, 16} {
			a := medianSample(admits[admitCase{door, "admit", threads}])
			aa := medianSample(admits[admitCase{door, "admit-async", threads}])
			c := medianSample(admits[admitCase{door, "check", threads}])
			fmt.Printf("| %s | %d | %.0f/s | %s | %s | %.0f/s | %s | %s | %.0f/s | %s |\n", door, threads,
				a.ops, us(a.p50), us(a.p99), aa.ops, us(aa.p50), us(aa.p99), c.ops, us(c.p50))
		}
	}
	leasedBeside(*cBench, url, goOn, *rounds, *seconds)
}

// leasedThreads is how many C threads (and Go goroutines) check the leased policy.
const leasedThreads = 16

// leasedBeside measures checks of the leased policy (two-tier.md §2.3: per key one script
// call per 1,000 checks, the rest spent from the handle's credits) from 16 C threads and 16
// goroutines, in turns with redis-benchmark's EVALSHA ceiling of the same Redis, and prints
// their ratios to it (issue "Two-tier leasing": C >= 10x the ceiling).
func leasedBeside(cBench, url string, goOn *client.RedisBackend, rounds int, seconds float64) {
	var ceil, cLeased, goLeased, cStrict []sample
	dur := time.Duration(seconds * float64(time.Second))
	for r := 0; r < rounds; r++ {
		ceil = append(ceil, sample{ops: redisBenchmark(url)})
		cLeased = append(cLeased, runC(cBench, url, "leased", leasedThreads, seconds))
		goLeased = append(goLeased, runGoPolicy(goOn, "leased", leasedThreads, dur))
		cStrict = append(cStrict, runC(cBench, url, "check", leasedThreads, seconds))
	}
	c, g, top, plain := medianSample(cLeased), medianSample(goLeased), medianOps(ceil), medianSample(cStrict)
	fmt.Printf("\n#### Two-tier leased gcra (batch 1,000) beside the ceiling of one Redis (%d cores, median of %d rounds of %.1fs)\n\n",
		runtime.NumCPU(), rounds, seconds)
	fmt.Println("| caller | checks/s | p50 | p99 | vs redis-benchmark -c 64 -P 16 EVALSHA gcra.check |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	fmt.Printf("| redis-benchmark (the ceiling) | %.0f/s | - | - | 1.00x |\n", top)
	fmt.Printf("| C, %d threads, leased | %.0f/s | %s | %s | %.2fx |\n", leasedThreads, c.ops, us(c.p50), us(c.p99), c.ops/top)
	fmt.Printf("| Go, %d goroutines, leased | %.0f/s | %s | %s | %.2fx |\n", leasedThreads, g.ops, us(g.p50), us(g.p99), g.ops/top)
	fmt.Printf("| C, %d threads, plain gcra (every check a script call) | %.0f/s | %s | %s | %.2fx |\n",
		leasedThreads, plain.ops, us(plain.p50), us(plain.p99), plain.ops/top)
	fmt.Println()
	fmt.Printf("target leased C threads: %.0f/s = %.2fx the redis-benchmark EVALSHA ceiling (%.0f/s); target >= 10x: %s\n",
		c.ops, c.ops/top, top, verdict(c.ops/top >= 10))
	fmt.Printf("leased Go goroutines: %.0f/s = %.2fx the ceiling (listed, no target)\n", g.ops, g.ops/top)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// redisBenchmark runs redis-benchmark -c 64 -P 16 with gcra.check's EVALSHA on 1,000 keys (as
// bench_test.go's ceiling does) and returns its requests per second.
func redisBenchmark(url string) float64 {
	opts, err := redis.ParseURL(url)
	if err != nil {
		fail(err)
	}
	script, _ := luascripts.Lookup("gcra", "check")
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.ScriptLoad(context.Background(), script.Source).Err(); err != nil {
		fail(err)
	}
	host, port, _ := strings.Cut(opts.Addr, ":")
	args := []string{"-h", host, "-p", port, "-c", "64", "-P", "16", "-n", "400000", "-r", "1000", "-q"}
	if opts.Password != "" {
		args = append(args, "-a", opts.Password)
	}
	args = append(args, "EVALSHA", script.SHA1, "1", "key:__rand_int__", "0", "60000", "1000000000", "1000000000", "1")
	out, err := exec.Command("redis-benchmark", args...).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("redis-benchmark: %v\n%s", err, out))
	}
	// -q ends with "EVALSHA ...: 98765.43 requests per second, p50=..." after \r progress lines.
	last := out[bytes.LastIndexByte(bytes.TrimRight(out, "\r\n"), '\r')+1:]
	_, after, ok := bytes.Cut(last, []byte(": "))
	fields := bytes.Fields(after)
	if !ok || len(fields) == 0 {
		fail(fmt.Errorf("redis-benchmark: cannot read its throughput from %q", last))
	}
	rps, err := strconv.ParseFloat(string(fields[0]), 64)
	if err != nil || rps <= 0 {
		fail(fmt.Errorf("redis-benchmark: cannot read its throughput from %q", last))
	}
	return rps
}

// sample is one measurement: calls per second and the per-call p50 and p99 in ns (0 when not
// timed).
type sample struct{ ops, p50, p99 float64 }

// runC runs one capi_bench measurement: calls per second on its first line and, for the
// check modes, "latency_ns p50=<ns> p99=<ns> samples=<n>" on its second.
func runC(bin, url, mode string, threads int, seconds float64) sample {
	out, err := exec.Command(bin, url, mode, strconv.Itoa(threads), strconv.FormatFloat(seconds, 'f', 2, 64)).Output()
	if err != nil {
		fail(fmt.Errorf("%s %s %d: %v", bin, mode, threads, err))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var s sample
	s.ops, err = strconv.ParseFloat(strings.TrimSpace(lines[0]), 64)
	if err != nil || s.ops <= 0 {
		fail(fmt.Errorf("capi_bench printed %q", out))
	}
	if len(lines) > 1 {
		if _, err := fmt.Sscanf(lines[1], "latency_ns p50=%g p99=%g", &s.p50, &s.p99); err != nil {
			fail(fmt.Errorf("capi_bench printed %q: %v", out, err))
		}
	}
	return s
}

// cpuNsPerCall is the CPU time one call costs when threads keep min(threads, cores) cores busy.
func cpuNsPerCall(opsPerSec float64, threads int) float64 {
	return 1e9 / opsPerSec * float64(min(threads, runtime.NumCPU()))
}

// maxSamples bounds the latencies kept per measurement, as in capi_bench: each goroutine
// has its own slice of one array allocated before the clock starts, and wraps around in it.
const maxSamples = 4 << 20

// runGo makes the same checks as capi_bench from goroutines instead of threads, timing each
// as capi_bench does.
func runGo(l *client.RedisBackend, goroutines int, d time.Duration) sample {
	return runGoPolicy(l, "api", goroutines, d)
}

// runGoPolicy is runGo on the named policy.
func runGoPolicy(l *client.RedisBackend, policy string, goroutines int, d time.Duration) sample {
	var calls atomic.Int64
	var wg sync.WaitGroup
	perG := int64(maxSamples / goroutines)
	lat := make([]uint32, perG*int64(goroutines))
	clear(lat) // fault its pages in now, not in the timed loop
	kept := make([]int64, goroutines)
	start := time.Now()
	deadline := start.Add(d)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			mine := lat[int64(id)*perG : int64(id+1)*perG]
			n := int64(0)
			for time.Now().Before(deadline) {
				for i := 0; i < 64; i++ {
					key := "user-" + strconv.FormatInt((int64(id)*7919+n)%1000, 10)
					t0 := time.Now()
					dec, err := l.Check(context.Background(), policy, key, 1)
					mine[n%perG] = uint32(min(time.Since(t0), math.MaxUint32))
					if err != nil || !dec.Allowed {
						fail(fmt.Errorf("go check: %v %+v", err, dec))
					}
					n++
				}
			}
			kept[id] = min(n, perG)
			calls.Add(n)
		}(g)
	}
	wg.Wait()
	s := sample{ops: float64(calls.Load()) / time.Since(start).Seconds()}
	all := lat[:0]
	for g := 0; g < goroutines; g++ {
		all = append(all, lat[int64(g)*perG:int64(g)*perG+kept[g]]...)
	}
	if len(all) > 0 {
		slices.Sort(all)
		s.p50, s.p99 = float64(all[int(0.50*float64(len(all)-1))]), float64(all[int(0.99*float64(len(all)-1))])
	}
	return s
}

func medianOps(xs []sample) float64 { return medianSample(xs).ops }

// medianSample is the median of the rounds' calls per second, p50s and p99s, each apart.
func medianSample(xs []sample) sample {
	var ops, p50, p99 []float64
	for _, x := range xs {
		ops, p50, p99 = append(ops, x.ops), append(p50, x.p50), append(p99, x.p99)
	}
	return sample{median(ops), median(p50), median(p99)}
}

// us formats nanoseconds as microseconds (milliseconds from 1 ms), as the bench package does.
func us(ns float64) string {
	switch {
	case ns <= 0:
		return "-"
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.1f µs", ns/1e3)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "capi:", err)
	os.Exit(1)
}
