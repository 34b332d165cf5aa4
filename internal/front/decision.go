package front

import "time"

// Decision is the outcome of a Check, Peek or Debit. A denial is a Decision with Allowed
// false, never an error.
type Decision struct {
	Allowed      bool
	Limit        int64 // the effective ceiling (burst for gcra, capacity for tokenBucket)
	Remaining    int64 // units left after this call; never negative
	ResetAt      int64 // epoch ms at which the limiter is fully replenished; 0 when synthesized
	RetryAfterMs int64 // 0 when allowed
	Synthesized  bool  // made by a fail mode, not by the limiter
	// Shadow: a shadow-mode policy (shadow: true) denied and the call was admitted anyway;
	// Remaining and RetryAfterMs are the limiter's, for logs to show what would have happened.
	Shadow bool
	// Local: answered from credits or a cached denial held by this process, without a call to
	// the shared limiter (two-tier.md).
	Local bool
	// WindowMs is the length of the policy's window (policy.WindowMsAt): what a RateLimit-Policy
	// header's w= reports; 0 when unknown (synthesized, an older server).
	WindowMs int64
	// Override: the key's override decided (docs/policies.md): a record in Redis or the
	// policy file's `overrides:` entry for the key (unlimited, deny, or other fields).
	Override bool
}

// Forecast tells what a limiter can still give without consuming anything.
type Forecast struct {
	SpendableNow    int64 // how many requests of the asked size would pass now
	NextReplenishAt int64 // epoch ms of the next replenishment
	FullAt          int64 // epoch ms at which the limiter is full again
}

// DefaultTimeout bounds a call (connecting included) when no timeout is configured.
const DefaultTimeout = 500 * time.Millisecond
