// Package cabi is the Go side of the C boundary: the handle registry (numbers never reused,
// so a freed or forged handle finds nothing), C <-> Go conversions, the threads that wait in
// the shim for a check, asynchronous checks and their completion queue, the submission queue
// of tk_checks that never enter Go (queue.c), the fail mode and the panic guard. The root
// export.go exports each entry point as one call into this package; capi/core.h is the
// contract with the shim.
package cabi
