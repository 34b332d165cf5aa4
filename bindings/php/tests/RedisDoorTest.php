<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;
use ThrottleKit\Decision;
use ThrottleKit\Exception\ClosedException;
use ThrottleKit\Exception\ConfigException;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\ThrottleKitException;
use ThrottleKit\Exception\UnsupportedException;
use ThrottleKit\Forecast;

/** Every operation through the Redis door, against THROTTLEKIT_REDIS_URL, with and without nowMs. */
final class RedisDoorTest extends TestCase
{
    public const POLICIES = "limiters:\n"
        . "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
        . "  fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
        . "  llm:\n"
        . "    tokenBudget: { budget: 100, windowMs: 1h }\n";

    private const T0 = 1_699_999_200_000; // an explicit clock, a multiple of every window (1 h)

    private function client(array $options = []): Client
    {
        return Client::redis(TestEnv::redisUrl($this), self::POLICIES, $options + ['lib' => TestEnv::lib($this),
            'key_namespace' => TestEnv::namespace('redis'), 'timeout_ms' => 2000]);
    }

    public function testCheckBurstThenDenialAtExplicitClock(): void
    {
        $c = $this->client();
        for ($i = 4; $i >= 0; $i--) {
            $d = $c->check('api', 'burst', 1, self::T0);
            $this->assertInstanceOf(Decision::class, $d);
            $this->assertTrue($d->allowed);
            $this->assertSame(5, $d->limit);
            $this->assertSame($i, $d->remaining);
            $this->assertSame(0, $d->retryAfterMs);
            $this->assertFalse($d->synthesized);
        }
        $d = $c->check('api', 'burst', 1, self::T0);
        $this->assertFalse($d->allowed);
        $this->assertSame(200, $d->retryAfterMs);
        $this->assertSame(self::T0 + 1000, $d->resetAtMs);
        // 200 ms later one more passes; another key is independent.
        $this->assertTrue($c->check('api', 'burst', 1, self::T0 + 200)->allowed);
        $this->assertSame(4, $c->check('api', 'other', 1, self::T0)->remaining);
        // A cost of 0 means 1; cost 3 takes 3.
        $this->assertSame(4, $c->check('api', 'cost', 0, self::T0)->remaining);
        $this->assertSame(1, $c->check('api', 'cost', 3, self::T0)->remaining);
        $c->close();
    }

    public function testDecisionIsReadonly(): void
    {
        $d = $this->client()->check('api', 'ro');
        $this->expectException(\Error::class);
        $d->allowed = false; // @phpstan-ignore-line
    }

    public function testCheckAtServerClock(): void
    {
        $c = $this->client();
        $before = (int) (microtime(true) * 1000);
        $d = $c->check('api', 'clock');
        $this->assertTrue($d->allowed);
        $this->assertSame(4, $d->remaining);
        // reset is "now + one emission interval" at the Redis clock (same host here).
        $this->assertGreaterThan($before - 5000, $d->resetAtMs);
        $this->assertLessThan($before + 5000, $d->resetAtMs);
    }

    public function testPeekConsumesNothing(): void
    {
        $c = $this->client();
        $c->check('api', 'peek', 2, self::T0);
        for ($i = 0; $i < 3; $i++) {
            $p = $c->peek('api', 'peek', self::T0);
            $this->assertTrue($p->allowed);
            $this->assertSame(3, $p->remaining);
        }
        $this->assertSame(2, $c->check('api', 'peek', 1, self::T0)->remaining);
        $this->assertSame(5, $c->peek('api', 'never-seen')->remaining);
    }

    /** A quota (spec quota.md, example 4): a calendar day at UTC-5, through the policy file alone. */
    public function testQuotaCalendarDay(): void
    {
        $yaml = "limiters:\n  nightly: { strategy: quota, limit: 2, resetCadence: calendar-day, offsetMinutes: -300 }\n";
        $c = Client::redis(TestEnv::redisUrl($this), $yaml, ['lib' => TestEnv::lib($this),
            'key_namespace' => TestEnv::namespace('quota'), 'timeout_ms' => 2000]);
        $d = $c->check('nightly', 'k', 1, 1_710_045_000_000);
        $this->assertSame([true, 2, 1, 1_710_046_800_000, 0], [$d->allowed, $d->limit, $d->remaining, $d->resetAtMs, $d->retryAfterMs]);
        $c->check('nightly', 'k', 1, 1_710_045_900_000);
        $d = $c->check('nightly', 'k', 1, 1_710_046_200_000);
        $this->assertSame([false, 0, 1_710_046_800_000, 600_000], [$d->allowed, $d->remaining, $d->resetAtMs, $d->retryAfterMs]);
        $this->assertSame(0, $c->peek('nightly', 'k', 1_710_046_200_000)->remaining);
        $this->assertSame(1_710_046_800_000, $c->forecast('nightly', 'k', 1, 1_710_046_200_000)->fullAtMs);
        $d = $c->check('nightly', 'k', 1, 1_710_046_800_000); // local midnight: a new day
        $this->assertSame([true, 1, 1_710_133_200_000], [$d->allowed, $d->remaining, $d->resetAtMs]);
        $c->close();
    }

    public function testForecast(): void
    {
        $c = $this->client();
        $f = $c->forecast('api', 'fc', 1, self::T0);
        $this->assertInstanceOf(Forecast::class, $f);
        $this->assertSame(5, $f->spendableNow);
        $c->check('api', 'fc', 5, self::T0);
        $f = $c->forecast('api', 'fc', 1, self::T0);
        $this->assertSame(0, $f->spendableNow);
        $this->assertSame(self::T0 + 200, $f->nextReplenishAtMs);
        $this->assertSame(self::T0 + 1000, $f->fullAtMs);
        $this->assertSame(2, $c->forecast('api', 'fc2', 2, self::T0)->spendableNow);
        $this->assertGreaterThanOrEqual(0, $c->forecast('api', 'fc3')->spendableNow);
    }

    public function testCheckManyOrderDuplicatesAndOneInstant(): void
    {
        $c = $this->client();
        $ds = $c->checkMany('fw', ['a', 'b', 'a', 'a', 'a'], 1, self::T0);
        $this->assertCount(5, $ds);
        $this->assertSame([true, true, true, true, false], array_map(static fn ($d) => $d->allowed, $ds));
        $this->assertSame([2, 2, 1, 0, 0], array_map(static fn ($d) => $d->remaining, $ds));
        foreach ($ds as $d) {
            $this->assertSame(self::T0 + 3600000, $d->resetAtMs);
        }
        $this->assertSame([], $c->checkMany('fw', [], 1, self::T0));
        $this->assertSame([], $c->checkMany('fw', []));
        $ds = $c->checkMany('api', ['x', 'y']);
        $this->assertSame([4, 4], array_map(static fn ($d) => $d->remaining, $ds));
        // Keys as a map: the order of the values counts, not the keys.
        $ds = $c->checkMany('fw', ['z' => 'm1', 'y' => 'm2'], 3, self::T0);
        $this->assertSame([0, 0], array_map(static fn ($d) => $d->remaining, $ds));
    }

    public function testCheckManyIsAllOrNothing(): void
    {
        $c = $this->client();
        try {
            $c->checkMany('api', ['ok', str_repeat('k', 5000)], 1, self::T0);
            $this->fail('an oversized key was accepted');
        } catch (InvalidArgumentException $e) {
            $this->assertSame(-1, $e->getCode());
        }
        $this->assertSame(5, $c->peek('api', 'ok', self::T0)->remaining);
    }

    public function testDebitTokenBudget(): void
    {
        $c = $this->client();
        $d = $c->debit('llm', 'u', 80, self::T0);
        $this->assertTrue($d->allowed);
        $this->assertSame(100, $d->limit);
        $this->assertSame(20, $d->remaining);
        $this->assertSame(self::T0 + 3600000, $d->resetAtMs);
        $this->assertSame(20, $c->peek('llm', 'u', self::T0)->remaining); // peek on a meter spends nothing
        $this->assertSame(0, $c->debit('llm', 'u', 50, self::T0)->remaining); // a crossing debit passes
        $d = $c->debit('llm', 'u', 1, self::T0 + 1000);
        $this->assertFalse($d->allowed);
        $this->assertSame(3599000, $d->retryAfterMs);
        $this->assertTrue($c->debit('llm', 'u2', 0)->allowed); // the server's clock; 0 means 1
    }

    public function testKeysMayHoldAnyBytesButNul(): void
    {
        $c = $this->client();
        $binary = "\xff\xfe\x01 key:with/odd\tbytes\x80";
        $this->assertSame(4, $c->check('api', $binary, 1, self::T0)->remaining);
        $this->assertSame(3, $c->check('api', $binary, 1, self::T0)->remaining);
        $this->assertSame(4, $c->check('api', '', 1, self::T0)->remaining); // the empty key is a key
        foreach ([fn () => $c->check('api', "a\0b"), fn () => $c->peek('api', "\0"),
                     fn () => $c->forecast('api', "x\0"), fn () => $c->debit('llm', "x\0", 1),
                     fn () => $c->checkMany('api', ['ok', "b\0"]), fn () => $c->check("api\0", 'k')] as $call) {
            try {
                $call();
                $this->fail('a NUL byte was accepted');
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString('NUL', $e->getMessage());
            }
        }
        $this->assertSame(2, $c->check('api', $binary, 1, self::T0)->remaining);
    }

    public function testStatusesAsExceptions(): void
    {
        $c = $this->client();
        $cases = [
            [PolicyNotFoundException::class, -3, fn () => $c->check('nope', 'k')],
            [PolicyNotFoundException::class, -3, fn () => $c->peek('nope', 'k', self::T0)],
            [UnsupportedException::class, -4, fn () => $c->debit('api', 'k', 1)],
            [UnsupportedException::class, -4, fn () => $c->check('llm', 'k')],
            [UnsupportedException::class, -4, fn () => $c->checkMany('llm', ['k'])],
            [UnsupportedException::class, -4, fn () => $c->forecast('llm', 'k')],
            [InvalidArgumentException::class, -1, fn () => $c->check('', 'k')],
            [InvalidArgumentException::class, -1, fn () => $c->check('api', 'k', -1)],
            [InvalidArgumentException::class, -1, fn () => $c->debit('llm', 'k', -5)],
            [InvalidArgumentException::class, -1, fn () => $c->forecast('api', 'k', -1)],
            [InvalidArgumentException::class, -1, fn () => $c->check('api', 'k', 1 << 53)],
            [InvalidArgumentException::class, -1, fn () => $c->check('api', 'k', 1, 0)],
            [InvalidArgumentException::class, -1, fn () => $c->check('api', 'k', 1, -5)],
            [InvalidArgumentException::class, -1, fn () => $c->check('api', str_repeat('k', 4097))],
        ];
        foreach ($cases as $i => [$class, $code, $call]) {
            try {
                $call();
                $this->fail("case #$i: no $class");
            } catch (ThrottleKitException $e) {
                $this->assertInstanceOf($class, $e, "case #$i: " . $e->getMessage());
                $this->assertSame($code, $e->getCode(), "case #$i");
                $this->assertNotSame('', $e->getMessage());
            }
        }
        $this->assertFalse($c->check('api', 'max', (1 << 53) - 1)->allowed); // 2^53-1 is a denial
        $this->assertSame(4, $c->check('api', str_repeat('k', 4096))->remaining);
    }

    public function testConfigErrorsShowAtFirstUseOrOpen(): void
    {
        $c = Client::redis(TestEnv::redisUrl($this), "limiters:\n  api: { strategy: gcra, limit: 5, burst: -3 }\n",
            ['lib' => TestEnv::lib($this)]);
        try {
            $c->check('api', 'k');
            $this->fail('a bad policy was accepted');
        } catch (ConfigException $e) {
            $this->assertSame(-7, $e->getCode());
            $this->assertStringContainsString('burst', $e->getMessage());
        }
        foreach (['', "limiters: [\n", "limiters:\n  x: { strategy: nope }\n"] as $yaml) {
            $bad = Client::redis(TestEnv::redisUrl($this), $yaml, ['lib' => TestEnv::lib($this)]);
            try {
                $bad->open();
                $this->fail('accepted: ' . json_encode($yaml));
            } catch (ConfigException $e) {
                $this->assertSame(-7, $e->getCode());
            }
            $bad->close();
        }
        foreach (['', 'http://x', 'redis://'] as $url) {
            try {
                Client::redis($url, self::POLICIES, ['lib' => TestEnv::lib($this)])->open();
                $this->fail("accepted the URL '$url'");
            } catch (InvalidArgumentException $e) {
                $this->assertSame(-1, $e->getCode());
            }
        }
    }

    public function testCloseIsIdempotentAndAClosedClientThrows(): void
    {
        $c = $this->client();
        $c->check('api', 'k');
        $c->close();
        $c->close();
        foreach ([fn () => $c->check('api', 'k'), fn () => $c->peek('api', 'k'), fn () => $c->open(),
                     fn () => $c->forecast('api', 'k'), fn () => $c->debit('llm', 'k', 1),
                     fn () => $c->checkMany('api', ['k'])] as $call) {
            try {
                $call();
                $this->fail('a closed client answered');
            } catch (ClosedException $e) {
                $this->assertInstanceOf(InvalidArgumentException::class, $e);
            }
        }
        $never = $this->client();
        $never->close(); // never opened: nothing to free
        $this->expectException(ClosedException::class);
        $never->check('api', 'k');
    }

    public function testNamespacesSeparateLimiters(): void
    {
        $a = $this->client(['key_namespace' => TestEnv::namespace('ns-a')]);
        $b = $this->client(['key_namespace' => TestEnv::namespace('ns-b')]);
        $a->check('api', 'k', 5, self::T0);
        $this->assertFalse($a->check('api', 'k', 1, self::T0)->allowed);
        $this->assertTrue($b->check('api', 'k', 1, self::T0)->allowed);
        $a2 = $this->client(['key_namespace' => TestEnv::namespace('ns-a')]);
        $this->assertFalse($a2->check('api', 'k', 1, self::T0)->allowed); // one limiter for both clients
    }
}
