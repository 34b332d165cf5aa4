// Command throttlekit-core is the Go core of libthrottlekit, built with -buildmode=c-shared as
// libthrottlekit-core.so. Only the C shim (capi/) calls it, through the private tkcore_*
// entry points below, after checking every argument it can check without Go. This layer is
// thin: it converts between C and Go, keeps the handle registry, applies the fail mode and
// turns panics into TK_E_INTERNAL; the client package does the rest.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/include -I${SRCDIR}/capi
#include "core.h"
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
)

func main() {}

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

// tkcore_abi_version is the TK_CORE_ABI this core was built with (capi/core.h): the shim
// checks it against its own when it loads the core.
//
//export tkcore_abi_version
func tkcore_abi_version() C.int { return C.TK_CORE_ABI }

//export tkcore_open_redis
func tkcore_open_redis(url, yaml *C.char, opts *C.tk_options_t, out *C.tk_handle_t, cerr *C.tk_error_t) (rc C.int) {
	defer recoverInto(&rc, cerr)
	timeout := optionTimeout(opts.timeout_ms)
	b, err := client.OpenRedis(C.GoString(url), []byte(C.GoString(yaml)),
		client.RedisOptions{Namespace: optionString(opts.key_namespace), Timeout: timeout,
			DisableAutoPipeline: opts.auto_pipeline < 0},
		client.ConnectOptions{
			// Calls arrive on the host's threads: blocking sockets let the kernel wake the
			// waiting thread itself (see client.BlockingDial).
			Dialer:      client.BlockingDial,
			Timeout:     timeout,
			TLSCAFile:   optionString(opts.tls_ca_file),
			TLSCertFile: optionString(opts.tls_cert_file),
			TLSKeyFile:  optionString(opts.tls_key_file),
		})
	if err != nil {
		return failWith(cerr, err)
	}
	h := &handle{backend: b, failMode: client.FailMode(opts.fail_mode), timeout: timeout,
		queue: queueServed && b.Streamed()}
	id := register(h)
	if h.queue {
		b.SetFeeder(queueFeeder(id)) // before the caller has the handle, so before any check
	}
	*out = C.tk_handle_t(id)
	return succeed(cerr)
}

//export tkcore_open_service
func tkcore_open_service(target *C.char, opts *C.tk_options_t, out *C.tk_handle_t, cerr *C.tk_error_t) (rc C.int) {
	defer recoverInto(&rc, cerr)
	b, err := client.OpenService(C.GoString(target), client.ServiceOptions{
		Timeout:     optionTimeout(opts.timeout_ms),
		TLSCAFile:   optionString(opts.tls_ca_file),
		TLSCertFile: optionString(opts.tls_cert_file),
		TLSKeyFile:  optionString(opts.tls_key_file),
		AuthToken:   optionString(opts.auth_token),

		DisableAutoPipeline: opts.auto_pipeline < 0,
	})
	if err != nil {
		return failWith(cerr, err)
	}
	*out = C.tk_handle_t(register(&handle{backend: b, failMode: client.FailMode(opts.fail_mode), timeout: optionTimeout(opts.timeout_ms)}))
	return succeed(cerr)
}

//export tkcore_free
func tkcore_free(id C.tk_handle_t) (rc C.int) {
	defer recoverInto(&rc, nil)
	if !unregister(uint64(id)) {
		return C.TK_E_BADHANDLE
	}
	return C.TK_OK
}

//export tkcore_check_many
func tkcore_check_many(id C.tk_handle_t, policy *C.char, keys **C.char, n C.size_t, cost, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	p := C.GoString(policy)
	goKeys := make([]string, int(n))
	if n > 0 {
		for i, k := range unsafe.Slice(keys, int(n)) {
			goKeys[i] = C.GoString(k)
		}
	}
	return withHandle(id, cerr, func(h *handle) C.int {
		var ds []client.Decision
		var err error
		if now == 0 {
			ds, err = h.backend.CheckMany(context.Background(), p, goKeys, int64(cost))
		} else {
			ds, err = h.backend.CheckManyAt(context.Background(), p, goKeys, int64(cost), int64(now))
		}
		if err != nil {
			// All or nothing: one failure synthesizes (or fails) the whole batch.
			d, ok := h.synthesize(p, err)
			if !ok {
				return failWith(cerr, err)
			}
			ds = make([]client.Decision, len(goKeys))
			for i := range ds {
				ds[i] = d
			}
		}
		if n > 0 {
			outs := unsafe.Slice(out, int(n))
			for i := range outs {
				putDecision(&outs[i], ds[i])
			}
		}
		return succeed(cerr)
	})
}

//export tkcore_peek
func tkcore_peek(id C.tk_handle_t, policy, key *C.char, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		if now == 0 {
			return writeDecision(out, cerr)(h.backend.Peek(context.Background(), p, k))
		}
		return writeDecision(out, cerr)(h.backend.PeekAt(context.Background(), p, k, int64(now)))
	})
}

//export tkcore_forecast
func tkcore_forecast(id C.tk_handle_t, policy, key *C.char, cost, now C.int64_t, out *C.tk_forecast_t, cerr *C.tk_error_t) C.int {
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		var f client.Forecast
		var err error
		if now == 0 {
			f, err = h.backend.Forecast(context.Background(), p, k, int64(cost))
		} else {
			f, err = h.backend.ForecastAt(context.Background(), p, k, int64(cost), int64(now))
		}
		if err != nil {
			return failWith(cerr, err)
		}
		putForecast(out, f)
		return succeed(cerr)
	})
}

//export tkcore_debit
func tkcore_debit(id C.tk_handle_t, policy, key *C.char, tokens, now C.int64_t, out *C.tk_decision_t, cerr *C.tk_error_t) C.int {
	p, k := C.GoString(policy), C.GoString(key)
	return withHandle(id, cerr, func(h *handle) C.int {
		if now == 0 {
			return writeDecision(out, cerr)(h.backend.Debit(context.Background(), p, k, int64(tokens)))
		}
		return writeDecision(out, cerr)(h.backend.DebitAt(context.Background(), p, k, int64(tokens), int64(now)))
	})
}

// withHandle runs call on the live handle id, turning a panic into TK_E_INTERNAL. The handle
// stays acquired meanwhile, so a tk_free waits for the call.
func withHandle(id C.tk_handle_t, cerr *C.tk_error_t, call func(h *handle) C.int) (rc C.int) {
	defer recoverInto(&rc, cerr)
	h, ok := lookup(uint64(id))
	if !ok {
		return badHandle(cerr, id)
	}
	defer h.release()
	return call(h)
}

// writeDecision returns what stores a decision call's outcome: the decision in out, or the
// error in cerr.
func writeDecision(out *C.tk_decision_t, cerr *C.tk_error_t) func(client.Decision, error) C.int {
	return func(d client.Decision, err error) C.int {
		if err != nil {
			return failWith(cerr, err)
		}
		putDecision(out, d)
		return succeed(cerr)
	}
}

// synthesize applies the handle's fail mode to a failed check (false for a nil error). Through
// the service door the policies live in the server, so the limit reported is 0 there.
func (h *handle) synthesize(policyName string, err error) (client.Decision, bool) {
	if err == nil {
		return client.Decision{}, false
	}
	var limit int64
	if p, ok := h.backend.Policies().Lookup(policyName); ok {
		limit = p.ReportedLimit()
	} else if h.backend.Policies() != nil {
		return client.Decision{}, false
	}
	return h.failMode.Synthesize(limit, err)
}

func badHandle(cerr *C.tk_error_t, id C.tk_handle_t) C.int {
	return fail(cerr, C.TK_E_BADHANDLE, "handle "+itoa(uint64(id))+" is not open (never issued, or already freed)")
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
