package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// Checks started for callers that cannot wait travel on the backend's stream (one connection,
// replies matched in order). These tests hold it to what the coalescer promises: the same
// decisions in submission order, exactly one completion per call, deadlines, recovery.

const streamPolicies = `
limiters:
  gcra: { strategy: gcra, limit: 10, period: 1m, burst: 5 }
  fw:   { strategy: fixedWindow, limit: 100, windowMs: 1m }
  big:  { strategy: fixedWindow, limit: 1000, windowMs: 1m }
  log:  { strategy: slidingWindowLog, limit: 50, windowMs: 1m }
`

// startAll starts one check per key (in order) and returns the outcomes by index once all
// have completed, failing the test on a second completion.
func startAll(t *testing.T, b *client.RedisBackend, c context.Context, policy string, keys []string, nowMs int64) []result {
	t.Helper()
	out := make([]result, len(keys))
	times := make([]atomic.Int32, len(keys))
	var wg sync.WaitGroup
	wg.Add(len(keys))
	for i, k := range keys {
		b.StartCheck(c, policy, k, 1, nowMs, doneFunc(func(d client.Decision, err error) {
			if times[i].Add(1) != 1 {
				t.Errorf("call %d completed twice", i)
				return
			}
			out[i] = result{d, err}
			wg.Done()
		}))
	}
	wg.Wait()
	return out
}

func repeat(key string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = key
	}
	return keys
}

// A burst of started checks on one key decides, call by call and field by field, what the
// same checks made one at a time decide on a twin key: the stream keeps submission order.
func TestStreamDecidesInSubmissionOrder(t *testing.T) {
	b, _ := openBackend(t, streamPolicies)
	const now = 1_700_000_000_000
	for _, policy := range []string{"gcra", "big", "log"} {
		got := startAll(t, b, ctx, policy, repeat("burst-"+policy, 3000), now)
		for i := range got {
			want, err := b.CheckAt(ctx, policy, "twin-"+policy, 1, now)
			if err != nil || got[i].err != nil {
				t.Fatalf("%s call %d: started %v, one at a time %v", policy, i, got[i].err, err)
			}
			if got[i].d != want {
				t.Fatalf("%s call %d: started %+v, one at a time %+v", policy, i, got[i].d, want)
			}
		}
	}
}

// Emptying the script cache between and during bursts costs nothing but an EVAL.
func TestStreamSurvivesScriptFlush(t *testing.T) {
	b, _ := openBackend(t, streamPolicies)
	rdb := testenv.Client(t)
	const now = 1_700_000_000_000
	stop := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Add(1)
	go func() {
		defer flusher.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				_ = rdb.ScriptFlush(ctx).Err()
			}
		}
	}()
	for round := range 20 {
		key := fmt.Sprintf("flush-%d", round)
		got := startAll(t, b, ctx, "fw", repeat(key, 200), now)
		allowed := 0
		for i, r := range got {
			if r.err != nil {
				t.Fatalf("round %d call %d: %v", round, i, r.err)
			}
			if r.d.Allowed {
				allowed++
			}
		}
		if allowed != 100 {
			t.Fatalf("round %d: %d of 200 admitted by a fixed window of 100", round, allowed)
		}
	}
	close(stop)
	flusher.Wait()
}

// Calls whose context is cancelled complete at once with ErrTimeout; the others are unaffected.
func TestStreamHonoursCancellation(t *testing.T) {
	addr := testenv.SilentRedis(t)
	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.StartCheck(c, "gcra", "k", 1, 0, doneFunc(func(_ client.Decision, err error) { done <- err }))
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrTimeout) || time.Since(start) > time.Second {
			t.Fatalf("cancelled call: %v after %v", err, time.Since(start))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a cancelled call did not complete")
	}
}

// Close completes every call still waiting on a silent Redis, at once and exactly once.
func TestStreamCloseCompletesPendingCalls(t *testing.T) {
	addr := testenv.SilentRedis(t)
	b, err := client.OpenRedis("redis://"+addr, []byte(allPolicies), client.RedisOptions{}, client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var wg sync.WaitGroup
	wg.Add(n)
	var wrong, twice atomic.Int32
	seen := make([]atomic.Int32, n)
	for i := range n {
		b.StartCheck(ctx, "gcra", "k"+strconv.Itoa(i), 1, 0, doneFunc(func(_ client.Decision, err error) {
			if seen[i].Add(1) != 1 {
				twice.Add(1)
				return
			}
			if !errors.Is(err, client.ErrUnavailable) {
				wrong.Add(1)
			}
			wg.Done()
		}))
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	_ = b.Close()
	wg.Wait()
	if took := time.Since(start); took > time.Second || wrong.Load() > 0 || twice.Load() > 0 {
		t.Fatalf("Close: %v to complete %d calls; %d not ErrUnavailable, %d twice", took, n, wrong.Load(), twice.Load())
	}
	// After Close, a started check fails at once.
	var got error
	b.StartCheck(ctx, "gcra", "late", 1, 0, doneFunc(func(_ client.Decision, err error) { got = err }))
	if !errors.Is(got, client.ErrUnavailable) {
		t.Fatalf("a check started after Close: %v", got)
	}
}

// The stream authenticates and selects the URL's database like the pool does, and a wrong
// password is ErrAuth with no password in the message.
func TestStreamAuthAndDatabase(t *testing.T) {
	r := testenv.StartRedis(t, "--requirepass", "s3cret-pw")
	const now = 1_700_000_000_000
	b, err := client.OpenRedis("redis://:s3cret-pw@"+r.Addr()+"/5", []byte(streamPolicies), client.RedisOptions{},
		client.ConnectOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := startAll(t, b, ctx, "fw", []string{"a", "a"}, now)
	for i, g := range got {
		if g.err != nil || !g.d.Allowed {
			t.Fatalf("call %d on an authenticated stream: %+v, %v", i, g.d, g.err)
		}
	}
	db5 := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: "s3cret-pw", DB: 5})
	defer db5.Close()
	if keys, err := db5.Keys(ctx, "*a*").Result(); err != nil || len(keys) == 0 {
		t.Fatalf("the stream's state is not in database 5: %v, %v", keys, err)
	}

	bad, err := client.OpenRedis("redis://:wrong-pw@"+r.Addr()+"/0", []byte(streamPolicies), client.RedisOptions{},
		client.ConnectOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	got = startAll(t, bad, ctx, "fw", []string{"a"}, now)
	if !errors.Is(got[0].err, client.ErrAuth) || strings.Contains(got[0].err.Error(), "wrong-pw") {
		t.Fatalf("a wrong password: %v", got[0].err)
	}
}

// Redis killed and restarted under a stream: calls fail fast (ErrUnavailable) while it is
// down, never hang, and the stream recovers by itself once it is back.
func TestStreamRecoversFromARestart(t *testing.T) {
	r := testenv.StartRedis(t)
	const timeout = time.Second
	b, err := client.OpenRedis("redis://"+r.Addr(), []byte(streamPolicies), client.RedisOptions{},
		client.ConnectOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := startAll(t, b, ctx, "gcra", []string{"before"}, 0); got[0].err != nil {
		t.Fatalf("before the kill: %v", got[0].err)
	}
	r.Kill()
	for i := range 5 {
		start := time.Now()
		got := startAll(t, b, ctx, "gcra", repeat("down", 50), 0)
		for _, g := range got {
			if !errors.Is(g.err, client.ErrUnavailable) {
				t.Fatalf("round %d while down: %v", i, g.err)
			}
		}
		if took := time.Since(start); took > timeout/2 {
			t.Fatalf("round %d while down took %v", i, took)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Start()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := startAll(t, b, ctx, "gcra", []string{"after"}, 0)
		if got[0].err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery 3 s after the restart: %v", got[0].err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countingRedis accepts connections, reads RESP commands and never answers; commands tells
// how many complete ones it has read, over all connections.
func countingRedis(t *testing.T) (addr string, commands func() int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			go func() {
				rd := bufio.NewReader(c)
				for {
					if err := skipCommand(rd); err != nil {
						return
					}
					n.Add(1)
				}
			}()
		}
	}()
	return l.Addr().String(), n.Load
}

// skipCommand reads one RESP array of bulk strings (a client's command).
func skipCommand(rd *bufio.Reader) error {
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	args, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return err
	}
	for range args {
		if line, err = rd.ReadString('\n'); err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return err
		}
		if _, err := rd.Discard(size + 2); err != nil {
			return err
		}
	}
	return nil
}

// While calls are out, the calls started meanwhile are written as soon as as many wait as are
// out, not only once the replies are in: Redis gets the next batch while it works on the one
// it has. Against a Redis that never answers: the first call goes at once (nothing out), the
// second too (one waits, one out), the third waits (one waits, two out), the fourth takes it
// along (two wait, two out).
func TestStreamWritesASecondBatchWhileOneIsOut(t *testing.T) {
	addr, commands := countingRedis(t)
	b, err := client.OpenRedis("redis://"+addr, []byte(streamPolicies), client.RedisOptions{},
		client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var completed atomic.Int64
	start := func(key string) {
		b.StartCheck(context.Background(), "fw", key, 1, 0, doneFunc(func(client.Decision, error) { completed.Add(1) }))
	}
	awaitCommands := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for commands() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // and no more than want come
		if got := commands(); got != want {
			t.Fatalf("Redis read %d commands; want %d", got, want)
		}
	}
	start("a")
	awaitCommands(1)
	start("b")
	awaitCommands(2)
	start("c")
	awaitCommands(2)
	start("d")
	awaitCommands(4)
	if completed.Load() != 0 {
		t.Fatalf("%d calls completed against a Redis that never answers", completed.Load())
	}
}
