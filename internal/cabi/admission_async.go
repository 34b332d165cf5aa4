package cabi

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -I${SRCDIR}/../../capi
#include "core.h"
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Asynchronous admission (tk_admit_async, tk_release_async): the calls of admission.go, run on
// a goroutine and completed through the handle's completion queue (async.go), so that an
// event loop admits and releases without blocking its thread. An admit's completion carries
// what its caller needs to release later: the decision, and in message the lease id when
// allowed (the binding axis when refused).
//
// Input errors are returned at once and never queued, as for tk_check_async: the shim checks
// the pointers, the key's length and the cost; the Redis door and the engine also answer an
// unknown policy or one that is not a concurrency policy here (admits.CheckAdmission). On the
// service door the server knows the policies, so those arrive as completions.

// admissionChecker is the door's verdict on an admission call's input (front.Scripted's
// CheckAdmission), when the door holds the policies.
type admissionChecker interface {
	CheckAdmission(op, policy, key string) error
}

// admissionCompletion is the completion of an asynchronous admit.
func admissionCompletion(cookie uint64, a front.Admission, err error) asyncCompletion {
	if err != nil {
		return asyncCompletion{cookie: cookie, status: statusOf(err), msg: err.Error()}
	}
	msg := a.LeaseID
	if !a.Decision.Allowed {
		msg = a.BindingAxis
	}
	return asyncCompletion{cookie: cookie, status: C.TK_OK, decision: a.Decision, msg: msg}
}

// startAdmission queues one call of handle h tagged cookie and runs work on a goroutine; its
// outcome completes the call unless tk_free completed it first. On the embedded engine work
// runs here, on the caller's thread, as the engine's asynchronous checks do: it never waits
// for a network, and a goroutine's wake-up would cost more than the script (measured: a pair
// of admit and release, one in flight, p50 270 µs through goroutines against 43 µs inline).
func startAdmission(id uint64, h *handle, cerr *C.tk_error_t, cookie uint64, policy string, work func() asyncCompletion) C.int {
	s, err := asyncStateFor(id)
	if err != nil {
		return failWith(cerr, err)
	}
	call := &asyncCall{cookie: cookie, policy: policy}
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
	run := func() {
		defer s.running.Done()
		var c asyncCompletion
		func() {
			// The panic guard of every entry point, for the goroutine: a panic completes the
			// call with TK_E_INTERNAL instead of killing the host.
			defer func() {
				if r := recover(); r != nil {
					c = asyncCompletion{cookie: cookie, status: C.TK_E_INTERNAL, msg: "internal error (recovered panic)"}
				}
			}()
			c = work()
		}()
		s.complete(call, c)
	}
	if h.inlineAdmits {
		run()
	} else {
		go run()
	}
	return succeed(cerr)
}

// checkAdmissionInput returns at once what the door says about the call's input; a door
// without an opinion (the service door) lets every call through.
func checkAdmissionInput(h *handle, op, policy, key string) error {
	if h.admits == nil {
		return nil
	}
	if err := h.admits.CheckAdmission(op, policy, key); err != nil && isInputError(err) {
		return err
	}
	return nil
}

// AdmitAsync is tkcore_admit_async: tk_admit_async.
func AdmitAsync(id uint64, cpolicy, ckey unsafe.Pointer, cost int64, cookie uint64, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey)) // copied: no caller memory kept
	return withHandle(id, cerr, func(h *handle) C.int {
		if err := checkAdmissionInput(h, "admit", p, k); err != nil {
			return failWith(cerr, err)
		}
		return startAdmission(id, h, cerr, cookie, p, func() asyncCompletion {
			ctx, cancel := front.Start{Timeout: h.timeout}.Bound(context.Background())
			defer cancel()
			a, err := h.door.Admit(ctx, p, k, cost, 0)
			if err == nil && h.pump != nil && a.LeaseID != "" {
				h.pump.add(a.LeaseID, p, k) // before the completion: a release follows it
			}
			return admissionCompletion(cookie, a, err)
		})
	})
}

// ReleaseAsync is tkcore_release_async: tk_release_async. The lease leaves the handle's
// renewals at once, as with tk_release.
func ReleaseAsync(id uint64, cpolicy, ckey, cleaseID unsafe.Pointer, dropped bool, cookie uint64, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k, lease := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey)), goLeaseID((*C.char)(cleaseID))
	return withHandle(id, cerr, func(h *handle) C.int {
		if err := checkAdmissionInput(h, "release", p, k); err != nil {
			return failWith(cerr, err)
		}
		if h.pump != nil {
			h.pump.remove(lease)
		}
		return startAdmission(id, h, cerr, cookie, p, func() asyncCompletion {
			ctx, cancel := front.Start{Timeout: h.timeout}.Bound(context.Background())
			defer cancel()
			if err := h.door.Release(ctx, p, k, lease, dropped, 0); err != nil {
				return asyncCompletion{cookie: cookie, status: statusOf(err), msg: err.Error()}
			}
			return asyncCompletion{cookie: cookie, status: C.TK_OK}
		})
	})
}
