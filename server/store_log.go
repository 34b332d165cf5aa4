package server

import (
	"log/slog"
	"sync"
	"time"
)

// rateLimitedLog writes at most one warning per interval and counts the rest: when the
// store goes down, every call fails, and a line per call would bury the log (and the disk)
// at exactly the moment an operator needs to read it.
type rateLimitedLog struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int64
}

func newRateLimitedLog(log *slog.Logger, every time.Duration) *rateLimitedLog {
	return &rateLimitedLog{log: log, every: every}
}

// Warn logs msg unless one was logged within the interval; the next one written reports how
// many were left out.
func (l *rateLimitedLog) Warn(msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.next = now.Add(l.every)
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	l.log.Warn(msg, args...)
}
