// Command go-demo shows ThrottleKit decisions from a real Redis: a burst of requests against a
// GCRA limit, a peek and a forecast, a batch check, and a token budget. `make demo` runs it
// against a throwaway local redis-server.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

const policies = `
limiters:
  api:    { strategy: gcra, limit: 5, period: 1s, burst: 5 }
  search: { strategy: slidingWindow, limit: 3, windowMs: 10s, buckets: 10 }
  llm:
    tokenBudget: { budget: 1000, windowMs: 1m }
`

func main() {
	url := flag.String("redis", os.Getenv("THROTTLEKIT_REDIS_URL"), "Redis URL (default $THROTTLEKIT_REDIS_URL)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "go-demo: give -redis redis://host:port (or run `make demo`)")
		os.Exit(2)
	}
	if err := run(*url); err != nil {
		fmt.Fprintln(os.Stderr, "go-demo:", err)
		os.Exit(1)
	}
}

func run(url string) error {
	limiter, err := client.OpenRedis(url, []byte(policies),
		client.RedisOptions{Namespace: "demo-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
		client.ConnectOptions{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer limiter.Close()
	ctx := context.Background()

	fmt.Println("Policy api: gcra, 5 requests per second, burst 5. Seven requests from alice at once:")
	for i := 1; i <= 7; i++ {
		d, err := limiter.Check(ctx, "api", "alice", 1)
		if err != nil {
			return err
		}
		fmt.Printf("  request %d: %s\n", i, describe(d))
	}

	d, err := limiter.Peek(ctx, "api", "alice")
	if err != nil {
		return err
	}
	fmt.Printf("\nPeek (consumes nothing): %s\n", describe(d))
	f, err := limiter.Forecast(ctx, "api", "bob", 2)
	if err != nil {
		return err
	}
	fmt.Printf("Forecast for bob, requests of cost 2: %d could pass now; full again at %s\n",
		f.SpendableNow, clock(f.FullAt))

	fmt.Println("\nPolicy search: slidingWindow, 3 per 10 s. One batch, one instant, keys in order:")
	keys := []string{"carol", "carol", "dave", "carol", "carol"}
	ds, err := limiter.CheckMany(ctx, "search", keys, 1)
	if err != nil {
		return err
	}
	for i, d := range ds {
		fmt.Printf("  %-5s %s\n", keys[i], describe(d))
	}

	fmt.Println("\nPolicy llm: a budget of 1000 tokens per minute, debited after each response:")
	for _, used := range []int64{400, 500, 300, 10} {
		d, err := limiter.Debit(ctx, "llm", "team-a", used)
		if err != nil {
			return err
		}
		fmt.Printf("  debit %4d tokens: %s\n", used, describe(d))
	}
	return nil
}

func describe(d client.Decision) string {
	if d.Allowed {
		return fmt.Sprintf("allowed, %d of %d left", d.Remaining, d.Limit)
	}
	return fmt.Sprintf("DENIED,  retry in %d ms (limit %d, full again at %s)", d.RetryAfterMs, d.Limit, clock(d.ResetAt))
}

func clock(epochMs int64) string {
	return time.UnixMilli(epochMs).UTC().Format("15:04:05.000")
}
