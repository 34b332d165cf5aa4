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
     * @param bool $local        answered from credits or a denial this process holds (a
     *                           two-tier policy), without a round trip
     * @param int  $windowMs     the policy's window (RateLimit-Policy's w=); 0 when unknown
     * @param bool $override     the key's override decided: a record set in the store or the
     *                           policy file's overrides: entry for the key
     */
    public function __construct(
        public readonly bool $allowed,
        public readonly int $limit,
        public readonly int $remaining,
        public readonly int $resetAtMs,
        public readonly int $retryAfterMs,
        public readonly bool $synthesized = false,
        public readonly bool $shadow = false,
        public readonly bool $local = false,
        public readonly int $windowMs = 0,
        public readonly bool $override = false,
    ) {
    }

    /** The flags of tk_decision_t. */
    private const SYNTHESIZED = 1;
    private const SHADOW = 2;
    private const LOCAL = 4;
    private const OVERRIDE = 8;

    /** Reads a tk_decision_t. */
    public static function fromNative(\FFI\CData $d): self
    {
        return new self($d->allowed !== 0, $d->limit, $d->remaining, $d->reset_at_ms, $d->retry_after_ms,
            ($d->flags & self::SYNTHESIZED) !== 0, ($d->flags & self::SHADOW) !== 0, ($d->flags & self::LOCAL) !== 0,
            $d->window_ms, ($d->flags & self::OVERRIDE) !== 0);
    }
}
