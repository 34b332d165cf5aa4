<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;
use ThrottleKit\Laravel\RateLimiter;

/** ThrottleKit\Laravel\RateLimiter in process (memory door): Laravel's RateLimiter methods mapped onto a policy. */
final class LaravelRateLimiterTest extends TestCase
{
    private RateLimiter $limiter;

    protected function setUp(): void
    {
        Frameworks::load($this, 'laravel');
        $client = Client::memory("limiters:\n  login: { strategy: fixedWindow, limit: 3, windowMs: 1m }\n", ['lib' => TestEnv::lib($this)]);
        $this->limiter = new RateLimiter($client, 'login');
    }

    public function testIsLaravelsRateLimiter(): void
    {
        self::assertInstanceOf(\Illuminate\Cache\RateLimiter::class, $this->limiter);
        self::assertSame('login', $this->limiter->policy());
    }

    public function testCounting(): void
    {
        $l = $this->limiter;
        self::assertSame(0, $l->attempts('u'));
        self::assertSame(1, $l->hit('u', 999));
        self::assertSame(2, $l->hit('u'));
        self::assertSame(1, $l->remaining('u', 3));
        self::assertSame(1, $l->retriesLeft('u', 3));
        self::assertSame(0, $l->remaining('u', 2), 'a lower maxAttempts');
        self::assertFalse($l->tooManyAttempts('u', 3));
        self::assertTrue($l->tooManyAttempts('u', 2));
        self::assertSame(3, $l->hit('u'));
        self::assertSame(3, $l->hit('u'), 'a denied hit counts nothing');
        self::assertTrue($l->tooManyAttempts('u', 10), 'the policy limit applies whatever maxAttempts says');
        $in = $l->availableIn('u');
        self::assertGreaterThanOrEqual(1, $in);
        self::assertLessThanOrEqual(60, $in);
        $l->clear('u');
        self::assertSame(0, $l->attempts('u'));
        self::assertTrue($l->resetAttempts('u'));
    }

    public function testAttempt(): void
    {
        $runs = 0;
        $cb = function () use (&$runs) {
            $runs++;
            return null;
        };
        self::assertTrue($this->limiter->attempt('a', 2, $cb), 'a falsy result becomes true');
        self::assertTrue($this->limiter->attempt('a', 2, $cb));
        self::assertFalse($this->limiter->attempt('a', 2, $cb), 'maxAttempts 2 reached');
        self::assertSame(2, $runs);
        self::assertLessThanOrEqual(60, $this->limiter->availableIn('fresh'));
    }
}
