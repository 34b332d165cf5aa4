// Command throttlekit-core is the Go core of libthrottlekit, built with -buildmode=c-shared as
// libthrottlekit-core.so. Only the C shim (capi/) calls it, through the private tkcore_*
// entry points below (capi/core.h), after checking every argument it can check without Go.
// Each is one call into internal/cabi, the Go side of the C boundary: handles, conversions,
// waiting threads, the fail mode and the panic guard. tkcore_submit and tkcore_relay are C
// (internal/cabi/queue.c).
package main

/*
#cgo CFLAGS: -I${SRCDIR}/include -I${SRCDIR}/capi
#include "core.h"
*/
import "C"

import (
	"unsafe"

	"github.com/throttlekit/throttlekit-go/internal/cabi"
)

func main() {}

//export tkcore_abi_version
func tkcore_abi_version() C.int { return C.int(cabi.ABIVersion()) }

//export tkcore_open_redis
func tkcore_open_redis(url, yaml *C.char, opts *C.tk_options_t, out *C.tk_handle_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.OpenRedis(unsafe.Pointer(url), unsafe.Pointer(yaml), unsafe.Pointer(opts), unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_open_service
func tkcore_open_service(target *C.char, opts *C.tk_options_t, out *C.tk_handle_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.OpenService(unsafe.Pointer(target), unsafe.Pointer(opts), unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_open_memory
func tkcore_open_memory(yaml *C.char, opts *C.tk_options_t, out *C.tk_handle_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.OpenMemory(unsafe.Pointer(yaml), unsafe.Pointer(opts), unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_free
func tkcore_free(id C.tk_handle_t) C.int { return C.int(cabi.Free(uint64(id))) }

//export tkcore_check
func tkcore_check(id C.tk_handle_t, policy, key *C.char, cost, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t, wait *C.tk_core_wait_t) C.int {
	return C.int(cabi.Check(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), int64(now),
		unsafe.Pointer(out), unsafe.Pointer(cerr), unsafe.Pointer(wait)))
}

//export tkcore_lead
func tkcore_lead(turn C.uintptr_t) { cabi.Lead(uintptr(turn)) }

//export tkcore_check_many
func tkcore_check_many(id C.tk_handle_t, policy *C.char, keys **C.char, n C.size_t, cost, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.CheckMany(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(keys), uint(n), int64(cost), int64(now),
		unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_check_all
func tkcore_check_all(id C.tk_handle_t, items *C.tk_check_item_t, n C.size_t, now C.int64_t, out *C.tk_decision_t, all *C.int32_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.CheckAll(uint64(id), unsafe.Pointer(items), uint(n), int64(now), unsafe.Pointer(out), unsafe.Pointer(all), unsafe.Pointer(cerr)))
}

//export tkcore_reset
func tkcore_reset(id C.tk_handle_t, policy, key *C.char, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Reset(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(cerr)))
}

//export tkcore_refund
func tkcore_refund(id C.tk_handle_t, policy, key *C.char, cost C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Refund(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_set_override
func tkcore_set_override(id C.tk_handle_t, policy, key, spec *C.char, ttl C.int64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.SetOverride(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(spec), int64(ttl), unsafe.Pointer(cerr)))
}

//export tkcore_clear_override
func tkcore_clear_override(id C.tk_handle_t, policy, key *C.char, cerr *C.tk_error_t) C.int {
	return C.int(cabi.ClearOverride(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(cerr)))
}

//export tkcore_check_all_async
func tkcore_check_all_async(id C.tk_handle_t, items *C.tk_check_item_t, n C.size_t, cookie C.uint64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.CheckAllAsync(uint64(id), unsafe.Pointer(items), uint(n), uint64(cookie), unsafe.Pointer(cerr)))
}

//export tkcore_peek
func tkcore_peek(id C.tk_handle_t, policy, key *C.char, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Peek(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(now), unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_forecast
func tkcore_forecast(id C.tk_handle_t, policy, key *C.char, cost, now C.int64_t, out *C.tk_forecast_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Forecast(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), int64(now),
		unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_debit
func tkcore_debit(id C.tk_handle_t, policy, key *C.char, tokens, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Debit(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(tokens), int64(now),
		unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_debug_goroutines
func tkcore_debug_goroutines() C.int64_t { return C.int64_t(cabi.DebugGoroutines()) }

//export tkcore_check_async
func tkcore_check_async(id C.tk_handle_t, policy, key *C.char, cost C.int64_t, cookie C.uint64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.CheckAsync(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), uint64(cookie), unsafe.Pointer(cerr)))
}

//export tkcore_check_async_now
func tkcore_check_async_now(id C.tk_handle_t, policy, key *C.char, cost C.int64_t, cookie C.uint64_t, out *C.tk_decision_t, done *C.int32_t, cerr *C.tk_error_t, want C.int64_t) C.int {
	return C.int(cabi.CheckAsyncNow(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), uint64(cookie),
		unsafe.Pointer(out), unsafe.Pointer(done), unsafe.Pointer(cerr), int64(want)))
}

//export tkcore_completion_fd
func tkcore_completion_fd(id C.tk_handle_t, fdOut *C.int, cerr *C.tk_error_t) C.int {
	return C.int(cabi.CompletionFD(uint64(id), unsafe.Pointer(fdOut), unsafe.Pointer(cerr)))
}

//export tkcore_poll
func tkcore_poll(id C.tk_handle_t, out *C.tk_completion_t, max C.size_t, nOut *C.size_t) C.int {
	return C.int(cabi.Poll(uint64(id), unsafe.Pointer(out), uint(max), unsafe.Pointer(nOut)))
}

//export tkcore_admit
func tkcore_admit(id C.tk_handle_t, policy, key *C.char, cost, now C.int64_t, out *C.tk_admission_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Admit(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), int64(now),
		unsafe.Pointer(out), unsafe.Pointer(cerr)))
}

//export tkcore_release
func tkcore_release(id C.tk_handle_t, policy, key, leaseID *C.char, dropped C.int, now C.int64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Release(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(leaseID), dropped != 0,
		int64(now), unsafe.Pointer(cerr)))
}

//export tkcore_heartbeat
func tkcore_heartbeat(id C.tk_handle_t, policy, key *C.char, leaseIDs **C.char, n C.size_t, now C.int64_t,
	reclaimed *C.size_t, nReclaimed *C.size_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.Heartbeat(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(leaseIDs), uint(n),
		int64(now), unsafe.Pointer(reclaimed), unsafe.Pointer(nReclaimed), unsafe.Pointer(cerr)))
}

//export tkcore_admit_async
func tkcore_admit_async(id C.tk_handle_t, policy, key *C.char, cost C.int64_t, cookie C.uint64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.AdmitAsync(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), int64(cost), uint64(cookie), unsafe.Pointer(cerr)))
}

//export tkcore_release_async
func tkcore_release_async(id C.tk_handle_t, policy, key, leaseID *C.char, dropped C.int, cookie C.uint64_t, cerr *C.tk_error_t) C.int {
	return C.int(cabi.ReleaseAsync(uint64(id), unsafe.Pointer(policy), unsafe.Pointer(key), unsafe.Pointer(leaseID), dropped != 0,
		uint64(cookie), unsafe.Pointer(cerr)))
}
