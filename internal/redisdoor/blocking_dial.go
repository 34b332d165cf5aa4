package redisdoor

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// BlockingDial dials TCP connections whose reads and writes are plain blocking system calls
// instead of Go's network poller. It is meant for goroutines running on threads the Go
// runtime does not own — calls arriving from C through the C ABI: such a goroutine is locked
// to its thread, so parking it in the poller costs two thread handoffs per round trip, while
// a blocking read lets the kernel wake the very thread that waits. Deadlines are honoured
// with SO_RCVTIMEO / SO_SNDTIMEO. Go programs should keep the default dialer.
func BlockingDial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("blocking dialer: only tcp")}
	}
	raddr, err := net.DefaultResolver.LookupNetIP(ctx, "ip", hostOf(addr))
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "tcp", portOf(addr))
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var lastErr error
	for _, ip := range raddr {
		c, err := dialBlocking(ctx, &net.TCPAddr{IP: ip.AsSlice(), Port: port})
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no address")
	}
	return nil, &net.OpError{Op: "dial", Net: network, Addr: nil, Err: lastErr}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "6379"
	}
	return p
}

func dialBlocking(ctx context.Context, raddr *net.TCPAddr) (net.Conn, error) {
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := raddr.IP.To4(); ip4 != nil {
		s := &syscall.SockaddrInet4{Port: raddr.Port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: raddr.Port}
		copy(s.Addr[:], raddr.IP.To16())
		sa = s
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &blockingConn{fd: fd, raddr: raddr}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	deadline, _ := ctx.Deadline()
	for {
		if err := c.setTimeout(syscall.SO_SNDTIMEO, deadline); err != nil {
			c.Close()
			return nil, err
		}
		err = syscall.Connect(fd, sa)
		if err == syscall.EINTR && ctx.Err() == nil {
			continue
		}
		break
	}
	if err != nil {
		c.Close()
		if err == syscall.EINPROGRESS || err == syscall.EAGAIN {
			return nil, timeoutError{op: "connect"}
		}
		return nil, os.NewSyscallError("connect", err)
	}
	if lsa, err := syscall.Getsockname(fd); err == nil {
		c.laddr = sockaddrToTCP(lsa)
	}
	return c, nil
}

func sockaddrToTCP(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	}
	return nil
}

// blockingConn is a net.Conn over a blocking socket. go-redis uses one connection from one
// goroutine at a time; the mutex only guards the deadlines and Close.
type blockingConn struct {
	fd           int
	laddr, raddr net.Addr
	mu           sync.Mutex
	readDL       time.Time
	writeDL      time.Time
	closed       bool
	// The relative timeouts last given to the kernel, per option: a call's deadline is
	// usually "now + the call timeout", so most calls need no new setsockopt at all.
	lastRcv, lastSnd time.Duration
}

func (c *blockingConn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		dl, closed := c.readDL, c.closed
		c.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		if err := c.setTimeout(syscall.SO_RCVTIMEO, dl); err != nil {
			return 0, err
		}
		n, err := syscall.Read(c.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, timeoutError{op: "read"}
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: os.NewSyscallError("read", err)}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *blockingConn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		c.mu.Lock()
		dl, closed := c.writeDL, c.closed
		c.mu.Unlock()
		if closed {
			return written, net.ErrClosed
		}
		if err := c.setTimeout(syscall.SO_SNDTIMEO, dl); err != nil {
			return written, err
		}
		n, err := syscall.Write(c.fd, b[written:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return written, timeoutError{op: "write"}
		case err != nil:
			return written, &net.OpError{Op: "write", Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: os.NewSyscallError("write", err)}
		}
		written += n
	}
	return written, nil
}

// timeoutSlack is how much later than its deadline a system call may give up: within it,
// the timeout already set on the socket is kept, saving a setsockopt per read and write.
const timeoutSlack = time.Millisecond

// setTimeout turns an absolute deadline into the socket's relative timeout for the next
// system call (zero deadline: none). A deadline already past is a timeout at once.
func (c *blockingConn) setTimeout(opt int, deadline time.Time) error {
	var left time.Duration // 0: no timeout
	if !deadline.IsZero() {
		if left = time.Until(deadline); left <= 0 {
			return timeoutError{op: "deadline"}
		}
	}
	last := &c.lastRcv
	if opt == syscall.SO_SNDTIMEO {
		last = &c.lastSnd
	}
	if left == 0 && *last == 0 || left > 0 && left <= *last && left >= *last-timeoutSlack {
		return nil // the socket's timeout ends after the deadline, by timeoutSlack at most
	}
	var set time.Duration
	if left > 0 {
		// Half the slack on top, so that the next calls, whose deadlines lie about the same
		// distance ahead, find it still fitting.
		set = left + timeoutSlack/2
	}
	tv := syscall.NsecToTimeval(set.Nanoseconds())
	if err := syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	*last = set
	return nil
}

func (c *blockingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	// shutdown first wakes a goroutine blocked in read on another thread.
	_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	return syscall.Close(c.fd)
}

func (c *blockingConn) LocalAddr() net.Addr  { return c.laddr }
func (c *blockingConn) RemoteAddr() net.Addr { return c.raddr }

func (c *blockingConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL, c.writeDL = t, t
	c.mu.Unlock()
	return nil
}

func (c *blockingConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL = t
	c.mu.Unlock()
	return nil
}

func (c *blockingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDL = t
	c.mu.Unlock()
	return nil
}

// timeoutError is a net.Error whose Timeout() is true, as go-redis and classifyRedisError
// expect of a passed deadline.
type timeoutError struct{ op string }

func (e timeoutError) Error() string   { return "i/o timeout (" + e.op + ")" }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
