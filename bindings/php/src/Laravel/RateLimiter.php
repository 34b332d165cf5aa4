<?php

declare(strict_types=1);

namespace ThrottleKit\Laravel;

use Closure;
use Illuminate\Cache\ArrayStore;
use Illuminate\Cache\Repository;
use ThrottleKit\ClientInterface;

/**
 * Laravel's Illuminate\Cache\RateLimiter API over one ThrottleKit policy, so it can stand in
 * for Laravel's limiter (it extends it: the container can bind it for
 * Illuminate\Cache\RateLimiter, and Laravel's own `throttle` middleware then counts in
 * ThrottleKit). The policy (policies.yaml) fixes the limit, window and strategy; where
 * Laravel's methods take them, the mapping is:
 *
 * - hit($key, $decaySeconds): one check of the policy. $decaySeconds is ignored (the policy's
 *   window applies). Returns the attempts counted after it (limit - remaining); a denied hit
 *   consumes nothing.
 * - attempts($key): limit - remaining of a peek: exact for fixedWindow, and for the other
 *   strategies the units in use now (a sliding or refilling limit forgets gradually).
 * - tooManyAttempts($key, $max): the policy would deny the next hit, or attempts >= $max.
 * - remaining / retriesLeft($key, $max): min($max - attempts, the policy's remaining), >= 0.
 * - availableIn($key): when denied, the seconds until a hit can pass (the decision's retry);
 *   else the seconds until the key is full again (Laravel's "timer").
 * - attempt($key, $max, $callback): checks first, then calls $callback when admitted (Laravel
 *   calls, then counts): admission is atomic, so concurrent callers never exceed the limit.
 * - resetAttempts / clear($key): Client::reset (all of the key's state; Laravel's
 *   resetAttempts keeps its timer).
 * - for() / limiter(): Laravel's named-limiter registry, unchanged.
 */
class RateLimiter extends \Illuminate\Cache\RateLimiter
{
    public function __construct(
        private readonly ClientInterface $client,
        private readonly string $policy,
    ) {
        parent::__construct(new Repository(new ArrayStore()));
    }

    public function policy(): string
    {
        return $this->policy;
    }

    public function attempt($key, $maxAttempts, Closure $callback, $decaySeconds = 60)
    {
        if ($this->attempts($key) >= $maxAttempts) {
            return false;
        }
        if (!$this->client->check($this->policy, (string) $key)->allowed) {
            return false;
        }
        return $callback() ?: true;
    }

    public function tooManyAttempts($key, $maxAttempts)
    {
        $d = $this->client->peek($this->policy, (string) $key);
        return !$d->allowed || $d->limit - $d->remaining >= $maxAttempts;
    }

    public function hit($key, $decaySeconds = 60)
    {
        $d = $this->client->check($this->policy, (string) $key);
        return max(0, $d->limit - $d->remaining);
    }

    public function attempts($key)
    {
        $d = $this->client->peek($this->policy, (string) $key);
        return max(0, $d->limit - $d->remaining);
    }

    public function resetAttempts($key)
    {
        $this->client->reset($this->policy, (string) $key);
        return true;
    }

    public function remaining($key, $maxAttempts)
    {
        $d = $this->client->peek($this->policy, (string) $key);
        return max(0, min($maxAttempts - max(0, $d->limit - $d->remaining), $d->remaining));
    }

    public function clear($key)
    {
        $this->client->reset($this->policy, (string) $key);
    }

    public function availableIn($key)
    {
        $d = $this->client->peek($this->policy, (string) $key);
        if (!$d->allowed) {
            return max(1, (int) ceil($d->retryAfterMs / 1000));
        }
        return max(0, (int) ceil(($d->resetAtMs - (int) floor(microtime(true) * 1000)) / 1000));
    }
}
