<?php

declare(strict_types=1);

namespace ThrottleKit;

/** What a limiter can still give, without consuming anything. */
final class Forecast
{
    /**
     * @param int $spendableNow      how many requests of the asked cost would pass now
     * @param int $nextReplenishAtMs epoch ms of the next replenishment
     * @param int $fullAtMs          epoch ms at which the limiter is full again
     */
    public function __construct(
        public readonly int $spendableNow,
        public readonly int $nextReplenishAtMs,
        public readonly int $fullAtMs,
    ) {
    }
}
