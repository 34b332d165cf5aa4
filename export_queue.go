package main

/*
#cgo CFLAGS: -I${SRCDIR}/capi
#include "core.h"

int tk_core_queue_open(void);
tk_core_request_t *tk_core_queue_take(int may_sleep);
void *tk_core_queue_fed_by(void);
void *tk_core_queue_out(void);
*/
import "C"

import (
	"math"
	"os"
	"sync/atomic"
	"time"
)

// The submitter starts the checks host threads queue with tkcore_submit (core_queue.c): those
// threads wait in the shim without ever entering Go, so they hold none of the runtime's Ps
// (see submit in capi/core.h). It runs from the core's start, like the runtime's own poller,
// so that its eventfd and goroutine are there before any handle and outlive none.
func init() {
	if fd := C.tk_core_queue_open(); fd >= 0 {
		queueServed = true
		go serveQueue(os.NewFile(uintptr(fd), "throttlekit-submit-queue"))
	}
}

// queueServed is false only if the queue's eventfd could not be created: then the shim is
// never told to submit (see startThreadCheck).
var queueServed bool

func serveQueue(wake *os.File) {
	var buf [8]byte
	for {
		r := C.tk_core_queue_take(1)
		if r == nil {
			// The queue announced sleep: a submit now writes the eventfd. A read error other
			// than "would block" cannot happen on an eventfd; retrying keeps the queue served.
			_, _ = wake.Read(buf[:])
			continue
		}
		startAll(r)
	}
}

// startAll starts the submitted checks of list, oldest first.
func startAll(r *C.tk_core_request_t) {
	if r == nil {
		return
	}
	now := time.Now()
	for r != nil {
		next := r.next
		startSubmitted(r, now.Add(-time.Duration(r.queued_ns)))
		r = next
	}
}

// queueFeeder feeds the submitted checks to a handle's stream (client.Feeder): while the
// stream has calls out, the handle's submits wake nobody, and its reader starts them when a
// batch ends.
type queueFeeder C.tk_handle_t

func (f queueFeeder) Busy(out int) {
	atomic.StoreInt32(queueOut, int32(min(out, math.MaxInt32)))
	atomic.StoreUint64(queueFedBy, uint64(f))
}

func (f queueFeeder) Idle() { atomic.CompareAndSwapUint64(queueFedBy, uint64(f), 0) }

// queueFedBy and queueOut are core_queue.c's queue_fed_by and queue_out: plain atomics, not a
// cgo call per batch.
var (
	queueFedBy = (*uint64)(C.tk_core_queue_fed_by())
	queueOut   = (*int32)(C.tk_core_queue_out())
)

func (f queueFeeder) Feed() { startAll(C.tk_core_queue_take(0)) }

// startSubmitted starts one submitted check; its thread hears the outcome through wait.sem.
// r must not be touched once that is posted: the thread may return and reuse its stack.
func startSubmitted(r *C.tk_core_request_t, queued time.Time) {
	rc := startThreadCheck(r.handle, r.policy, r.key, r.cost, r.now_ms, r.out, r.err, &r.wait, queued)
	if rc != C.TK_CORE_PENDING {
		postDone(&r.wait, C.int32_t(rc))
	}
}
