package coalesce

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var errFault = errors.New("fault")

// A panic while sending reaches every caller of the batch as an error: lone callers, callers
// that lend their goroutine, and callers that cannot wait (sent by a drainer goroutine, where
// a panic would end the process).
func TestPanicWhileSendingCompletesEveryCall(t *testing.T) {
	release := make(chan struct{})
	q := &Coalescer[int]{
		Slots: 1, MaxBatch: 64,
		SendOne: func(_ context.Context, req int) (any, error) {
			if req == 0 {
				<-release // holds the only slot while the others queue
				return "ok", nil
			}
			panic("one")
		},
		SendBatch: func(context.Context, []int) []Outcome { panic("batch") },
		Panicked:  func(p any) error { return errors.Join(errFault, errors.New(p.(string))) },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	wg.Add(1)
	go func() { defer wg.Done(); _, err := q.Do(ctx, 0); errs <- err }()
	for !slotTaken(q) {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		if i%2 == 0 {
			go func() { defer wg.Done(); _, err := q.Do(ctx, i); errs <- err }()
			continue
		}
		q.Submit(&Pending[int]{Ctx: ctx, Req: i, Complete: func(_ any, err error) { errs <- err; wg.Done() }})
	}
	for queued(q) < 10 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	var faults, ok int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, errFault) && strings.Contains(err.Error(), "batch"):
			faults++
		default:
			t.Errorf("unexpected outcome: %v", err)
		}
	}
	if ok != 1 || faults != 10 {
		t.Fatalf("%d ok and %d faulted; want 1 and 10", ok, faults)
	}
	if _, err := q.Do(ctx, 1); !errors.Is(err, errFault) || !strings.Contains(err.Error(), "one") {
		t.Fatalf("a lone call whose send panics: %v", err)
	}
}

func slotTaken(q *Coalescer[int]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight == 1
}

func queued(q *Coalescer[int]) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}
