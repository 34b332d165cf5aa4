<?php

declare(strict_types=1);

namespace ThrottleKit\Symfony;

use Psr\Log\LoggerInterface;
use Symfony\Component\RateLimiter\Exception\MaxWaitDurationExceededException;
use Symfony\Component\RateLimiter\LimiterInterface;
use Symfony\Component\RateLimiter\Reservation;
use ThrottleKit\ClientInterface;
use ThrottleKit\Decision;
use ThrottleKit\Http\ShadowLog;

/**
 * Symfony's LimiterInterface over a ThrottleKit policy: the limit, window and strategy are the
 * policy's (policies.yaml); the state lives where the client's door keeps it (Redis, the
 * service, or the process for Client::memory). Made per key, as Symfony's limiters are; a
 * LimiterFactory makes them from configuration.
 *
 * - consume($n) checks $n units: accepted, or refused with nothing consumed; the RateLimit
 *   (a ThrottleKit\Symfony\RateLimit, with ->decision) reports the remaining units, the
 *   policy's limit and retryAfter (now when accepted, else now + the decision's wait).
 *   consume(0) peeks (ThrottleKit reads a cost of 0 as 1, so it is not sent as a check).
 * - reserve($n, $maxTime) returns a Reservation holding the units: when they are free now, at
 *   once; otherwise it waits in reserve() (not in Reservation::wait()) for the decision's
 *   retry time and checks again, until admitted, so the Reservation it returns is already due
 *   (getWaitDuration() 0). When the wait exceeds $maxTime it throws
 *   MaxWaitDurationExceededException (nothing consumed), as Symfony's limiters do; more units
 *   than the policy's limit throw \InvalidArgumentException (can never be honoured).
 *   ThrottleKit holds no debt, so unlike Symfony's token bucket a reservation never takes
 *   future units: it waits for them instead.
 * - reset() forgets the key's state (Client::reset).
 */
final class Limiter implements LimiterInterface
{
    public function __construct(
        private readonly ClientInterface $client,
        private readonly string $policy,
        private readonly string $key,
        private readonly ?LoggerInterface $logger = null,
    ) {
    }

    public function policy(): string
    {
        return $this->policy;
    }

    public function key(): string
    {
        return $this->key;
    }

    public function reserve(int $tokens = 1, ?float $maxTime = null): Reservation
    {
        if ($tokens < 0) {
            throw new \InvalidArgumentException(sprintf('Cannot reserve a negative number of tokens (%d).', $tokens));
        }
        $start = microtime(true);
        while (true) {
            $now = microtime(true);
            $decision = $tokens === 0
                ? $this->client->peek($this->policy, $this->key)
                : $this->client->check($this->policy, $this->key, $tokens);
            if ($tokens === 0 || $decision->allowed) {
                if ($tokens !== 0) {
                    ShadowLog::record($this->logger, $this->policy, $this->key, $decision);
                }
                return new Reservation($now, $this->rateLimit($decision, $now, true));
            }
            if (!$decision->synthesized && $decision->limit > 0 && $tokens > $decision->limit) {
                throw new \InvalidArgumentException(sprintf(
                    'Cannot reserve more tokens (%d) than the limit of the ThrottleKit policy "%s" (%d).',
                    $tokens, $this->policy, $decision->limit));
            }
            // a fail mode's denial (backend down) says no wait: retry it after a second, not in a spin
            $wait = max($decision->retryAfterMs, $decision->synthesized ? 1000 : 1) / 1000;
            $waited = $now - $start;
            if ($maxTime !== null && $waited + $wait > $maxTime) {
                throw new MaxWaitDurationExceededException(sprintf(
                    'The rate limiter wait time ("%d" seconds) is longer than the provided maximum time ("%d" seconds).',
                    (int) ceil($waited + $wait), (int) $maxTime), $this->rateLimit($decision, $now, false));
            }
            usleep((int) ceil($wait * 1e6));
        }
    }

    public function consume(int $tokens = 1): RateLimit
    {
        if ($tokens < 0) {
            throw new \InvalidArgumentException(sprintf('Cannot consume a negative number of tokens (%d).', $tokens));
        }
        $now = microtime(true);
        if ($tokens === 0) {
            $decision = $this->client->peek($this->policy, $this->key);
            return $this->rateLimit($decision, $now, true);
        }
        $decision = $this->client->check($this->policy, $this->key, $tokens);
        ShadowLog::record($this->logger, $this->policy, $this->key, $decision);
        return $this->rateLimit($decision, $now, $decision->allowed);
    }

    public function reset(): void
    {
        $this->client->reset($this->policy, $this->key);
    }

    private function rateLimit(Decision $decision, float $now, bool $accepted): RateLimit
    {
        $at = $accepted ? $now : $now + $decision->retryAfterMs / 1000;
        $retryAfter = \DateTimeImmutable::createFromFormat('U.u', sprintf('%.6F', $at))
            ?: new \DateTimeImmutable('@' . (int) ceil($at));
        return new RateLimit($decision, $retryAfter, $accepted);
    }
}
