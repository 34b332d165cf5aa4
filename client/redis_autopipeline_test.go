package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// The windows are long: Redis expires keys in real time even under an explicit clock, and the
// state must outlive a slow (race-detector) run.
// gcra refills a unit every 6 minutes: the tests that count a burst of five in real time must
// not see one come back however slow the machine (a loaded CI once took 9 s for 20 checks).
const pipelinePolicies = `
limiters:
  gcra:  { strategy: gcra, limit: 10, period: 1h, burst: 5 }
  fixed: { strategy: fixedWindow, limit: 1000, windowMs: 1m }
`

// roundTrips counts the script calls a go-redis client sends: lone commands, and pipelines
// with the commands they carry.
type roundTrips struct {
	lone, pipelines, pipelined atomic.Int64
}

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "evalsha" || n == "eval" { // not a new connection's HELLO
			r.lone.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.pipelines.Add(1)
		r.pipelined.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// countedBackend is a RedisBackend on the test Redis whose round trips are counted.
func countedBackend(t *testing.T, yaml string, opts client.RedisOptions) (*client.RedisBackend, *roundTrips) {
	t.Helper()
	rdb, err := client.NewRedisClient(testenv.URL(t), client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	rt := &roundTrips{}
	rdb.AddHook(rt)
	set, err := client.ParsePolicies([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	opts.Namespace = testenv.Namespace(t)
	opts.Timeout = 5 * time.Second
	b, err := client.NewRedisBackend(rdb, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Load the scripts and open a connection before counting.
	for _, p := range []string{"gcra", "fixed"} {
		if _, err := b.Check(ctx, p, "warm-up", 1); err != nil {
			t.Fatal(err)
		}
	}
	*rt = roundTrips{}
	return b, rt
}

// hammer runs callers goroutines, each making perCaller checks on its own key, and returns
// every caller's sequence of remaining counts (-1 for a denial).
func hammer(t *testing.T, callers, perCaller int, check func(key string) (client.Decision, error)) [][]int64 {
	t.Helper()
	seqs := make([][]int64, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perCaller {
				d, err := check(fmt.Sprintf("caller-%d", g))
				if err != nil {
					errs <- err
					return
				}
				r := d.Remaining
				if !d.Allowed {
					r = -1
				}
				seqs[g] = append(seqs[g], r)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return seqs
}

// burstOfFive is what n checks of one key see from gcra burst 5 at one instant (or with a
// refill slower than the test): 4..0 left, then denials.
func burstOfFive(n int) []int64 {
	want := []int64{4, 3, 2, 1, 0}
	for len(want) < n {
		want = append(want, -1)
	}
	return want[:n]
}

// Concurrent callers share round trips, and every caller sees exactly the decisions it would
// see alone: the first 5 checks admitted with 4..0 remaining, the rest denied.
func TestAutoPipelineCoalescesConcurrentChecks(t *testing.T) {
	const callers, perCaller = 64, 40
	want := burstOfFive(perCaller)
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableAutoPipeline=%v", off), func(t *testing.T) {
			b, rt := countedBackend(t, pipelinePolicies, client.RedisOptions{DisableAutoPipeline: off})
			const now = 1_700_000_000_000
			seqs := hammer(t, callers, perCaller, func(key string) (client.Decision, error) {
				return b.CheckAt(ctx, "gcra", key, 1, now)
			})
			for g, s := range seqs {
				if !slices.Equal(s, want) {
					t.Fatalf("caller %d saw %v, want %v", g, s, want)
				}
			}
			calls := int64(callers * perCaller)
			trips := rt.lone.Load() + rt.pipelines.Load()
			t.Logf("%d checks: %d lone commands, %d pipelines carrying %d", calls, rt.lone.Load(), rt.pipelines.Load(), rt.pipelined.Load())
			if sent := rt.lone.Load() + rt.pipelined.Load(); sent != calls {
				t.Errorf("%d checks sent %d commands", calls, sent)
			}
			if off && rt.pipelines.Load() != 0 {
				t.Errorf("auto-pipelining off, yet %d pipelines were sent", rt.pipelines.Load())
			}
			if !off && trips*2 > calls {
				t.Errorf("%d concurrent checks took %d round trips: nothing was coalesced", calls, trips)
			}
		})
	}
}

// A caller alone never waits for a batch: each of its checks is one lone command.
func TestLoneCallerIsNeverBatched(t *testing.T) {
	b, rt := countedBackend(t, pipelinePolicies, client.RedisOptions{})
	for i := range 200 {
		if _, err := b.Check(ctx, "gcra", fmt.Sprintf("lone-%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if rt.pipelines.Load() != 0 || rt.lone.Load() != 200 {
		t.Fatalf("200 sequential checks: %d lone commands, %d pipelines", rt.lone.Load(), rt.pipelines.Load())
	}
}

// SCRIPT FLUSH while batches are in flight: the lost script is loaded again and no caller
// sees an error; the window still admits exactly its limit.
func TestAutoPipelineSurvivesScriptFlush(t *testing.T) {
	b, rt := countedBackend(t, pipelinePolicies, client.RedisOptions{})
	rdb := testenv.Client(t)
	stop := make(chan struct{})
	flushed := make(chan int)
	go func() {
		n := 0
		defer func() { flushed <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				if rdb.ScriptFlush(ctx).Err() == nil {
					n++
				}
			}
		}
	}()
	const now = 1_700_000_000_000
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				d, err := b.CheckAt(ctx, "fixed", "flush", 1, now)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	n := <-flushed
	close(errs)
	for err := range errs {
		t.Fatalf("after %d flushes: %v", n, err)
	}
	t.Logf("%d SCRIPT FLUSH during 6,400 checks in %d pipelines", n, rt.pipelines.Load())
	if admitted.Load() != 1000 {
		t.Fatalf("admitted %d of 6,400 in a window of 1,000", admitted.Load())
	}
}

// Callers queued behind a Redis that never answers still stop at their own deadline, and so
// does a caller lent to send a batch for others that arrived after it (the batch it sends
// must not hold it until the youngest member's deadline). Arrivals are staggered over most
// of a timeout, so that each batch mixes old and young calls.
func TestQueuedCallsKeepTheirDeadline(t *testing.T) {
	addr := testenv.SilentRedis(t)
	const timeout = 300 * time.Millisecond
	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	var slowest atomic.Int64
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 3 * time.Millisecond)
			start := time.Now()
			_, err := b.Check(ctx, "gcra", fmt.Sprintf("k%d", i), 1)
			for d := int64(time.Since(start)); ; {
				if s := slowest.Load(); d <= s || slowest.CompareAndSwap(s, d) {
					break
				}
			}
			if !errors.Is(err, client.ErrTimeout) {
				errs <- fmt.Errorf("call %d: got %v, want ErrTimeout", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := time.Duration(slowest.Load()); d > timeout+150*time.Millisecond {
		t.Fatalf("the slowest of 64 calls took %v (timeout %v)", d, timeout)
	}
}

// doneFunc is a client.Waiter for callers that cannot wait (an event loop).
type doneFunc func(client.Decision, error)

func (f doneFunc) Done(d client.Decision, err error) { f(d, err) }

// threadWaiter lends its goroutine to send batches, as a C thread in tk_check does.
type threadWaiter struct {
	turns chan coalesce.Lead
	done  chan result
}

type result struct {
	d   client.Decision
	err error
}

func (w *threadWaiter) Done(d client.Decision, err error) { w.done <- result{d, err} }
func (w *threadWaiter) Lead(l coalesce.Lead)              { w.turns <- l }

// wait runs the turns it is offered until its own check is done.
func (w *threadWaiter) wait() result {
	for {
		select {
		case l := <-w.turns:
			l.Run()
		case r := <-w.done:
			return r
		}
	}
}

// Started checks, from callers that lend their goroutine and from callers that cannot wait,
// mixed on one backend: every check completes exactly once, with the decision a lone check
// would get (each key's first check at one instant: admitted, 4 of burst 5 left).
func TestStartedChecksCompleteExactlyOnce(t *testing.T) {
	b, rt := countedBackend(t, pipelinePolicies, client.RedisOptions{})
	startedChecksCompleteExactlyOnce(t, b)
	t.Logf("coalescer: %d lone commands, %d pipelines carrying %d", rt.lone.Load(), rt.pipelines.Load(), rt.pipelined.Load())
}

// The same on a backend from OpenRedis, whose started checks travel on its stream (lone
// callers that lend their goroutine excepted).
func TestStreamedChecksCompleteExactlyOnce(t *testing.T) {
	b, _ := openBackend(t, pipelinePolicies)
	startedChecksCompleteExactlyOnce(t, b)
}

func startedChecksCompleteExactlyOnce(t *testing.T, b *client.RedisBackend) {
	const now = 1_700_000_000_000
	const threads, perThread, asyncCalls = 32, 50, 2000
	var wrong atomic.Int64
	check := func(r result) {
		if r.err != nil || !r.d.Allowed || r.d.Remaining != 4 {
			if wrong.Add(1) == 1 {
				t.Errorf("started check: %+v, %v", r.d, r.err)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perThread {
				w := &threadWaiter{turns: make(chan coalesce.Lead, 1), done: make(chan result, 1)}
				b.StartCheck(ctx, "gcra", fmt.Sprintf("t%d-%d", g, i), 1, now, w)
				check(w.wait())
			}
		}()
	}
	completions := make([]atomic.Int32, asyncCalls)
	var async sync.WaitGroup
	async.Add(asyncCalls)
	for i := range asyncCalls {
		b.StartCheck(ctx, "gcra", fmt.Sprintf("a-%d", i), 1, now, doneFunc(func(d client.Decision, err error) {
			if completions[i].Add(1) == 1 {
				check(result{d, err})
				async.Done()
			}
		}))
	}
	wg.Wait()
	async.Wait()
	time.Sleep(50 * time.Millisecond) // room for a second completion, if there were one
	for i := range completions {
		if n := completions[i].Load(); n != 1 {
			t.Fatalf("async check %d completed %d times", i, n)
		}
	}
	if wrong.Load() > 0 {
		t.Fatalf("%d of %d started checks were not a lone first check's decision", wrong.Load(), threads*perThread+asyncCalls)
	}
}

// Input errors reach the waiter before StartCheck returns, without touching Redis.
func TestStartCheckInputErrorsAreImmediate(t *testing.T) {
	b, rt := countedBackend(t, pipelinePolicies, client.RedisOptions{})
	for _, c := range []struct {
		policy, key string
		cost, now   int64
		want        error
	}{
		{"nope", "k", 1, 0, client.ErrPolicyNotFound},
		{"gcra", "a\x00b", 1, 0, client.ErrInvalidArgument},
		{"gcra", "k", -1, 0, client.ErrInvalidArgument},
		{"gcra", "k", 1, -5, client.ErrInvalidArgument},
	} {
		var got error
		called := false
		b.StartCheck(ctx, c.policy, c.key, c.cost, c.now, doneFunc(func(_ client.Decision, err error) { called, got = true, err }))
		if !called || !errors.Is(got, c.want) {
			t.Errorf("StartCheck(%q, %q, %d, %d): called before returning %v, error %v; want %v", c.policy, c.key, c.cost, c.now, called, got, c.want)
		}
	}
	if n := rt.lone.Load() + rt.pipelines.Load(); n != 0 {
		t.Errorf("bad input sent %d commands", n)
	}
}

// Started checks queued behind a Redis that never answers complete at their deadline.
func TestStartedChecksCompleteByTheirDeadline(t *testing.T) {
	addr := testenv.SilentRedis(t)
	const timeout = 150 * time.Millisecond
	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 200
	var wg sync.WaitGroup
	wg.Add(n)
	var late, wrong atomic.Int64
	start := time.Now()
	for i := range n {
		b.StartCheck(ctx, "gcra", fmt.Sprintf("k%d", i), 1, 0, doneFunc(func(_ client.Decision, err error) {
			defer wg.Done()
			if time.Since(start) > timeout+500*time.Millisecond {
				late.Add(1)
			}
			if !errors.Is(err, client.ErrTimeout) {
				wrong.Add(1)
			}
		}))
	}
	wg.Wait()
	if late.Load() > 0 || wrong.Load() > 0 {
		t.Fatalf("of %d started checks on a silent Redis (timeout %v): %d completed late, %d not with ErrTimeout", n, timeout, late.Load(), wrong.Load())
	}
}
