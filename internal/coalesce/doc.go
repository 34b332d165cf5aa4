// Package coalesce turns concurrent calls into batches (a Redis pipeline, a CheckMany RPC)
// without delaying a lone caller; see Coalescer.
package coalesce
