package cabi

/*
#include "credits.h"
*/
import "C"

import (
	"unsafe"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/twotier"
)

// slots is a handle's share of credits.c's slots: the LocalStore of its two-tier door, which
// hands a hot key's chunks to tk_check_async_now's local_spend (capi/core.h).
type slots struct {
	id uint64
	h  *handle
}

// lendSlots makes the slots a two-tier door's LocalStore; before the caller has the handle.
func lendSlots(id uint64, h *handle) {
	if d, ok := h.door.(*twotier.Door); ok {
		d.SetLocalStore(slots{id: id, h: h})
	}
}

func (s slots) Keep(policy, key string, tmpl front.Decision, granted, untilMs int64) bool {
	var d C.tk_decision_t
	putDecision(&d, s.h.checked(tmpl))
	return C.tkcore_local_keep(C.tk_handle_t(s.id), cBytes(policy), C.size_t(len(policy)), cBytes(key), C.size_t(len(key)),
		&d, C.int64_t(granted), C.int64_t(untilMs)) != 0
}

func (s slots) TakeBack(policy, key string) int64 {
	return int64(C.tkcore_local_take_back(C.tk_handle_t(s.id), cBytes(policy), C.size_t(len(policy)), cBytes(key), C.size_t(len(key))))
}

func (s slots) Forget() { C.tkcore_local_forget(C.tk_handle_t(s.id)) }

var noBytes = [1]byte{}

// cBytes is a Go string's bytes for a C call that reads len bytes and keeps nothing.
func cBytes(s string) *C.char {
	if s == "" {
		return (*C.char)(unsafe.Pointer(&noBytes[0]))
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}
