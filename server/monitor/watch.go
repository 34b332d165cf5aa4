package monitor

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Watch limits (wire-contract.md): a stream gets at most WatchRate denials per second, with
// bursts of WatchBurst; what it cannot take is dropped, never queued beyond watchBuffer.
const (
	WatchRate   = 500
	WatchBurst  = 50
	watchBuffer = 256
	// MaxWatchers bounds the streams open at once: every denial is offered to each of them
	// on the checking goroutine, so their number is the hot path's cost.
	MaxWatchers = 64
)

// ErrTooManyWatchers refuses a Watch beyond MaxWatchers.
var ErrTooManyWatchers = errors.New("too many Monitor.Watch streams are open on this server")

// ErrClosed ends every Watch when the monitor closes (the server is stopping).
var ErrClosed = errors.New("the monitor is closed: the server is stopping")

// Watcher is one live denial stream. Denials reach it by a non-blocking send: when its
// buffer is full they are dropped and counted, so a slow reader never holds a check.
type Watcher struct {
	m       *Monitor
	policy  string // "" for every policy
	ch      chan *Denial
	bucket  tokenBucket
	dropped atomic.Int64
}

// Subscribe opens a stream of the denials of policy ("" for all). Close it when done.
func (m *Monitor) Subscribe(policy string) (*Watcher, error) {
	w := &Watcher{m: m, policy: policy, ch: make(chan *Denial, watchBuffer), bucket: newTokenBucket(WatchRate, WatchBurst, m.now())}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	old := m.watcherList()
	if len(old) >= MaxWatchers {
		return nil, ErrTooManyWatchers
	}
	// Copy on write: Record reads the list with one atomic load and no lock.
	next := append(old[:len(old):len(old)], w)
	m.watchers.Store(&next)
	return w, nil
}

// Close stops the stream; events still buffered are discarded.
func (w *Watcher) Close() {
	m := w.m
	m.subMu.Lock()
	defer m.subMu.Unlock()
	old := m.watcherList()
	next := make(watcherList, 0, len(old))
	for _, o := range old {
		if o != w {
			next = append(next, o)
		}
	}
	m.watchers.Store(&next)
}

// Dropped is how many denials this stream lost: its buffer was full, or it was over its rate.
func (w *Watcher) Dropped() int64 { return w.dropped.Load() }

// offer hands d to the stream without ever waiting.
func (w *Watcher) offer(d *Denial) {
	if w.policy != "" && w.policy != d.Policy {
		return
	}
	select {
	case w.ch <- d:
	default:
		w.dropped.Add(1)
		w.m.droppedFull.Add(1)
	}
}

// Next waits for the next denial the stream may send: those over the rate are dropped
// here, as they are taken from the buffer, so that the buffer keeps moving. It ends with
// ctx's error, or ErrClosed once the monitor closes.
func (w *Watcher) Next(ctx context.Context) (Denial, error) {
	for {
		select {
		case d := <-w.ch:
			if w.bucket.take(w.m.now()) {
				return *d, nil
			}
			w.dropped.Add(1)
			w.m.droppedRate.Add(1)
		case <-ctx.Done():
			return Denial{}, ctx.Err()
		case <-w.m.done:
			return Denial{}, ErrClosed
		}
	}
}

// watcherList is the immutable list of open streams Record reads.
type watcherList []*Watcher

// tokenBucket holds up to burst tokens, refilled at rate per second; only the stream's own
// goroutine uses it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate, burst float64, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *tokenBucket) take(now time.Time) bool {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// closeWatchers ends every stream's Next (once).
func (m *Monitor) closeWatchers() {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
}
