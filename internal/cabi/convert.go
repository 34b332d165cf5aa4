package cabi

/*
#include "throttlekit.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// statusOf maps a client error to the C status the ABI fixes for it.
func statusOf(err error) C.int {
	e, ok := err.(*front.Error) // the usual case, without errors.As's reflection
	if !ok && !errors.As(err, &e) {
		return C.TK_E_INTERNAL
	}
	switch e.Kind {
	case front.ErrInvalidArgument:
		return C.TK_E_INVALID
	case front.ErrPolicyNotFound:
		return C.TK_E_NOT_FOUND
	case front.ErrUnsupported:
		return C.TK_E_UNSUPPORTED
	case front.ErrUnavailable:
		return C.TK_E_UNAVAILABLE
	case front.ErrTimeout:
		return C.TK_E_TIMEOUT
	case front.ErrConfig:
		return C.TK_E_CONFIG
	case front.ErrAuth:
		return C.TK_E_AUTH
	}
	return C.TK_E_INTERNAL
}

// fail writes status and msg to cerr (when given) and returns status.
func fail(cerr *C.tk_error_t, status C.int, msg string) C.int {
	if cerr != nil {
		cerr.status = C.int32_t(status)
		writeMessage(cerr, msg)
	}
	return status
}

func failWith(cerr *C.tk_error_t, err error) C.int {
	return fail(cerr, statusOf(err), err.Error())
}

func succeed(cerr *C.tk_error_t) C.int {
	if cerr != nil {
		cerr.status = C.TK_OK
		cerr.message[0] = 0
	}
	return C.TK_OK
}

// writeMessage copies msg into the error's fixed buffer.
func writeMessage(cerr *C.tk_error_t, msg string) {
	putCString(unsafe.Slice((*byte)(unsafe.Pointer(&cerr.message[0])), len(cerr.message)), msg)
}

// putCString copies msg into buf, cut on a UTF-8 boundary, NUL-terminated.
func putCString(buf []byte, msg string) {
	n := min(len(msg), len(buf)-1)
	for n > 0 && n < len(msg) && !utf8.RuneStart(msg[n]) {
		n--
	}
	copy(buf, msg[:n])
	buf[n] = 0
}

// recoverInto, deferred, turns a panic into TK_E_INTERNAL, so that no Go fault crosses into
// the host.
func recoverInto[T ~int32](rc *T, cerr *C.tk_error_t) {
	if p := recover(); p != nil {
		*rc = T(fail(cerr, C.TK_E_INTERNAL, fmt.Sprintf("internal error in the ThrottleKit core: %v", p)))
	}
}

func putDecision(out *C.tk_decision_t, d front.Decision) {
	*out = C.tk_decision_t{}
	if d.Allowed {
		out.allowed = 1
	}
	if d.Synthesized {
		out.flags |= C.TK_DECISION_SYNTHESIZED
	}
	if d.Shadow {
		out.flags |= C.TK_DECISION_SHADOW
	}
	if d.Local {
		out.flags |= C.TK_DECISION_LOCAL
	}
	if d.Override {
		out.flags |= C.TK_DECISION_OVERRIDE
	}
	out.window_ms = C.int64_t(d.WindowMs)
	out.limit = C.int64_t(d.Limit)
	out.remaining = C.int64_t(d.Remaining)
	out.reset_at_ms = C.int64_t(d.ResetAt)
	out.retry_after_ms = C.int64_t(d.RetryAfterMs)
}

func putForecast(out *C.tk_forecast_t, f client.Forecast) {
	out.spendable_now = C.int64_t(f.SpendableNow)
	out.next_replenish_at_ms = C.int64_t(f.NextReplenishAt)
	out.full_at_ms = C.int64_t(f.FullAt)
}

// optionString copies an optional C string.
func optionString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

func optionTimeout(ms C.int32_t) time.Duration {
	if ms <= 0 {
		return front.DefaultTimeout
	}
	return time.Duration(ms) * time.Millisecond
}
