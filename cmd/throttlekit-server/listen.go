package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listen opens the TCP listener, with a message a user can act on when the port is taken.
func listen(host string, port int) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	lis, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("address %s is already in use (another server on that port? pick one with --port)", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return lis, nil
}

// isLoopback tells whether host reaches this machine only. A name other than localhost is
// taken as public, since it may resolve to anything.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connLimit is a listener that keeps at most max accepted connections open: a connection
// beyond is closed as soon as it is accepted (the client sees the connection end and may
// retry), rather than left waiting in the kernel's queue, where it would stall the clients
// behind it. Refusals are counted and logged at most once per refusalLogEvery.
type connLimit struct {
	net.Listener
	slots   chan struct{} // one token per open connection
	open    prometheus.Gauge
	refused prometheus.Counter
	log     *slog.Logger

	lastLog  atomic.Int64 // unix nanoseconds of the last refusal logged
	unlogged atomic.Int64 // refusals since then
}

const refusalLogEvery = 10 * time.Second

func limitConnections(lis net.Listener, max int, m *metrics, log *slog.Logger) *connLimit {
	return &connLimit{Listener: lis, slots: make(chan struct{}, max), open: m.connections, refused: m.refusedConnections, log: log}
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.open.Inc()
			return &limitedConn{Conn: c, l: l}, nil
		default:
			_ = c.Close()
			l.refused.Inc()
			l.noteRefusal()
		}
	}
}

func (l *connLimit) noteRefusal() {
	l.unlogged.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(refusalLogEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	n := l.unlogged.Swap(0)
	l.log.Warn("connections refused: the server has --max-connections open", "max_connections", cap(l.slots),
		"refused_since_last", n)
}

// limitedConn gives its slot back once, on its first Close.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		<-c.l.slots
		c.l.open.Dec()
	})
	return err
}
