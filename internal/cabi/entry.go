package cabi

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -I${SRCDIR}/../../capi
#include "core.h"
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/servicedoor"
	"github.com/throttlekit/throttlekit-go/internal/twotier"
)

func init() {
	// The host owns its stderr: go-redis would otherwise print its pool's complaints there.
	// Every failure reaches the caller as a status and message instead.
	redis.SetLogger(silentLogger{})

	// Host threads calling in spend most of a call in blocking system calls (BlockingDial) and
	// need one of the runtime's Ps only briefly on the way out; with as many Ps as cores, 16
	// threads returning at once queue for them (measured: half the throughput at 16 threads
	// with 2 Ps, on 2 cores). An explicit GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(4, 2*runtime.NumCPU()))
	}
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// ABIVersion is the TK_CORE_ABI this core was built with (capi/core.h): the shim
// checks it against its own when it loads the core.
func ABIVersion() int32 { return C.TK_CORE_ABI }

// OpenRedis is tkcore_open_redis: tk_open_redis once the shim checked its arguments.
func OpenRedis(curl, cyaml, copts, cout, ccerr unsafe.Pointer) (rc int32) {
	url, yaml, opts, out, cerr := (*C.char)(curl), (*C.char)(cyaml), (*C.tk_options_t)(copts), (*C.tk_handle_t)(cout), (*C.tk_error_t)(ccerr)
	defer recoverInto(&rc, cerr)
	timeout := optionTimeout(opts.timeout_ms)
	b, err := redisdoor.Open(C.GoString(url), []byte(C.GoString(yaml)),
		redisdoor.Options{Namespace: optionString(opts.key_namespace), Timeout: timeout,
			DisableAutoPipeline: opts.auto_pipeline < 0, LocalMaxKeys: int(opts.local_max_keys)},
		redisdoor.ConnectOptions{
			// Calls arrive on the host's threads: blocking sockets let the kernel wake the
			// waiting thread itself (see redisdoor.BlockingDial).
			Dialer:      redisdoor.BlockingDial,
			Timeout:     timeout,
			TLSCAFile:   optionString(opts.tls_ca_file),
			TLSCertFile: optionString(opts.tls_cert_file),
			TLSKeyFile:  optionString(opts.tls_key_file),
		})
	if err != nil {
		return int32(failWith(cerr, err))
	}
	h := &handle{door: twotier.OverRedis(b, redisdoor.Options{LocalMaxKeys: int(opts.local_max_keys)}),
		failMode: front.FailMode(opts.fail_mode), timeout: timeout,
		queue: queueServed && b.Streamed(), shadow: opts.shadow == 1, admits: b, override: b}
	ttl := leaseTTL(opts)
	b.SetLeaseTTL(ttl)
	h.pump = leasePumpFor(opts, b, ttl, timeout)
	id := register(h)
	if h.queue {
		b.SetFeeder(queueFeeder(id)) // before the caller has the handle, so before any check
	}
	*out = C.tk_handle_t(id)
	return int32(succeed(cerr))
}

// OpenService is tkcore_open_service: tk_open_service once the shim checked its arguments.
func OpenService(ctarget, copts, cout, ccerr unsafe.Pointer) (rc int32) {
	target, opts, out, cerr := (*C.char)(ctarget), (*C.tk_options_t)(copts), (*C.tk_handle_t)(cout), (*C.tk_error_t)(ccerr)
	defer recoverInto(&rc, cerr)
	b, err := servicedoor.Open(C.GoString(target), servicedoor.Options{
		Timeout:     optionTimeout(opts.timeout_ms),
		TLSCAFile:   optionString(opts.tls_ca_file),
		TLSCertFile: optionString(opts.tls_cert_file),
		TLSKeyFile:  optionString(opts.tls_key_file),
		AuthToken:   optionString(opts.auth_token),

		DisableAutoPipeline: opts.auto_pipeline < 0,
	})
	if err != nil {
		return int32(failWith(cerr, err))
	}
	timeout := optionTimeout(opts.timeout_ms)
	*out = C.tk_handle_t(register(&handle{door: b, failMode: front.FailMode(opts.fail_mode), timeout: timeout,
		pump: leasePumpFor(opts, b, front.DefaultLeaseTTL, timeout), shadow: opts.shadow == 1}))
	return int32(succeed(cerr))
}

// OpenMemory is tkcore_open_memory: tk_open_memory once the shim checked its arguments.
func OpenMemory(cyaml, copts, cout, ccerr unsafe.Pointer) (rc int32) {
	yaml, opts, out, cerr := (*C.char)(cyaml), (*C.tk_options_t)(copts), (*C.tk_handle_t)(cout), (*C.tk_error_t)(ccerr)
	defer recoverInto(&rc, cerr)
	eopts := engine.Options{LocalMaxKeys: int(opts.local_max_keys)}
	b, err := engine.Open([]byte(C.GoString(yaml)), eopts)
	if err != nil {
		return int32(failWith(cerr, err))
	}
	timeout := optionTimeout(opts.timeout_ms)
	ttl := leaseTTL(opts)
	b.SetLeaseTTL(ttl)
	*out = C.tk_handle_t(register(&handle{door: twotier.OverEngine(b, eopts), failMode: front.FailMode(opts.fail_mode), timeout: timeout,
		pump: leasePumpFor(opts, b, ttl, timeout), shadow: opts.shadow == 1, admits: b, override: b, inlineAdmits: true}))
	return int32(succeed(cerr))
}

// Free is tkcore_free: tk_free.
func Free(id uint64) (rc int32) {
	defer recoverInto(&rc, nil)
	if !unregister(id) {
		return int32(C.TK_E_BADHANDLE)
	}
	return int32(C.TK_OK)
}

// CheckMany is tkcore_check_many: tk_check_many.
func CheckMany(id uint64, cpolicy, ckeys unsafe.Pointer, n uint, cost, now int64, cout, ccerr unsafe.Pointer) int32 {
	policy, keys, out, cerr := (*C.char)(cpolicy), (**C.char)(ckeys), (*C.tk_decision_t)(cout), (*C.tk_error_t)(ccerr)
	p := C.GoString(policy)
	goKeys := make([]string, int(n))
	if n > 0 {
		for i, k := range unsafe.Slice(keys, int(n)) {
			goKeys[i] = C.GoString(k)
		}
	}
	return withHandle(id, cerr, func(h *handle) C.int {
		ds, err := h.door.DecideMany(context.Background(), p, goKeys, cost, now)
		if err != nil {
			// All or nothing: one failure synthesizes (or fails) the whole batch.
			d, ok := h.synthesize(p, err)
			if !ok {
				return failWith(cerr, err)
			}
			ds = make([]front.Decision, len(goKeys))
			for i := range ds {
				ds[i] = d
			}
		}
		if n > 0 {
			outs := unsafe.Slice(out, int(n))
			for i := range outs {
				putDecision(&outs[i], h.checked(ds[i]))
			}
		}
		return succeed(cerr)
	})
}

// CheckAll is tkcore_check_all: tk_check_all.
func CheckAll(id uint64, citems unsafe.Pointer, n uint, now int64, cout, call, ccerr unsafe.Pointer) int32 {
	out, all, cerr := (*C.tk_decision_t)(cout), (*C.int32_t)(call), (*C.tk_error_t)(ccerr)
	items := checkItems(citems, n)
	return withHandle(id, cerr, func(h *handle) C.int {
		h.shadowItems(items)
		ds, err := h.door.DecideAll(context.Background(), items, now)
		if err != nil {
			// Nothing was consumed; the fail mode answers each item for its own policy.
			ds = make([]front.Decision, len(items))
			for i, it := range items {
				d, ok := h.synthesize(it.Policy, err)
				if !ok {
					return failWith(cerr, err)
				}
				ds[i] = d
			}
		}
		if n > 0 {
			outs := unsafe.Slice(out, int(n))
			for i := range outs {
				putDecision(&outs[i], ds[i])
			}
		}
		*all = 0
		if front.AllAllowed(ds) {
			*all = 1
		}
		return succeed(cerr)
	})
}

// Peek is tkcore_peek: tk_peek.
func Peek(id uint64, cpolicy, ckey unsafe.Pointer, now int64, cout, ccerr unsafe.Pointer) int32 {
	policy, key, out, cerr := (*C.char)(cpolicy), (*C.char)(ckey), (*C.tk_decision_t)(cout), (*C.tk_error_t)(ccerr)
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		return writeDecision(out, cerr)(h.door.Decide(context.Background(), front.OpPeek, p, k, 1, now))
	})
}

// Forecast is tkcore_forecast: tk_forecast.
func Forecast(id uint64, cpolicy, ckey unsafe.Pointer, cost, now int64, cout, ccerr unsafe.Pointer) int32 {
	policy, key, out, cerr := (*C.char)(cpolicy), (*C.char)(ckey), (*C.tk_forecast_t)(cout), (*C.tk_error_t)(ccerr)
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		f, err := h.door.Foresee(context.Background(), p, k, cost, now)
		if err != nil {
			return failWith(cerr, err)
		}
		putForecast(out, f)
		return succeed(cerr)
	})
}

// Debit is tkcore_debit: tk_debit.
func Debit(id uint64, cpolicy, ckey unsafe.Pointer, tokens, now int64, cout, ccerr unsafe.Pointer) int32 {
	policy, key, out, cerr := (*C.char)(cpolicy), (*C.char)(ckey), (*C.tk_decision_t)(cout), (*C.tk_error_t)(ccerr)
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		return writeDecision(out, cerr)(h.door.Decide(context.Background(), front.OpDebit, p, k, tokens, now))
	})
}

// Reset is tkcore_reset: tk_reset.
func Reset(id uint64, cpolicy, ckey, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey))
	return withHandle(id, cerr, func(h *handle) C.int {
		if _, err := h.door.Decide(context.Background(), front.OpReset, p, k, 0, 0); err != nil {
			return failWith(cerr, err)
		}
		return succeed(cerr)
	})
}

// Refund is tkcore_refund: tk_refund.
func Refund(id uint64, cpolicy, ckey unsafe.Pointer, cost int64, cout, ccerr unsafe.Pointer) int32 {
	out, cerr := (*C.tk_decision_t)(cout), (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey))
	return withHandle(id, cerr, func(h *handle) C.int {
		return writeDecision(out, cerr)(h.door.Decide(context.Background(), front.OpRefund, p, k, cost, 0))
	})
}

// withHandle runs call on the live handle id, turning a panic into TK_E_INTERNAL. The handle
// stays acquired meanwhile, so a tk_free waits for the call.
func withHandle(id uint64, cerr *C.tk_error_t, call func(h *handle) C.int) (rc int32) {
	defer recoverInto(&rc, cerr)
	h, ok := lookup(id)
	if !ok {
		return int32(badHandle(cerr, id))
	}
	defer h.release()
	return int32(call(h))
}

// writeDecision returns what stores a decision call's outcome: the decision in out, or the
// error in cerr.
func writeDecision(out *C.tk_decision_t, cerr *C.tk_error_t) func(front.Decision, error) C.int {
	return func(d front.Decision, err error) C.int {
		if err != nil {
			return failWith(cerr, err)
		}
		putDecision(out, d)
		return succeed(cerr)
	}
}

// synthesize applies the handle's fail mode to a failed check (see front.FailMode.Apply).
func (h *handle) synthesize(policyName string, err error) (front.Decision, bool) {
	return h.failMode.Apply(h.door.Policies(), policyName, err)
}

func badHandle(cerr *C.tk_error_t, id uint64) C.int {
	return fail(cerr, C.TK_E_BADHANDLE, "handle "+itoa(id)+" is not open (never issued, or already freed)")
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// checkItems copies n tk_check_item_t into Go (the call keeps no caller memory).
func checkItems(citems unsafe.Pointer, n uint) []front.CheckItem {
	items := make([]front.CheckItem, int(n))
	if n > 0 {
		for i, it := range unsafe.Slice((*C.tk_check_item_t)(citems), int(n)) {
			items[i] = front.CheckItem{Policy: C.GoString(it.policy), Key: C.GoString(it.key), Cost: int64(it.cost)}
		}
	}
	return items
}
