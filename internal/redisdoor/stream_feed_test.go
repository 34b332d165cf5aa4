package redisdoor_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// listFeeder holds calls that nobody but the stream's Feed will start, as the C ABI's
// submission queue does while the stream has calls out.
type listFeeder struct {
	mu      sync.Mutex
	pending []func()
	events  []string // "busy", "idle", "feed", in order
}

func (f *listFeeder) note(e string) {
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

func (f *listFeeder) Busy(int) { f.note("busy") }
func (f *listFeeder) Idle()    { f.note("idle") }

func (f *listFeeder) Feed() {
	f.mu.Lock()
	f.events = append(f.events, "feed")
	p := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, start := range p {
		start()
	}
}

// Calls handed to the feeder go out when the first call's batch ends, decide exactly as that
// call does (one fixed window for all), and the stream ends by saying it is
// idle and feeding once more.
func TestStreamFeederStartsWaitingCalls(t *testing.T) {
	b := openBackend(t, streamPolicies, redisdoor.ConnectOptions{})
	f := &listFeeder{}
	if !b.SetFeeder(f) {
		t.Fatal("SetFeeder: a backend for one Redis over plain TCP has a stream")
	}
	const now = 1_700_000_000_000
	var admitted, completed atomic.Int64
	var wg sync.WaitGroup
	start := func() {
		b.StartCheck(ctx, "fw", "fed", 1, now, doneFunc(func(d front.Decision, err error) {
			if err != nil {
				t.Errorf("check: %v", err)
			}
			if d.Allowed {
				admitted.Add(1)
			}
			completed.Add(1)
			wg.Done()
		}))
	}
	// One call starts the stream; the rest wait in the feeder. (Starting several here would
	// let the stream drain and go idle between two of them when this goroutine is descheduled.)
	wg.Add(200)
	for range 199 {
		f.pending = append(f.pending, start)
	}
	start()
	waitGroup(t, &wg, 5*time.Second)
	if completed.Load() != 200 || admitted.Load() != 100 {
		t.Fatalf("%d completed, %d admitted; want 200 and the window's 100", completed.Load(), admitted.Load())
	}
	// The last completion is delivered before the stream looks at its wire again.
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		ev := strings.Join(f.events, " ")
		f.mu.Unlock()
		if strings.HasSuffix(ev, "idle feed") {
			// Busy with each write, a feed before each batch's last reply, then idle once.
			if !strings.HasPrefix(ev, "busy ") || strings.Count(ev, "idle") != 1 || !strings.Contains(ev, "busy feed") {
				t.Fatalf("events %q: want busy first, feeds between, one idle and a feed at the end", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %q: the stream never said it was idle", ev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Backends without a stream take no feeder.
func TestSetFeederWithoutStream(t *testing.T) {
	var d net.Dialer
	b := openURL(t, testenv.URL(t), streamPolicies, redisdoor.Options{},
		redisdoor.ConnectOptions{Timeout: 2 * time.Second, Dialer: d.DialContext})
	if b.Streamed() || b.SetFeeder(&listFeeder{}) {
		t.Fatal("a backend with a dialer of its own has no stream")
	}
}

// queuedWaiter is a call that waited in a queue of its caller's since at.
type queuedWaiter struct {
	at   time.Time
	done chan result
}

func (w queuedWaiter) Done(d front.Decision, err error) { w.done <- result{d, err} }
func (w queuedWaiter) Queued() time.Time                { return w.at }

// A call's time in its caller's queue counts against its timeout: one that waited longer
// than the timeout fails at once without being sent, one that waited most of it gets only
// the rest.
func TestStreamQueuedCallsKeepTheirBound(t *testing.T) {
	b := silentBackend(t, redisdoor.ConnectOptions{})
	w := queuedWaiter{at: time.Now().Add(-10 * time.Second), done: make(chan result, 1)}
	t0 := time.Now()
	b.StartCheck(context.Background(), "fw", "late", 1, 0, w)
	r := <-w.done
	if !errors.Is(r.err, front.ErrTimeout) || !strings.Contains(r.err.Error(), "waited") || time.Since(t0) > 100*time.Millisecond {
		t.Fatalf("a call queued past its timeout: %v after %v; want ErrTimeout at once", r.err, time.Since(t0))
	}
	expectTheRestOfTheBound(t, b)
}

// The same bound without a stream (a dialer of its own keeps the coalescer).
func TestQueuedCallsKeepTheirBoundWithoutStream(t *testing.T) {
	var d net.Dialer
	expectTheRestOfTheBound(t, silentBackend(t, redisdoor.ConnectOptions{Dialer: d.DialContext}))
}

// silentBackend is a backend with a 1 s timeout on a Redis that never answers.
func silentBackend(t *testing.T, conn redisdoor.ConnectOptions) *testBackend {
	t.Helper()
	conn.Timeout = time.Second
	return openURL(t, "redis://"+testenv.SilentRedis(t), streamPolicies, redisdoor.Options{Timeout: time.Second}, conn)
}

// expectTheRestOfTheBound starts a call queued for 800 ms of b's 1 s timeout: it must time
// out after about the remaining 200 ms.
func expectTheRestOfTheBound(t *testing.T, b *testBackend) {
	t.Helper()
	w := queuedWaiter{at: time.Now().Add(-800 * time.Millisecond), done: make(chan result, 1)}
	t0 := time.Now()
	b.StartCheck(context.Background(), "fw", "nearly", 1, 0, w)
	r := <-w.done
	if elapsed := time.Since(t0); !errors.Is(r.err, front.ErrTimeout) || elapsed < 150*time.Millisecond || elapsed > 600*time.Millisecond {
		t.Fatalf("a call queued for 800 ms of a 1 s timeout, on a silent Redis: %v after %v; want ErrTimeout after about 200 ms", r.err, elapsed)
	}
}
