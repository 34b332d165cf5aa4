<?php

declare(strict_types=1);

namespace ThrottleKit\Symfony;

use ThrottleKit\Decision;

/**
 * Symfony's RateLimit, carrying the ThrottleKit Decision it was made from (for the RateLimit
 * response headers: ThrottleKit\Http\Headers::forDecision($limiter->policy(), $rateLimit->decision)).
 */
class RateLimit extends \Symfony\Component\RateLimiter\RateLimit
{
    public function __construct(public readonly Decision $decision, \DateTimeImmutable $retryAfter, bool $accepted)
    {
        parent::__construct($decision->remaining, $retryAfter, $accepted, $decision->limit);
    }
}
