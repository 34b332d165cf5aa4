<?php

declare(strict_types=1);

namespace ThrottleKit;

/**
 * One entry of Client::checkAll(), when a named form reads better than [policy, key, cost]:
 *
 *   $tk->checkAll([new CheckItem('per_ip', $ip), new CheckItem('per_account', $account, 2)]);
 */
final class CheckItem
{
    /**
     * @param string $policy the policy's name
     * @param string $key    the key (any bytes but NUL on the Redis door and the engine)
     * @param int    $cost   units to consume (0 means 1)
     */
    public function __construct(
        public readonly string $policy,
        public readonly string $key,
        public readonly int $cost = 1,
    ) {
    }
}
