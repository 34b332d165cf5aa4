package cabi

// Asynchronous checks (c-abi.md, "Asynchronous checks"): tk_check_async queues a check and
// returns at once; the check runs on a goroutine and its completion lands in the handle's
// completion queue, signalled through an eventfd that tk_completion_fd hands out and tk_poll
// drains.
//
// The queue's invariants, all under asyncState.mu:
//   - every submitted call is either pending (in the pending list, not yet completed) or done
//     (completed exactly once: its completion is in the queue or already polled);
//   - signalled == the eventfd's counter is non-zero == the queue holds completions (between
//     critical sections). A completion that makes the queue non-empty writes the eventfd; a
//     tk_poll that empties it reads the eventfd back to zero. Both happen under the same lock
//     as the queue change, so a reset can never swallow the signal of a completion appended
//     concurrently, and the fd is never readable with nothing to poll.
//   - the eventfd is closed only under the lock (fd = -1 afterwards), so no operation of the
//     library ever touches a closed (and possibly reused) descriptor.
//
// tk_free (unregister -> shutdownAsync) completes every pending call with TK_E_BADHANDLE,
// closes the eventfd, cancels the checks still running and waits for them. Completions not yet
// polled stay available to tk_poll on the freed handle number until it has drained them; then
// the state is forgotten and tk_poll answers TK_E_BADHANDLE like every other function.

/*
#include <errno.h>
#include <sys/eventfd.h>
#include "throttlekit.h"

static int tk_async_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/twotier"
)

// DebugGoroutines is tkcore_debug_goroutines: the goroutines running, for the tests' leak checks.
func DebugGoroutines() int64 { return int64(runtime.NumGoroutine()) }

// asyncCompletion is one finished call, waiting for tk_poll.
type asyncCompletion struct {
	cookie   uint64
	status   C.int
	decision front.Decision
	msg      string
}

// asyncCall is one submitted call that may still be pending. prev/next link the pending list
// (submission order) and done says it completed; all three are guarded by asyncState.mu.
type asyncCall struct {
	cookie     uint64
	policy     string
	prev, next *asyncCall
	done       bool
}

// asyncState is a handle's completion queue; created on the first tk_check_async or
// tk_completion_fd of the handle.
type asyncState struct {
	id uint64

	mu        sync.Mutex
	fd        int // the eventfd; -1 once tk_free closed it
	signalled bool
	freed     bool
	queue     []asyncCompletion // queue[head:] wait for tk_poll, in completion order
	head      int
	pending   asyncCall // sentinel of the circular pending list

	running sync.WaitGroup // checks started and not yet completed
}

var (
	asyncStates sync.Map   // handle number -> *asyncState, live or freed-but-undrained
	asyncCreate sync.Mutex // serialises creations, so that a handle never gets two eventfds
)

// asyncStateFor returns the queue of handle id, creating it; h must be acquired (live), which
// keeps tk_free from running shutdownAsync before the state is stored.
func asyncStateFor(id uint64) (*asyncState, error) {
	if v, ok := asyncStates.Load(id); ok {
		return v.(*asyncState), nil
	}
	asyncCreate.Lock()
	defer asyncCreate.Unlock()
	if v, ok := asyncStates.Load(id); ok {
		return v.(*asyncState), nil
	}
	fd, errno := C.tk_async_eventfd()
	if fd < 0 {
		return nil, &front.Error{Kind: front.ErrInternal, Msg: fmt.Sprintf("cannot create the completion eventfd: %v", errno), Cause: errno}
	}
	s := &asyncState{id: id, fd: int(fd)}
	s.pending.prev, s.pending.next = &s.pending, &s.pending
	asyncStates.Store(id, s)
	return s, nil
}

// signalLocked makes the eventfd readable (the queue just became non-empty).
func (s *asyncState) signalLocked() {
	if s.signalled || s.fd < 0 {
		return
	}
	var one [8]byte // an eventfd counter is a host-endian uint64
	binary.NativeEndian.PutUint64(one[:], 1)
	for {
		_, err := syscall.Write(s.fd, one[:])
		if err != syscall.EINTR {
			break
		}
	}
	s.signalled = true
}

// resetLocked makes the eventfd unreadable again (the queue just became empty).
func (s *asyncState) resetLocked() {
	if !s.signalled || s.fd < 0 {
		s.signalled = false
		return
	}
	var buf [8]byte
	for {
		_, err := syscall.Read(s.fd, buf[:])
		if err != syscall.EINTR {
			break
		}
	}
	s.signalled = false
}

// complete records call's completion unless it already completed; true when this was the one.
func (s *asyncState) complete(call *asyncCall, c asyncCompletion) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if call.done {
		return false
	}
	call.done = true
	call.prev.next, call.next.prev = call.next, call.prev
	call.prev, call.next = nil, nil
	s.queue = append(s.queue, c)
	s.signalLocked()
	return true
}

// completeAll records the completions of calls (those not completed yet) in one step, so that
// a tk_poll sees all of them or none.
func (s *asyncState) completeAll(calls []*asyncCall, done []asyncCompletion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, call := range calls {
		if call.done {
			continue
		}
		call.done = true
		call.prev.next, call.next.prev = call.next, call.prev
		call.prev, call.next = nil, nil
		s.queue = append(s.queue, done[i])
	}
	if len(s.queue) > s.head {
		s.signalLocked()
	}
}

// isInputError reports whether err is about the call itself (what tk_check_async returns at
// once), as opposed to the store's state (which completes the call, through the fail mode).
func isInputError(err error) bool {
	return errors.Is(err, front.ErrInvalidArgument) || errors.Is(err, front.ErrPolicyNotFound) ||
		errors.Is(err, front.ErrUnsupported)
}

// answeredByServer tells whether err is a server's answer (a gRPC status): it arrived from
// another goroutine, however fast, so it completes the call instead of being returned by
// tk_check_async as the caller's own mistake (on the service door an unknown policy or a
// meter is known only to the server: c-abi.md says those arrive as completions).
func answeredByServer(err error) bool {
	var s interface{ GRPCStatus() *status.Status }
	return errors.As(err, &s)
}

// withdraw forgets a call that was answered before it was queued.
func (s *asyncState) withdraw(call *asyncCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !call.done {
		call.done = true
		call.prev.next, call.next.prev = call.next, call.prev
		call.prev, call.next = nil, nil
	}
}

// completionOf turns a check's outcome into a completion, applying the fail mode exactly as
// tkcore_check does.
func completionOf(h *handle, call *asyncCall, d front.Decision, err error) asyncCompletion {
	if synthesized, ok := h.synthesize(call.policy, err); ok {
		d, err = synthesized, nil
	}
	if err != nil {
		return asyncCompletion{cookie: call.cookie, status: statusOf(err), msg: err.Error()}
	}
	return asyncCompletion{cookie: call.cookie, status: C.TK_OK, decision: h.checked(d)}
}

// CheckAsync is tkcore_check_async: tk_check_async.
func CheckAsync(id uint64, cpolicy, ckey unsafe.Pointer, cost int64, cookie uint64, ccerr unsafe.Pointer) int32 {
	return checkAsync(id, cpolicy, ckey, cost, cookie, nil, nil, (*C.tk_error_t)(ccerr))
}

// CheckAsyncNow is tkcore_check_async_now: tk_check_async_now. A decision made before the door's
// StartCheck returns (a two-tier policy's local answer, every answer of the embedded engine) is
// written to out with *done = 1 and never queued; anything else goes the way of tk_check_async.
// want > 0: the shim asks for a chunk of the key's credits for its slot (credits.c).
func CheckAsyncNow(id uint64, cpolicy, ckey unsafe.Pointer, cost int64, cookie uint64, cout, cdone, ccerr unsafe.Pointer, want int64) int32 {
	out, done, cerr := (*C.tk_decision_t)(cout), (*C.int32_t)(cdone), (*C.tk_error_t)(ccerr)
	if rc, answered := answerNow(id, (*C.char)(cpolicy), (*C.char)(ckey), cost, out, done, cerr, want); answered {
		return rc
	}
	return checkAsync(id, cpolicy, ckey, cost, cookie, out, done, cerr)
}

// answerNow is CheckAsyncNow's fast path, as startThreadCheck's: a check L1 answers is
// decided in place, the C strings read without a copy, nothing queued or allocated. answered
// is false (and nothing written) when L1 cannot answer; a bad handle is checkAsync's to tell.
func answerNow(id uint64, policy, key *C.char, cost int64, out *C.tk_decision_t, done *C.int32_t, cerr *C.tk_error_t, want int64) (rc int32, answered bool) {
	defer recoverInto(&rc, cerr)
	defer func() { answered = answered || rc != C.TK_OK }()
	yieldSometimes(1 + uint32(min(max(want, 0), 1<<16)))
	h, ok := lookup(id)
	if !ok {
		return C.TK_OK, false
	}
	defer h.release()
	d, ok := answerLocally(h, policy, key, C.int64_t(cost), 0)
	if !ok {
		return C.TK_OK, false
	}
	putDecision(out, h.checked(d))
	*done = 1
	if want > 0 && d.Allowed {
		if t, ok := h.door.(*twotier.Door); ok {
			t.TakeLocal(cView(policy), cView(key), want, 0)
		}
	}
	return int32(succeed(cerr)), true
}

// checkAsync is tk_check_async, and with out and done non-nil tk_check_async_now.
func checkAsync(id uint64, cpolicy, ckey unsafe.Pointer, cost int64, cookie uint64, out *C.tk_decision_t, done *C.int32_t, cerr *C.tk_error_t) int32 {
	policy, key := (*C.char)(cpolicy), (*C.char)(ckey)
	p, k := C.GoString(policy), C.GoString(key) // copied: the call keeps no caller memory
	if done != nil {
		*done = 0
	}
	return withHandle(id, cerr, func(h *handle) C.int {
		s, err := asyncStateFor(uint64(id))
		if err != nil {
			return failWith(cerr, err)
		}
		call := &asyncCall{cookie: uint64(cookie), policy: p}

		s.mu.Lock()
		if s.freed { // unreachable while h is acquired; kept as a guard
			s.mu.Unlock()
			return badHandle(cerr, id)
		}
		call.prev, call.next = s.pending.prev, &s.pending
		s.pending.prev.next = call
		s.pending.prev = call
		s.running.Add(1)
		s.mu.Unlock()

		// Started for a caller that cannot wait: batched with the handle's other checks, and
		// never blocking this (the event loop's) thread (at most a non-blocking write);
		// StartCheck completes it by the backend's timeout (the handle's) whatever the store
		// is doing, and tk_free's closing the backend ends it at once. What StartCheck answers
		// before it returns is the client's verdict on the input (unknown policy, a meter, a
		// bad key): returned here, never queued; and, for tk_check_async_now (out != nil), a
		// decision: written to out, never queued either. The state settles which side tells
		// the outcome, as in startThreadCheck: the waiter, when it runs first (answered), or
		// the queue once this call has parked the check.
		var state atomic.Int32 // starting, then parked (queued) or answered (at once)
		var early error
		var now asyncCompletion
		h.door.StartCheck(context.Background(), p, k, int64(cost), 0, waiterFunc(func(d front.Decision, err error) {
			if isInputError(err) && !answeredByServer(err) {
				early = err // read only after the swap below is seen
				if state.CompareAndSwap(starting, answered) {
					return
				}
			}
			c := completionOf(h, call, d, err)
			if out != nil && c.status == C.TK_OK && early == nil {
				now = c // read only after the swap below is seen
				if state.CompareAndSwap(starting, answered) {
					return
				}
			}
			defer s.running.Done()
			s.complete(call, c)
		}))
		if !state.CompareAndSwap(starting, parked) {
			s.withdraw(call)
			s.running.Done()
			if early != nil {
				return failWith(cerr, early)
			}
			putDecision(out, now.decision)
			*done = 1
		}
		return succeed(cerr)
	})
}

// CheckAllAsync is tkcore_check_all_async: tk_check_all_async. The items' n completions carry
// the cookies cookie, cookie+1, ... in item order; they are queued together, once the one
// all-or-nothing call is decided. The door's verdict on the items (an unknown policy, a meter)
// is returned here when the door holds the policies (Redis, the engine); the service door's
// arrives with the completions.
func CheckAllAsync(id uint64, citems unsafe.Pointer, n uint, cookie uint64, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	items := checkItems(citems, n)
	return withHandle(id, cerr, func(h *handle) C.int {
		if v, ok := h.door.(interface{ ValidateItems([]front.CheckItem) error }); ok {
			if err := v.ValidateItems(items); err != nil {
				return failWith(cerr, err)
			}
		}
		if len(items) == 0 {
			return succeed(cerr)
		}
		s, err := asyncStateFor(uint64(id))
		if err != nil {
			return failWith(cerr, err)
		}
		calls := make([]*asyncCall, len(items))
		s.mu.Lock()
		if s.freed { // unreachable while h is acquired; kept as a guard
			s.mu.Unlock()
			return badHandle(cerr, id)
		}
		for i := range calls {
			call := &asyncCall{cookie: cookie + uint64(i), policy: items[i].Policy}
			call.prev, call.next = s.pending.prev, &s.pending
			s.pending.prev.next = call
			s.pending.prev = call
			calls[i] = call
		}
		s.running.Add(1)
		s.mu.Unlock()
		h.shadowItems(items)
		go func() {
			defer s.running.Done()
			ctx, cancel := front.Start{Timeout: h.timeout}.Bound(context.Background())
			ds, err := h.door.DecideAll(ctx, items, 0)
			cancel()
			done := make([]asyncCompletion, len(calls))
			for i, call := range calls {
				var d front.Decision
				if err == nil {
					d = ds[i]
				}
				done[i] = completionOf(h, call, d, err)
			}
			s.completeAll(calls, done)
		}()
		return succeed(cerr)
	})
}

// CompletionFD is tkcore_completion_fd: tk_completion_fd.
func CompletionFD(id uint64, cfdOut, ccerr unsafe.Pointer) int32 {
	fdOut, cerr := (*C.int)(cfdOut), (*C.tk_error_t)(ccerr)
	return withHandle(id, cerr, func(h *handle) C.int {
		s, err := asyncStateFor(uint64(id))
		if err != nil {
			return failWith(cerr, err)
		}
		s.mu.Lock()
		fd := s.fd
		s.mu.Unlock()
		if fd < 0 {
			return badHandle(cerr, id)
		}
		*fdOut = C.int(fd)
		return succeed(cerr)
	})
}

// Poll is tkcore_poll: tk_poll.
func Poll(id uint64, cout unsafe.Pointer, max uint, cnOut unsafe.Pointer) (rc int32) {
	out, nOut := (*C.tk_completion_t)(cout), (*C.size_t)(cnOut)
	defer recoverInto(&rc, nil)
	*nOut = 0
	if v, ok := asyncStates.Load(uint64(id)); ok {
		*nOut = C.size_t(v.(*asyncState).poll(out, int(min(max, 1<<30))))
		return C.TK_OK
	}
	// No queue: a live handle that never went asynchronous has nothing to deliver.
	h, ok := lookup(uint64(id))
	if !ok {
		return C.TK_E_BADHANDLE
	}
	h.release()
	return C.TK_OK
}

// poll moves up to max completions into out and returns how many.
func (s *asyncState) poll(out *C.tk_completion_t, max int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(max, len(s.queue)-s.head)
	if n > 0 {
		outs := unsafe.Slice(out, n)
		for i := range outs {
			putCompletion(&outs[i], &s.queue[s.head+i])
			s.queue[s.head+i] = asyncCompletion{}
		}
		s.head += n
	}
	if s.head == len(s.queue) {
		if cap(s.queue) > 4096 {
			s.queue = nil // after a burst, give the memory back
		} else {
			s.queue = s.queue[:0]
		}
		s.head = 0
		s.resetLocked()
		if s.freed {
			// Everything tk_free left behind has been delivered: forget the handle.
			asyncStates.Delete(s.id)
		}
	}
	return n
}

func putCompletion(out *C.tk_completion_t, c *asyncCompletion) {
	*out = C.tk_completion_t{}
	out.cookie = C.uint64_t(c.cookie)
	out.status = C.int32_t(c.status)
	if c.status == C.TK_OK {
		putDecision(&out.decision, c.decision)
	}
	// "" for a check that succeeded; an error's words; an admission's lease id or binding axis
	putCString(unsafe.Slice((*byte)(unsafe.Pointer(&out.message[0])), len(out.message)), c.msg)
}

// shutdownAsync runs in tk_free once no call can start on handle id any more: it completes
// every pending call with TK_E_BADHANDLE and closes the eventfd. It returns the queue (nil if
// the handle never went asynchronous), whose checks still running tk_free ends by closing the
// backend, then waits for (their late results are dropped: their calls already completed).
func shutdownAsync(id uint64) *asyncState {
	v, ok := asyncStates.Load(id)
	if !ok {
		return nil
	}
	s := v.(*asyncState)
	s.mu.Lock()
	s.freed = true
	msg := "handle " + itoa(id) + " was freed (tk_free) before this call completed"
	for call := s.pending.next; call != &s.pending; {
		next := call.next
		call.done = true
		call.prev, call.next = nil, nil
		s.queue = append(s.queue, asyncCompletion{cookie: call.cookie, status: C.TK_E_BADHANDLE, msg: msg})
		call = next
	}
	s.pending.prev, s.pending.next = &s.pending, &s.pending
	if s.fd >= 0 {
		_ = syscall.Close(s.fd)
		s.fd = -1
	}
	s.signalled = false
	if s.head == len(s.queue) {
		asyncStates.Delete(id) // nothing left to deliver
	}
	s.mu.Unlock()
	return s
}
