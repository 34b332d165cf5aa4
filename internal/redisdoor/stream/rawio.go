package stream

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// The stream's socket is non-blocking and waited on through Go's poller, so its reads and
// writes never block in the kernel. They are made as raw system calls: an ordinary one tells
// the runtime it may block (entersyscall), which wakes the runtime's monitor thread whenever
// the process had gone quiet, a futex wake and a thread switch per batch (perf, 16 C threads:
// the monitor took a tenth of the process's CPU time).

// rawIO is read(2) or write(2) (trap) of p on fd, retried on EINTR.
func rawIO(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	for {
		n, _, errno := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

// rawReader reads conn through its raw descriptor, waiting in Go's poller when there is
// nothing to read; its errors read like conn's own.
type rawReader struct {
	conn net.Conn
	raw  syscall.RawConn
}

func (r rawReader) Read(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := r.raw.Read(func(fd uintptr) bool {
		n, errno = rawIO(syscall.SYS_READ, fd, p)
		return errno != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.conn.LocalAddr(), Addr: r.conn.RemoteAddr(),
			Err: os.NewSyscallError("read", errno)}
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}
