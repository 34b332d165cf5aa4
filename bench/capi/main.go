// Command capi compares libthrottlekit called from C with the Go client making the same
// checks, in turns on one Redis, and measures the cost of crossing the C ABI. `make bench`
// runs it after building the library and capi_bench (its C half).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

const policies = "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-capi }\n"

func main() {
	cBench := flag.String("c", "", "path of the capi_bench binary")
	seconds := flag.Float64("seconds", 2, "duration of each measurement")
	rounds := flag.Int("rounds", 3, "rounds (the median is reported)")
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

	// One row per thread count: C and Go, auto-pipelining on and off, measured in turns.
	type row struct{ cOn, goOn, cOff, goOff []float64 }
	threadCounts := []int{1, 16, 64}
	rows := map[int]*row{}
	for _, n := range threadCounts {
		rows[n] = &row{}
	}
	var boundary1, boundary16 []float64
	for r := 0; r < *rounds; r++ {
		for _, threads := range threadCounts {
			w := rows[threads]
			w.cOn = append(w.cOn, runC(*cBench, url, "check", threads, *seconds))
			w.goOn = append(w.goOn, runGo(goOn, threads, dur))
			w.cOff = append(w.cOff, runC(*cBench, url, "check-nopipe", threads, *seconds))
			w.goOff = append(w.goOff, runGo(goOff, threads, dur))
		}
		boundary1 = append(boundary1, cpuNsPerCall(runC(*cBench, url, "boundary", 1, *seconds/2), 1))
		boundary16 = append(boundary16, cpuNsPerCall(runC(*cBench, url, "boundary", 16, *seconds/2), 16))
	}

	fmt.Printf("\nlibthrottlekit from C vs the Go client, same Redis, in turns (median of %d rounds of %.1fs)\n", *rounds, *seconds)
	fmt.Printf("%-8s %13s %13s %7s %15s %15s %7s\n", "threads", "C", "Go", "C/Go", "C no-pipe", "Go no-pipe", "C/Go")
	for _, threads := range threadCounts {
		w := rows[threads]
		cOn, gOn, cOff, gOff := median(w.cOn), median(w.goOn), median(w.cOff), median(w.goOff)
		fmt.Printf("%-8d %11.0f/s %11.0f/s %6.2fx %13.0f/s %13.0f/s %6.2fx\n", threads, cOn, gOn, cOn/gOn, cOff, gOff, cOff/gOff)
	}
	fmt.Printf("boundary cost (tk_check of an unknown policy, no I/O), CPU time per call: %.0f ns from 1 thread, %.0f ns from 16 threads\n",
		median(boundary1), median(boundary16))
	fmt.Printf("(CPU time per call = busy cores / calls per second; %d cores here)\n", runtime.NumCPU())
	fmt.Println("targets: C / Go >= 0.95 (auto-pipelining on, the default); boundary < 1000 ns/call")
}

// runC runs one capi_bench measurement and returns its calls per second.
func runC(bin, url, mode string, threads int, seconds float64) float64 {
	out, err := exec.Command(bin, url, mode, strconv.Itoa(threads), strconv.FormatFloat(seconds, 'f', 2, 64)).Output()
	if err != nil {
		fail(fmt.Errorf("%s %s %d: %v", bin, mode, threads, err))
	}
	ops, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || ops <= 0 {
		fail(fmt.Errorf("capi_bench printed %q", out))
	}
	return ops
}

// cpuNsPerCall is the CPU time one call costs when threads keep min(threads, cores) cores busy.
func cpuNsPerCall(opsPerSec float64, threads int) float64 {
	return 1e9 / opsPerSec * float64(min(threads, runtime.NumCPU()))
}

// runGo makes the same checks as capi_bench from goroutines instead of threads.
func runGo(l *client.RedisBackend, goroutines int, d time.Duration) float64 {
	var calls atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			n := int64(0)
			for time.Now().Before(deadline) {
				for i := 0; i < 64; i++ {
					key := "user-" + strconv.FormatInt((int64(id)*7919+n)%1000, 10)
					if dec, err := l.Check(context.Background(), "api", key, 1); err != nil || !dec.Allowed {
						fail(fmt.Errorf("go check: %v %+v", err, dec))
					}
					n++
				}
			}
			calls.Add(n)
		}(g)
	}
	wg.Wait()
	return float64(calls.Load()) / time.Since(start).Seconds()
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
