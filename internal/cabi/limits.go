package cabi

/*
#include "core.h"
*/
import "C"

import "github.com/throttlekit/throttlekit-go/policy"

// The shim's limits (capi/core.h) are the core's: each pair of constants below overflows a
// uint, and the core does not compile, when one side changes alone.
const (
	_ = uint(C.TK_MAX_KEY_BYTES - policy.MaxKeyBytes)
	_ = uint(policy.MaxKeyBytes - C.TK_MAX_KEY_BYTES)
	_ = uint(C.TK_MAX_AMOUNT - policy.MaxSafeInteger)
	_ = uint(policy.MaxSafeInteger - C.TK_MAX_AMOUNT)
)
