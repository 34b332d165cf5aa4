<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use Symfony\Component\RateLimiter\Exception\MaxWaitDurationExceededException;
use Symfony\Component\RateLimiter\Exception\RateLimitExceededException;
use Symfony\Component\RateLimiter\LimiterInterface;
use Symfony\Component\RateLimiter\Reservation;
use ThrottleKit\Client;
use ThrottleKit\Symfony\Limiter;
use ThrottleKit\Symfony\LimiterFactory;
use ThrottleKit\Symfony\RateLimit;

/** ThrottleKit\Symfony\Limiter against Symfony 5.4's LimiterInterface contract, on the memory door. */
final class SymfonyLimiterTest extends TestCase
{
    private const POLICIES = "limiters:\n"
        . "  fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
        . "  quick: { strategy: gcra, limit: 1, period: 300ms, burst: 1 }\n";

    private Client $client;

    protected function setUp(): void
    {
        Frameworks::load($this, 'symfony-rate-limiter');
        $this->client = Client::memory(self::POLICIES, ['lib' => TestEnv::lib($this)]);
    }

    private function limiter(string $policy, string $key = 'k'): LimiterInterface
    {
        return (new LimiterFactory($this->client, $policy))->create($key);
    }

    public function testConsume(): void
    {
        $l = $this->limiter('fw');
        self::assertInstanceOf(Limiter::class, $l);
        $before = new \DateTimeImmutable();
        $r = $l->consume(2);
        self::assertInstanceOf(RateLimit::class, $r);
        self::assertSame([true, 1, 3], [$r->isAccepted(), $r->getRemainingTokens(), $r->getLimit()]);
        self::assertEqualsWithDelta((float) $before->format('U.u'), (float) $r->getRetryAfter()->format('U.u'), 1.0);
        self::assertSame($r, $r->ensureAccepted());
        $no = $l->consume(2);
        self::assertFalse($no->isAccepted(), 'two more do not fit');
        self::assertSame(1, $no->getRemainingTokens(), 'a refusal consumes nothing');
        self::assertGreaterThan(time(), $no->getRetryAfter()->getTimestamp());
        self::assertFalse($no->decision->allowed);
        $this->expectException(RateLimitExceededException::class);
        $no->ensureAccepted();
    }

    public function testConsumeZeroPeeks(): void
    {
        $l = $this->limiter('fw');
        $l->consume();
        $p = $l->consume(0);
        self::assertSame([true, 2], [$p->isAccepted(), $p->getRemainingTokens()]);
        self::assertSame(2, $l->consume(0)->getRemainingTokens());
    }

    public function testReserveAtOnceThenExceededThenWaits(): void
    {
        $l = $this->limiter('quick');
        $now = microtime(true);
        $r = $l->reserve();
        self::assertInstanceOf(Reservation::class, $r);
        self::assertTrue($r->getRateLimit()->isAccepted());
        self::assertEqualsWithDelta($now, $r->getTimeToAct(), 0.5);
        self::assertSame(0, (int) $r->getWaitDuration());
        try {
            $l->reserve(1, 0.01);
            self::fail('no MaxWaitDurationExceededException');
        } catch (MaxWaitDurationExceededException $e) {
            self::assertFalse($e->getRateLimit()->isAccepted());
            self::assertGreaterThan(microtime(true), (float) $e->getRateLimit()->getRetryAfter()->format('U.u'));
        }
        $start = microtime(true);
        $r = $l->reserve(1, 2.0);
        self::assertGreaterThan(0.1, microtime(true) - $start, 'reserve() waited for the unit');
        self::assertTrue($r->getRateLimit()->isAccepted());
        self::assertEquals(0.0, $r->getWaitDuration(), 'due when returned');
        self::assertFalse($l->consume()->isAccepted(), 'the reservation took the unit');
    }

    public function testReserveMoreThanTheLimit(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->limiter('fw')->reserve(4);
    }

    public function testReset(): void
    {
        $l = $this->limiter('fw');
        $l->consume(3);
        self::assertFalse($l->consume()->isAccepted());
        $l->reset();
        self::assertSame(2, $l->consume()->getRemainingTokens());
        self::assertSame(3, $this->limiter('fw', 'other')->consume(0)->getRemainingTokens(), 'keys are apart');
    }
}
