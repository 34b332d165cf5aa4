package cabi

/*
#include "core.h"

int tk_core_queue_open(void);
void *tk_core_queue_head(void);
void *tk_core_queue_sleeping(void);
void *tk_core_queue_len(void);
void *tk_core_queue_fed_by(void);
void *tk_core_queue_out(void);
*/
import "C"

import (
	"math"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The submitter starts the checks host threads queue with tkcore_submit (queue.c): those
// threads wait in the shim without ever entering Go, so they hold none of the runtime's Ps
// (see submit in capi/core.h). It runs from the core's start, like the runtime's own poller,
// so that its eventfd and goroutine are there before any handle and outlive none.
func init() {
	fd := C.tk_core_queue_open()
	if fd < 0 {
		return
	}
	wake := os.NewFile(uintptr(fd), "throttlekit-submit-queue")
	rc, err := wake.SyscallConn()
	if err != nil {
		_ = wake.Close()
		return
	}
	queueServed = true
	go serveQueue(rc)
}

// queueServed is false only if the queue's eventfd could not be set up: then the shim is
// never told to submit (see startThreadCheck).
var queueServed bool

// The queue's shared words in queue.c (C memory, never moved), used with Go's atomics,
// which are sequentially consistent like the C side's: no cgo call per batch.
var (
	queueHead     = (*unsafe.Pointer)(C.tk_core_queue_head())
	queueSleeping = (*int32)(C.tk_core_queue_sleeping())
	queueLen      = (*int32)(C.tk_core_queue_len())
	queueFedBy    = (*uint64)(C.tk_core_queue_fed_by())
	queueOut      = (*int32)(C.tk_core_queue_out())
)

func serveQueue(wake syscall.RawConn) {
	var buf [8]byte
	for {
		r := takeQueue(true)
		if r == nil {
			// The queue announced sleep: a submit now writes the eventfd. Read with a raw
			// system call once the poller reports it readable (os.File's Read would tell the
			// scheduler about a system call, which wakes its monitor thread when it sleeps).
			// A read error other than "would block" cannot happen on an eventfd; the loop
			// takes the queue again whatever happened, so no submit goes unserved.
			_ = wake.Read(func(fd uintptr) bool {
				_, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
				return errno != syscall.EAGAIN
			})
			continue
		}
		startAll(r)
	}
}

// takeQueue empties the queue. With maySleep, when it finds nothing, it announces sleep and
// looks once more (see queue.c): nil then means a submit will write the eventfd.
func takeQueue(maySleep bool) *C.tk_core_request_t {
	atomic.StoreInt32(queueLen, 0)
	r := atomic.SwapPointer(queueHead, nil)
	if r == nil && maySleep {
		atomic.StoreInt32(queueSleeping, 1)
		if r = atomic.SwapPointer(queueHead, nil); r == nil {
			return nil
		}
		atomic.StoreInt32(queueSleeping, 0)
	}
	return (*C.tk_core_request_t)(r)
}

// startAll starts the submitted checks of the stack r, oldest (the bottom) first.
func startAll(r *C.tk_core_request_t) {
	if r == nil {
		return
	}
	var fifo *C.tk_core_request_t
	for r != nil {
		next := r.next
		r.next = fifo
		fifo, r = r, next
	}
	// The shim stamps each request with CLOCK_MONOTONIC, the clock of runtime.nanotime.
	now, mono := time.Now(), nanotime()
	for r = fifo; r != nil; {
		next := r.next
		startSubmitted(r, now.Add(-time.Duration(max(0, mono-int64(r.queued_ns)))))
		r = next
	}
}

// nanotime is the runtime's monotonic clock: CLOCK_MONOTONIC in nanoseconds on Linux.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// queueFeeder feeds the submitted checks to a handle's stream (stream.Feeder): while the
// stream has calls out, the handle's submits wake nobody, and its reader starts them when a
// batch ends.
type queueFeeder C.tk_handle_t

func (f queueFeeder) Busy(out int) {
	atomic.StoreInt32(queueOut, int32(min(out, math.MaxInt32)))
	atomic.StoreUint64(queueFedBy, uint64(f))
}

func (f queueFeeder) Idle() { atomic.CompareAndSwapUint64(queueFedBy, uint64(f), 0) }

func (f queueFeeder) Feed() { startAll(takeQueue(false)) }

// startSubmitted starts one submitted check; its thread hears the outcome through wait.signal.
// r must not be touched once that is posted: the thread may return and reuse its stack.
func startSubmitted(r *C.tk_core_request_t, queued time.Time) {
	rc := startThreadCheck(r.handle, r.policy, r.key, r.cost, r.now_ms, r.out, r.err, &r.wait, queued)
	if rc != C.TK_CORE_PENDING {
		postDone(&r.wait, C.int32_t(rc))
	}
}
