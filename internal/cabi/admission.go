package cabi

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -I${SRCDIR}/../../capi
#include <string.h>
#include "core.h"
*/
import "C"

import (
	"context"
	"time"
	"unsafe"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// The Go side of tk_admit, tk_release and tk_heartbeat (and their _at twins): the shim has
// checked the pointers, policy, key and cost; the door decides. No fail mode applies to
// admission: a synthesized admission would hand out a slot nobody holds.

// Admit is tkcore_admit.
func Admit(id uint64, cpolicy, ckey unsafe.Pointer, cost, now int64, cout, ccerr unsafe.Pointer) int32 {
	out, cerr := (*C.tk_admission_t)(cout), (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey))
	return withHandle(id, cerr, func(h *handle) C.int {
		a, err := h.door.Admit(context.Background(), p, k, cost, now)
		if err != nil {
			return failWith(cerr, err)
		}
		if h.pump != nil && a.LeaseID != "" {
			h.pump.add(a.LeaseID, p, k)
		}
		putAdmission(out, a)
		return succeed(cerr)
	})
}

// Release is tkcore_release.
func Release(id uint64, cpolicy, ckey, cleaseID unsafe.Pointer, dropped bool, now int64, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k, lease := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey)), goLeaseID((*C.char)(cleaseID))
	return withHandle(id, cerr, func(h *handle) C.int {
		if h.pump != nil {
			h.pump.remove(lease)
		}
		if err := h.door.Release(context.Background(), p, k, lease, dropped, now); err != nil {
			return failWith(cerr, err)
		}
		return succeed(cerr)
	})
}

// Heartbeat is tkcore_heartbeat: the indexes of the ids not renewed go to reclaimed.
func Heartbeat(id uint64, cpolicy, ckey, cids unsafe.Pointer, n uint, now int64, creclaimed, cnReclaimed, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey))
	ids := make([]string, int(n))
	if n > 0 {
		for i, s := range unsafe.Slice((**C.char)(cids), int(n)) {
			ids[i] = goLeaseID(s)
		}
	}
	nReclaimed := (*C.size_t)(cnReclaimed)
	return withHandle(id, cerr, func(h *handle) C.int {
		hb, err := h.door.Heartbeat(context.Background(), p, k, ids, now)
		if err != nil {
			return failWith(cerr, err)
		}
		live := make(map[string]bool, len(hb.Live))
		for _, l := range hb.Live {
			live[l] = true
		}
		var reclaimed []C.size_t
		if n > 0 {
			reclaimed = unsafe.Slice((*C.size_t)(creclaimed), int(n))
		}
		count := 0
		for i, l := range ids {
			if !live[l] {
				reclaimed[count] = C.size_t(i)
				count++
			}
		}
		*nReclaimed = C.size_t(count)
		return succeed(cerr)
	})
}

// goLeaseID copies a lease id, reading at most a little past the longest id that can have
// been issued: a longer string is unknown however long it is, so there is no need to read
// it whole (a caller may pass any C string).
func goLeaseID(s *C.char) string {
	n := C.strnlen(s, C.size_t(front.MaxLeaseIDBytes+1))
	return C.GoStringN(s, C.int(n))
}

func putAdmission(out *C.tk_admission_t, a front.Admission) {
	*out = C.tk_admission_t{}
	putDecision(&out.decision, a.Decision)
	putCString(unsafe.Slice((*byte)(unsafe.Pointer(&out.lease_id[0])), len(out.lease_id)), a.LeaseID)
	out.lease_expires_at_ms = C.int64_t(a.LeaseExpiresAt)
	putCString(unsafe.Slice((*byte)(unsafe.Pointer(&out.binding_axis[0])), len(out.binding_axis)), a.BindingAxis)
	if a.PolicyDenied {
		out.policy_denied = 1
	}
}

// The header's buffers hold what the core writes into them: a lease id (32 hex characters)
// and the longest binding axis, each with its NUL. Each constant overflows a uint, and the
// core does not compile, when a buffer is too small.
const (
	_ = uint(len(C.tk_admission_t{}.lease_id) - 33)
	_ = uint(len(C.tk_admission_t{}.binding_axis) - len(front.AxisConcurrency) - 1)
)

// leaseTTL is tk_options_t.lease_ttl_ms (0: the default).
func leaseTTL(opts *C.tk_options_t) time.Duration {
	if opts.lease_ttl_ms <= 0 {
		return front.DefaultLeaseTTL
	}
	return time.Duration(opts.lease_ttl_ms) * time.Millisecond
}

// leasePumpFor starts a handle's lease renewals when tk_options_t.lease_heartbeat asks for them.
func leasePumpFor(opts *C.tk_options_t, door front.Door, ttl, timeout time.Duration) *leasePump {
	if opts.lease_heartbeat != 1 {
		return nil
	}
	return newLeasePump(door, ttl, timeout)
}
