<?php

declare(strict_types=1);

namespace ThrottleKit;

/**
 * The outcome of check, checkMany, peek or debit. A denial is a Decision with
 * allowed === false, never an exception.
 */
final class Decision
{
    /**
     * @param bool $allowed      admitted (true) or denied (false)
     * @param int  $limit        the effective ceiling (burst for gcra, capacity for tokenBucket);
     *                           0 in a decision the client's fail mode synthesized on the service door
     * @param int  $remaining    units left after this call, never negative
     * @param int  $resetAtMs    epoch ms when fully replenished; 0 when synthesized
     * @param int  $retryAfterMs how long to wait before a retry can pass; 0 when allowed
     * @param bool $synthesized  made by a fail mode (the backend was down), not by the limiter
     * @param bool $shadow       a shadow-mode policy (shadow: true) denied and the call was
     *                           admitted anyway; remaining and retryAfterMs are the limiter's
     */
    public function __construct(
        public readonly bool $allowed,
        public readonly int $limit,
        public readonly int $remaining,
        public readonly int $resetAtMs,
        public readonly int $retryAfterMs,
        public readonly bool $synthesized = false,
        public readonly bool $shadow = false,
    ) {
    }
}
