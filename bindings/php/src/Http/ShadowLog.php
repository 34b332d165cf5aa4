<?php

declare(strict_types=1);

namespace ThrottleKit\Http;

use Psr\Log\LoggerInterface;
use ThrottleKit\Decision;

/**
 * One PSR-3 log line per shadow-admitted denial (a policy with shadow: true denied the request
 * and it was let through, Decision->shadow), written by every framework integration. The
 * logger is optional; without one nothing is written.
 */
final class ShadowLog
{
    private function __construct()
    {
    }

    public static function record(?LoggerInterface $logger, string $policy, string $key, Decision $decision): void
    {
        if ($logger === null || !$decision->shadow) {
            return;
        }
        // the values are in the message itself (not only as {placeholders}): not every logger interpolates
        $logger->warning(sprintf('throttlekit: shadow policy %s would have denied key %s (retry after %d ms)',
            $policy, $key, $decision->retryAfterMs), [
            'policy' => $policy,
            'key' => $key,
            'limit' => $decision->limit,
            'remaining' => $decision->remaining,
            'retry_after_ms' => $decision->retryAfterMs,
            'throttlekit_shadow' => true,
        ]);
    }
}
