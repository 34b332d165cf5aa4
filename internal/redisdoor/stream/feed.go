package stream

// A Feeder supplies a stream with calls its callers queued outside Go (the C ABI queues the
// tk_checks of threads that must not enter the Go runtime), at the moments they can join a
// batch: while replies are due, the stream's reader goroutine is awake at the end of each
// batch anyway, so nothing has to be woken up to start the calls that queued meanwhile.
type Feeder interface {
	// Busy reports that out calls (out > 0) await replies: said with each write and again as
	// replies come in. From now until Idle, Feed will be called. A feeder may also start its
	// calls before that, when as many wait as are out: the stream writes them at once then
	// (see Stream.sendableLocked). Called with the stream's lock held: it must not block.
	Busy(out int)
	// Idle reports that no call awaits a reply any more; Feed follows.
	Idle()
	// Feed starts the calls waiting (with StartCheck). The stream calls it just before
	// taking the last reply due, and after Idle, never with its lock held; the calls fed go
	// out together once Feed returns.
	Feed()
}

// SetFeeder makes the stream call f (see Feeder). Call it before the stream's first Start:
// its reader looks at its feeder without the lock.
func (s *Stream) SetFeeder(f Feeder) {
	s.mu.Lock()
	s.feeder = f
	s.mu.Unlock()
}

// busyLocked tells the feeder that calls are being written. Every write says so, not only
// the first of a busy spell: another handle's stream may have claimed the queue meanwhile.
func (s *Stream) busyLocked() {
	if s.feeder != nil {
		s.feeder.Busy(s.outLocked())
		s.fed = true
	}
}

// answeredLocked tells the feeder how many calls are still out once the replies read so far
// are taken: its calls may go out when as many wait.
func (s *Stream) answeredLocked() {
	if s.feeder != nil && s.fed && s.outLocked() > 0 {
		s.feeder.Busy(s.outLocked())
	}
}

// settle delivers completions, then tells the feeder once the stream it said was busy has
// nothing out any more: every path that empties the wire (the last reply, a dropped
// connection, close) ends here.
func (s *Stream) settle(done []finished) {
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
		s.feed()
	}
}

// feedBeforeLast feeds when the reply just read is the last one due: the calls fed now go
// out before it is taken.
func (s *Stream) feedBeforeLast() {
	if s.feeder == nil { // no lock per reply for the streams that have none
		return
	}
	s.mu.Lock()
	last := s.wireHead == len(s.wire)-1
	s.mu.Unlock()
	if last {
		s.feed()
	}
}

// feed calls Feed and writes the calls it started as one batch: while it runs, starting a
// call does not write it.
func (s *Stream) feed() {
	s.mu.Lock()
	s.holding++
	s.mu.Unlock()
	s.feeder.Feed()
	s.mu.Lock()
	s.holding--
	var done []finished
	if s.sendableLocked() {
		done = s.flushLocked()
	}
	s.mu.Unlock()
	s.settle(done)
}
