package cabi

/*
#include "throttlekit.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// SetOverride is tkcore_set_override: tk_set_override, once the shim checked its arguments.
func SetOverride(id uint64, cpolicy, ckey, cspec unsafe.Pointer, ttlMs int64, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k, spec := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey)), C.GoString((*C.char)(cspec))
	return withHandle(id, cerr, func(h *handle) C.int {
		if h.override == nil {
			return fail(cerr, C.TK_E_UNSUPPORTED, "override records are kept by the Redis door and tk_open_memory; the service door has none (the server's Redis holds them)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		if err := h.override.SetOverride(ctx, p, k, spec, ttlMs); err != nil {
			return failWith(cerr, err)
		}
		return succeed(cerr)
	})
}

// ClearOverride is tkcore_clear_override: tk_clear_override.
func ClearOverride(id uint64, cpolicy, ckey, ccerr unsafe.Pointer) int32 {
	cerr := (*C.tk_error_t)(ccerr)
	p, k := C.GoString((*C.char)(cpolicy)), C.GoString((*C.char)(ckey))
	return withHandle(id, cerr, func(h *handle) C.int {
		if h.override == nil {
			return fail(cerr, C.TK_E_UNSUPPORTED, "override records are kept by the Redis door and tk_open_memory; the service door has none (the server's Redis holds them)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		if err := h.override.ClearOverride(ctx, p, k); err != nil {
			return failWith(cerr, err)
		}
		return succeed(cerr)
	})
}
