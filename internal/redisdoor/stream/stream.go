// Package stream runs started checks (StartCheck: tk_check and tk_check_async from C, event
// loops) on one Redis connection of their own, a small Redis client of its own (RESP, raw
// non-blocking I/O). Redis answers a connection's commands in the order it
// reads them, so each reply belongs to the oldest call still unanswered: calls are written as
// they come, without waiting for a free connection, and the calls that arrive while a batch
// is out are written together, as soon as they are as many as the calls out or its replies
// are in (see sendableLocked). One reader goroutine per
// connection, parked in Go's network poller between batches, and one deadline timer per
// stream: nothing is started, allocated or armed per call beyond the call itself, and no
// caller's thread is lent or blocked in a read. This is what an event loop making tens of
// thousands of checks a second needs, and what C threads waiting on semaphores need too: the
// coalescer's lent threads each paid a blocking read and the Go scheduler's hand-offs (see
// BENCHMARKS.md, nginx and C ABI).
//
// Only a single Redis reached over plain TCP has a stream; clusters, sentinels and TLS keep
// the coalescer, and so do Go's own Check calls.
package stream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/rediserr"
)

// A Stream is one such connection with its calls.
type Stream struct {
	addr               string
	username, password string
	db                 int
	timeout            time.Duration // bounds a dial with its handshake, and calls without a deadline

	mu        sync.Mutex
	conn      net.Conn        // nil while down
	raw       syscall.RawConn // conn's descriptor, for writes that must never block
	dialing   bool
	failErr   error // the last failed dial's error: returned at once until failUntil
	failUntil time.Time
	queued    []*streamCall // not written yet, in order
	retries   int           // queued[:retries] are EVALs re-sending calls that met NOSCRIPT
	wire      []*streamCall // written, unanswered, in the order the replies will come
	wireHead  int
	writing   bool          // a writer goroutine owns the connection's writes (the socket was full)
	wbuf      []byte        // reused between writes when no writer holds it
	live      []*streamCall // not known to be completed, in submission order: the deadline watch
	timer     *time.Timer
	timerAt   time.Time // when timer fires; zero when it is not armed
	closed    bool
	feeder    Feeder // nil unless SetFeeder
	fed       bool   // feeder heard Busy and not Idle since
	holding   int    // feeds under way: their calls are written together once the feed returns
}

// Config says where a stream connects and how long it waits.
type Config struct {
	Addr               string // host:port of one Redis over plain TCP
	Username, Password string
	DB                 int
	Timeout            time.Duration // bounds a dial with its handshake, and calls without a deadline
}

// New returns a stream to the Redis cfg names. Nothing is dialled until the first call.
func New(cfg Config) *Stream {
	return &Stream{addr: cfg.Addr, username: cfg.Username, password: cfg.Password, db: cfg.DB, timeout: cfg.Timeout}
}

// Timeout bounds the calls started without a deadline.
func (s *Stream) Timeout() time.Duration { return s.timeout }

// streamRetryAfter: after a failed dial, calls fail at once with its error for this long
// instead of each dialling again; the next call after it dials anew.
const streamRetryAfter = 250 * time.Millisecond

type streamCall struct {
	args     []any
	source   string // the script's text, for EVAL after NOSCRIPT
	retried  bool   // re-sent as EVAL already
	onWire   bool
	deadline time.Time
	complete func(reply any, err error) // classified errors only
	stop     func() bool                // stops watching a cancellable context; nil if none
	done     bool                       // guarded by stream.mu: completed, or about to be
}

// finished is a completion to deliver once stream.mu is released: callers' functions never
// run under the lock (a caller may well start its next check from there).
type finished struct {
	c     *streamCall
	reply any
	err   error
}

func deliver(done []finished) {
	for _, f := range done {
		if f.c.stop != nil {
			f.c.stop()
		}
		f.c.complete(f.reply, f.err)
	}
}

var (
	errStreamClosed  = &front.Error{Kind: front.ErrUnavailable, Msg: "redis: the backend was closed"}
	errStreamTimeout = &front.Error{Kind: front.ErrTimeout, Msg: "redis: no reply within the call's deadline"}
	errStreamReset   = &front.Error{Kind: front.ErrTimeout, Msg: "redis: no reply: an earlier call on the same connection got none within its deadline, so the connection was reset"}
)

// Start sends one script call (EVALSHA args...) and reports its outcome through complete, by
// deadline, or earlier if ctx is cancelled.
func (s *Stream) Start(ctx context.Context, deadline time.Time, args []any, source string, complete func(any, error)) {
	c := &streamCall{args: args, source: source, deadline: deadline, complete: complete}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		complete(nil, errStreamClosed)
		return
	case s.conn == nil && !s.dialing:
		if time.Now().Before(s.failUntil) {
			err := s.failErr
			s.mu.Unlock()
			complete(nil, err)
			return
		}
		s.dialing = true
		go s.connect()
	}
	if ctx.Done() != nil {
		c.stop = context.AfterFunc(ctx, func() { s.abandon(c, rediserr.Classify(ctx, ctx.Err())) })
	}
	s.queued = append(s.queued, c)
	s.watchLocked(c)
	var done []finished
	if s.sendableLocked() {
		done = s.flushLocked()
	}
	s.mu.Unlock()
	s.settle(done)
}

// sendableLocked reports whether the queued calls should be written now: when at least as
// many wait as await replies. With nothing out, a lone call goes at once. With a batch out,
// waiting for all its replies would leave Redis idle for a round trip before the next batch,
// and writing each call as it comes would cost a system call per call; a second batch that
// goes out once it is as large as what is out reaches Redis while Redis still works on the
// first. Because calls out shrink as their replies come, the batches settle at about half of
// the calls in flight each, two batches alternating.
func (s *Stream) sendableLocked() bool {
	return s.conn != nil && !s.writing && s.holding == 0 && len(s.queued) > 0 && len(s.queued) >= s.outLocked()
}

// outLocked is the number of calls written and not yet answered.
func (s *Stream) outLocked() int { return len(s.wire) - s.wireHead }

// Idle reports whether no call is queued or awaiting a reply.
func (s *Stream) Idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queued) == 0 && s.wireHead == len(s.wire)
}

// abandon completes c now (its context was cancelled); a reply still due for it is dropped.
func (s *Stream) abandon(c *streamCall, err error) {
	s.mu.Lock()
	if c.done {
		s.mu.Unlock()
		return
	}
	c.done = true
	s.mu.Unlock()
	c.complete(nil, err)
}

// watchLocked keeps the deadline timer armed for the earliest deadline of the live calls.
func (s *Stream) watchLocked(c *streamCall) {
	for len(s.live) > 0 && s.live[0].done { // completed calls leave from the front
		s.live[0] = nil
		s.live = s.live[1:]
	}
	s.live = append(s.live, c)
	switch {
	case s.timer == nil:
		s.timer = time.AfterFunc(time.Until(c.deadline), s.expire)
	case !s.timerAt.IsZero() && !c.deadline.Before(s.timerAt):
		return
	default:
		s.timer.Reset(time.Until(c.deadline))
	}
	s.timerAt = c.deadline
}

// expire completes the calls whose deadline has passed. A call that was written and is still
// unanswered at its deadline means Redis is not answering this connection: like go-redis on a
// read timeout, the connection is dropped, and the calls behind it fail with it.
func (s *Stream) expire() {
	now := time.Now()
	s.mu.Lock()
	s.timerAt = time.Time{}
	var done []finished
	stalled := false
	var next time.Time
	live := s.live[:0]
	for _, c := range s.live {
		switch {
		case c.done:
		case !c.deadline.After(now):
			c.done = true
			stalled = stalled || c.onWire
			done = append(done, finished{c: c, err: errStreamTimeout})
		default:
			live = append(live, c)
			if next.IsZero() || c.deadline.Before(next) {
				next = c.deadline
			}
		}
	}
	clear(s.live[len(live):])
	s.live = live
	if stalled && s.conn != nil {
		done = append(done, s.dropLocked(errStreamReset)...)
	}
	if !next.IsZero() && !s.closed {
		s.timer.Reset(time.Until(next))
		s.timerAt = next
	}
	s.mu.Unlock()
	s.settle(done)
}

// flushLocked writes the queued calls, without blocking: what the socket does not take now is
// left to a writer goroutine.
func (s *Stream) flushLocked() []finished {
	buf, done := s.encodeQueuedLocked(s.wbuf[:0])
	if len(buf) == 0 {
		s.wbuf = buf
		return done
	}
	s.busyLocked()
	n, err := s.tryWrite(buf)
	switch {
	case err != nil:
		s.wbuf = buf[:0]
		return append(done, s.dropLocked(rediserr.Classify(context.Background(), err))...)
	case n == len(buf):
		s.wbuf = buf[:0]
		if cap(buf) > 1<<20 {
			s.wbuf = nil // a burst's buffer is not kept for the quiet that follows
		}
	default:
		s.wbuf = nil // the writer owns buf now
		s.writing = true
		go s.writeRest(s.conn, buf[n:])
	}
	return done
}

// encodeQueuedLocked moves the queued calls onto the wire, appending their commands to buf; a
// call whose arguments cannot be sent fails instead.
func (s *Stream) encodeQueuedLocked(buf []byte) ([]byte, []finished) {
	var done []finished
	for _, c := range s.queued {
		if c.done {
			continue
		}
		mark := len(buf)
		var err error
		if buf, err = appendCommand(buf, c.args); err != nil {
			buf = buf[:mark]
			c.done = true
			done = append(done, finished{c: c, err: &front.Error{Kind: front.ErrInternal, Msg: "redis: " + err.Error()}})
			continue
		}
		c.onWire = true
		s.wire = append(s.wire, c)
	}
	clear(s.queued)
	s.queued, s.retries = s.queued[:0], 0
	return buf, done
}

// tryWrite writes what the socket takes at once: 0 bytes and no error when it is full.
func (s *Stream) tryWrite(b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := s.raw.Write(func(fd uintptr) bool {
		n, errno = rawIO(syscall.SYS_WRITE, fd, b)
		return true // never wait: a full socket is the writer goroutine's to wait for
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, nil
	case errno != 0:
		return 0, os.NewSyscallError("write", errno)
	}
	return n, nil
}

// writeRest finishes a write the socket could not take at once, then keeps writing what
// queued meanwhile until nothing is left; the reader goes on reading all along, so Redis is
// never stuck writing replies to a client that is stuck writing commands.
func (s *Stream) writeRest(conn net.Conn, b []byte) {
	for {
		_, err := conn.Write(b)
		s.mu.Lock()
		if s.conn != conn {
			s.mu.Unlock()
			return
		}
		if err != nil {
			done := s.dropLocked(rediserr.Classify(context.Background(), err))
			s.mu.Unlock()
			s.settle(done)
			return
		}
		s.writing = false
		if len(s.queued) == 0 {
			s.mu.Unlock()
			return
		}
		var done []finished
		b, done = s.encodeQueuedLocked(b[:0])
		s.writing = len(b) > 0
		if s.writing {
			s.busyLocked()
		}
		s.mu.Unlock()
		s.settle(done)
		if len(b) == 0 {
			return
		}
	}
}

// read matches replies to calls until the connection ends. Completions are delivered each
// time the replies received so far are used up, before waiting for more.
func (s *Stream) read(conn net.Conn, raw syscall.RawConn) {
	rd := bufio.NewReaderSize(rawReader{conn, raw}, 64<<10)
	var done []finished
	for {
		reply, err := readReply(rd)
		if err != nil {
			s.settle(done)
			s.lost(conn, err)
			return
		}
		s.feedBeforeLast()
		s.mu.Lock()
		if s.conn != conn { // dropped meanwhile; its calls have been failed
			s.mu.Unlock()
			s.settle(done)
			return
		}
		if s.wireHead == len(s.wire) {
			done = append(done, s.dropLocked(&front.Error{Kind: front.ErrInternal, Msg: "redis: a reply came for no command"})...)
			s.mu.Unlock()
			s.settle(done)
			return
		}
		c := s.wire[s.wireHead]
		s.wire[s.wireHead] = nil
		s.wireHead++
		c.onWire = false
		if !c.done {
			if e, ok := reply.(errorReply); ok && rediserr.IsNoScript(e) && !c.retried {
				// The script cache was emptied (restart, failover, SCRIPT FLUSH): EVAL cannot
				// miss, and caches the script again for the EVALSHAs that follow. It goes
				// ahead of every call submitted after this one, in the order the misses come
				// back: the cache emptied at one instant, so every command written after the
				// first miss missed too, and the effects keep the submission order.
				c.retried = true
				args := append([]any(nil), c.args...)
				args[0], args[1] = "eval", c.source
				c.args = args
				s.queued = slices.Insert(s.queued, s.retries, c)
				s.retries++
			} else {
				c.done = true
				done = append(done, replyOutcome(c, reply))
			}
		}
		idle := rd.Buffered() == 0
		if s.wireHead == len(s.wire) {
			s.wire, s.wireHead = s.wire[:0], 0
		}
		if s.sendableLocked() {
			done = append(done, s.flushLocked()...)
		} else if idle {
			s.answeredLocked()
		}
		s.mu.Unlock()
		if idle {
			s.settle(done)
			clear(done)
			done = done[:0]
		}
	}
}

func replyOutcome(c *streamCall, reply any) finished {
	if e, ok := reply.(errorReply); ok {
		return finished{c: c, err: rediserr.Classify(context.Background(), e)}
	}
	return finished{c: c, reply: reply}
}

// lost ends conn after a read error: its unanswered calls fail with the error.
func (s *Stream) lost(conn net.Conn, err error) {
	s.mu.Lock()
	if s.conn != conn {
		s.mu.Unlock()
		return
	}
	if errors.Is(err, errProtocol) {
		err = &front.Error{Kind: front.ErrInternal, Msg: err.Error()}
	} else {
		err = rediserr.Classify(context.Background(), err)
	}
	done := s.dropLocked(err)
	s.mu.Unlock()
	s.settle(done)
}

// dropLocked closes the connection and fails the calls written on it (their fate is unknown:
// they may or may not have run). Calls not written yet go out on the next connection.
func (s *Stream) dropLocked(err error) []finished {
	_ = s.conn.Close()
	s.conn, s.raw, s.writing = nil, nil, false
	s.wbuf = nil
	done := failAll(nil, s.wire[s.wireHead:], err)
	clear(s.wire)
	s.wire, s.wireHead = s.wire[:0], 0
	if len(s.queued) > 0 && !s.dialing && !s.closed {
		s.dialing = true
		go s.connect()
	}
	return done
}

// failAll completes with err the calls not completed yet, appending to done. Called with the
// lock held.
func failAll(done []finished, calls []*streamCall, err error) []finished {
	for _, c := range calls {
		c.onWire = false
		if !c.done {
			c.done = true
			done = append(done, finished{c: c, err: err})
		}
	}
	return done
}

// connect dials and authenticates a connection, then sends what queued meanwhile; on failure
// the queued calls fail with its error, and so do the calls of the next streamRetryAfter.
func (s *Stream) connect() {
	conn, raw, err := s.dial()
	s.mu.Lock()
	s.dialing = false
	if s.closed {
		s.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
		return
	}
	var done []finished
	if err != nil {
		s.failErr, s.failUntil = err, time.Now().Add(streamRetryAfter)
		done = failAll(done, s.queued, err)
		clear(s.queued)
		s.queued, s.retries = s.queued[:0], 0
	} else {
		s.conn, s.raw = conn, raw
		go s.read(conn, raw)
		done = s.flushLocked()
	}
	s.mu.Unlock()
	s.settle(done)
}

// dial connects to Redis and authenticates as go-redis would (AUTH, SELECT), within the
// stream's timeout.
func (s *Stream) dial() (net.Conn, syscall.RawConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, nil, rediserr.Classify(ctx, err)
	}
	fail := func(err error) (net.Conn, syscall.RawConn, error) {
		_ = conn.Close()
		return nil, nil, err
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return fail(&front.Error{Kind: front.ErrInternal, Msg: "redis: the connection has no descriptor"})
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fail(rediserr.Classify(ctx, err))
	}
	var hello [][]any
	switch {
	case s.password != "" && s.username != "":
		hello = append(hello, []any{"auth", s.username, s.password})
	case s.password != "":
		hello = append(hello, []any{"auth", s.password})
	}
	if s.db != 0 {
		hello = append(hello, []any{"select", strconv.Itoa(s.db)})
	}
	if len(hello) == 0 {
		return conn, raw, nil
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	var buf []byte
	for _, cmd := range hello {
		buf, _ = appendCommand(buf, cmd)
	}
	if _, err := conn.Write(buf); err != nil {
		return fail(rediserr.Classify(ctx, err))
	}
	rd := bufio.NewReader(conn)
	for range hello {
		reply, err := readReply(rd)
		if err != nil {
			return fail(rediserr.Classify(ctx, err))
		}
		if e, ok := reply.(errorReply); ok {
			return fail(rediserr.Classify(ctx, e))
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, raw, nil
}

// Close fails every call still pending and ends the connection.
func (s *Stream) Close() {
	s.mu.Lock()
	s.closed = true
	done := failAll(nil, s.queued, errStreamClosed)
	s.queued, s.retries = nil, 0
	if s.conn != nil {
		done = failAll(done, s.wire[s.wireHead:], errStreamClosed)
		_ = s.conn.Close()
		s.conn, s.raw = nil, nil
		s.wire, s.wireHead = nil, 0
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.live = nil
	s.mu.Unlock()
	s.settle(done)
}
