package cabi

/*
#include "core.h"

void tk_core_post(uint32_t *signal);

// Lends the waiting thread to the auto-pipeline. Written before the post: the post is the
// release the waiting thread acquires. (TK_CORE_DONE goes through the relay: postDone.)
static void tk_core_lend(tk_core_wait_t *w, uintptr_t turn) {
	w->event = TK_CORE_LEAD;
	w->turn = turn;
	tk_core_post(&w->signal);
}

void *tk_core_done_head(void);
void *tk_core_relaying(void);
*/
import "C"

import (
	"context"
	"runtime/cgo"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// waiterFunc is a front.Waiter for a caller that cannot wait: the function runs on completion.
type waiterFunc func(front.Decision, error)

func (f waiterFunc) Done(d front.Decision, err error) { f(d, err) }

// threadWaiter is a check made for tk_check: the host thread waits in the shim, on a futex
// word (its signal), and is lent to the auto-pipeline when offered (front.ThreadWaiter). Its
// state settles who tells the thread the outcome: the check itself, before tkcore_check
// returns (answered), or the signal once the thread waits for it (parked).
type threadWaiter struct {
	h      *handle
	policy string
	out    *C.tk_decision_t
	cerr   *C.tk_error_t
	wait   *C.tk_core_wait_t
	state  atomic.Int32
	rc     C.int
	queued time.Time // when a submitted check was queued; zero for one made by entering
}

const (
	starting int32 = iota
	parked
	answered
)

func (w *threadWaiter) Done(d front.Decision, err error) {
	defer w.h.release()
	if synthesized, ok := w.h.synthesize(w.policy, err); ok {
		d, err = synthesized, nil
	}
	rc := writeDecision(w.out, w.cerr)(w.h.checked(d), err)
	w.rc = rc
	if !w.state.CompareAndSwap(starting, answered) {
		postDone(w.wait, C.int32_t(rc))
	}
}

// postDone tells w's thread its call's status: pushed onto the relay's stack of completions
// (queue.c, "Relayed wake-ups") with Go's atomics; then, if no woken thread is relaying
// at that moment, the stack is taken and its top thread posted, to wake the rest. w must not
// be touched afterwards.
func postDone(w *C.tk_core_wait_t, status C.int32_t) {
	w.event = C.TK_CORE_DONE
	w.status = status
	p := unsafe.Pointer(w)
	for {
		head := atomic.LoadPointer(doneHead)
		w.link = (*C.tk_core_wait_t)(head)
		if atomic.CompareAndSwapPointer(doneHead, head, p) {
			break
		}
	}
	if atomic.LoadInt32(relaying) != 0 {
		return
	}
	if top := (*C.tk_core_wait_t)(atomic.SwapPointer(doneHead, nil)); top != nil {
		top.relay = 1 // its link, the rest of the stack, is what it relays to
		atomic.AddInt32(relaying, 1)
		postSignal(&top.signal)
	}
}

// postSignal posts a waiting thread's signal (see TK_CORE_SLEEPING in capi/core.h; the C side's
// tk_core_post is the same): an atomic add, and FUTEX_WAKE as a raw system call, unseen by the
// scheduler, only when the thread sleeps.
func postSignal(signal *C.uint32_t) {
	word := (*uint32)(unsafe.Pointer(signal))
	if (atomic.AddUint32(word, 1)-1)&C.TK_CORE_SLEEPING != 0 {
		syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWakePrivate, 1, 0, 0, 0)
	}
}

// futexWakePrivate is FUTEX_WAKE | FUTEX_PRIVATE_FLAG (linux/futex.h).
const futexWakePrivate = 1 | 128

// The relay's shared words in queue.c (C memory, never moved).
var (
	doneHead = (*unsafe.Pointer)(C.tk_core_done_head())
	relaying = (*int32)(C.tk_core_relaying())
)

func (w *threadWaiter) Lead(l coalesce.Lead) {
	C.tk_core_lend(w.wait, C.uintptr_t(cgo.NewHandle(l)))
}

// Check is tkcore_check: tk_check on a thread that waits in the shim (see startThreadCheck).
func Check(id uint64, policy, key unsafe.Pointer, cost, now int64, out, cerr, wait unsafe.Pointer) int32 {
	return int32(startThreadCheck(C.tk_handle_t(id), (*C.char)(policy), (*C.char)(key), C.int64_t(cost), C.int64_t(now),
		(*C.tk_decision_t)(out), (*C.tk_error_t)(cerr), (*C.tk_core_wait_t)(wait), time.Time{}))
}

// startThreadCheck starts a check whose caller's thread waits for it in the shim: its status
// when the check is already answered, else TK_CORE_PENDING and the signal posts the
// outcome. A caller that lends its thread is a front.ThreadWaiter (it may send its own call
// when nothing else is in flight, or be lent to the auto-pipeline); a submitted one, queued
// since queued, is not (the goroutines that start submitted checks must never block).
func startThreadCheck(id C.tk_handle_t, policy, key *C.char, cost, now C.int64_t, out *C.tk_decision_t,
	cerr *C.tk_error_t, wait *C.tk_core_wait_t, queued time.Time) (rc C.int) {
	defer recoverInto(&rc, cerr)
	h, ok := lookup(uint64(id))
	if !ok {
		return badHandle(cerr, uint64(id))
	}
	if d, ok := answerLocally(h, policy, key, cost, now); ok {
		rc = writeDecision(out, cerr)(h.checked(d), nil)
		h.release()
		return rc
	}
	p, k := C.GoString(policy), C.GoString(key)
	// The waiter releases the handle when the check is done, wherever that happens.
	w := &threadWaiter{h: h, policy: p, out: out, cerr: cerr, wait: wait, queued: queued}
	var waiter front.Waiter = w
	if !queued.IsZero() {
		waiter = (*submittedWaiter)(w)
	}
	h.door.StartCheck(context.Background(), p, k, int64(cost), int64(now), waiter)
	// A check that waits for Redis tells the shim that the thread's next ones may be
	// submitted; one answered at once (a lone call, an input error) does not: a submission
	// would only delay such an answer. Written before parking: from then on Done may post.
	if h.queue {
		wait.queue = 1
	}
	if w.state.CompareAndSwap(starting, parked) {
		return C.TK_CORE_PENDING
	}
	wait.queue = 0
	return w.rc
}

// submittedWaiter is a threadWaiter whose thread is not lent: a front.QueuedWaiter.
type submittedWaiter threadWaiter

func (w *submittedWaiter) Done(d front.Decision, err error) { (*threadWaiter)(w).Done(d, err) }
func (w *submittedWaiter) Queued() time.Time                { return w.queued }

// Lead is tkcore_lead: it runs a turn offered to a thread waiting in the shim. A panic stays
// here, like every entry point's (the batch's callers hear of it from the coalescer).
func Lead(turn uintptr) {
	defer func() { _ = recover() }()
	hd := cgo.Handle(turn)
	l := hd.Value().(coalesce.Lead)
	hd.Delete()
	l.Run()
}

// localAnswerer is a door that can answer some checks from state it holds (two-tier L1).
type localAnswerer interface {
	AnswerLocally(policy, key string, cost, nowMs int64) (front.Decision, bool)
}

// answerLocally answers a check the handle's door holds the answer to, reading the C strings
// in place: a local two-tier answer then costs no copy and no waiter (most of what a check
// spent beyond crossing into Go).
func answerLocally(h *handle, policy, key *C.char, cost, now C.int64_t) (front.Decision, bool) {
	la, ok := h.door.(localAnswerer)
	if !ok {
		return front.Decision{}, false
	}
	return la.AnswerLocally(cView(policy), cView(key), int64(cost), int64(now))
}

// cView is a C string as a Go string without a copy: valid only while the C caller keeps the
// memory, i.e. during the call. Bounded like a key (4 KiB) plus one: a longer one is refused by
// the checks downstream.
func cView(s *C.char) string {
	p := unsafe.Pointer(s)
	n := 0
	for n <= 4097 && *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return unsafe.String((*byte)(p), n)
}
