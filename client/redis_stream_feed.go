package client

// A Feeder supplies a stream with calls its callers queued outside Go (the C ABI queues the
// tk_checks of threads that must not enter the Go runtime), at the moments they can join a
// batch: while replies are due, the stream's reader goroutine is awake at the end of each
// batch anyway, so nothing has to be woken up to start the calls that queued meanwhile.
type Feeder interface {
	// Busy reports that calls were written: from now until Idle, Feed will be called.
	Busy()
	// Idle reports that no call awaits a reply any more; Feed follows.
	Idle()
	// Feed starts the calls waiting (with StartCheck). The stream calls it just before
	// taking the last reply of a batch, so that they go out together right after it, and
	// after Idle. Never with the stream's lock held.
	Feed()
}

// SetFeeder makes the backend's stream call f (see Feeder); false when the backend has no
// stream (see Streamed). Call it before the backend's first StartCheck: the stream's reader
// looks at its feeder without the lock.
func (b *RedisBackend) SetFeeder(f Feeder) bool {
	r, ok := b.runner.(*redisRunner)
	if !ok || r.stream == nil {
		return false
	}
	r.stream.mu.Lock()
	r.stream.feeder = f
	r.stream.mu.Unlock()
	return true
}

// busyLocked tells the feeder that calls are being written. Every write says so, not only
// the first of a busy spell: another handle's stream may have claimed the queue meanwhile.
func (s *stream) busyLocked() {
	if s.feeder != nil {
		s.feeder.Busy()
		s.fed = true
	}
}

// settle delivers completions, then tells the feeder once the stream it said was busy has
// nothing out any more: every path that empties the wire (the last reply, a dropped
// connection, close) ends here.
func (s *stream) settle(done []finished) {
	deliver(done)
	if s.feeder == nil {
		return
	}
	s.mu.Lock()
	idle := s.fed && s.wireHead == len(s.wire)
	if idle {
		s.fed = false
	}
	s.mu.Unlock()
	if idle {
		s.feeder.Idle()
		s.feeder.Feed()
	}
}

// feedBeforeLast calls Feed when the reply just read is the last one due: the calls fed now
// queue behind it and are written as soon as it is taken.
func (s *stream) feedBeforeLast() {
	if s.feeder == nil { // no lock per reply for the streams that have none
		return
	}
	s.mu.Lock()
	last := s.wireHead == len(s.wire)-1
	s.mu.Unlock()
	if last {
		s.feeder.Feed()
	}
}
