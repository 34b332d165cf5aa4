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
use ThrottleKit\Exception\UnsupportedException;

/**
 * Client::memory(): the embedded engine, nothing running. Needs no Redis, except the
 * differential test, which compares it with the Redis door.
 */
final class MemoryTest extends TestCase
{
    use CheckAllCases;

    private const POLICIES = "limiters:\n"
        . "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
        . "  fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
        . "  tb: { strategy: tokenBucket, capacity: 4, refillPerSec: 2 }\n"
        . "  llm:\n"
        . "    tokenBudget: { budget: 100, windowMs: 1h }\n";
    private const T0 = 1_699_999_200_000;
    private const HOUR = 3_600_000;

    protected function checkAllClient(): Client
    {
        return Client::memory(self::$checkAllPolicies, ['lib' => TestEnv::lib($this)]);
    }

    private function memory(string $yaml = self::POLICIES): Client
    {
        return Client::memory($yaml, ['lib' => TestEnv::lib($this)]);
    }

    public function testShadowPolicy(): void
    {
        $c = $this->memory("limiters:\n  new: { strategy: fixedWindow, limit: 1, windowMs: 1h, shadow: true }\n");
        self::assertFalse($c->check('new', 'k')->shadow);
        $d = $c->check('new', 'k');
        self::assertTrue($d->allowed);
        self::assertTrue($d->shadow);
        self::assertSame(0, $d->remaining);
        self::assertGreaterThan(0, $d->retryAfterMs);
    }

    public function testOverrides(): void
    {
        $c = $this->memory("limiters:\n  tiers: { strategy: fixedWindow, limit: 2, windowMs: 1h, "
            . "overrides: { vip: unlimited, banned: deny, gold: { limit: 4 } } }\n"
            . "  plain: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n");
        for ($i = 0; $i < 3; $i++) {
            self::assertTrue($c->check('tiers', 'vip')->override);
        }
        $d = $c->check('tiers', 'banned');
        self::assertSame([false, true, 0], [$d->allowed, $d->override, $d->remaining]);
        self::assertSame(4, $c->check('tiers', 'gold')->limit);
        self::assertFalse($c->check('tiers', 'x')->override);
        $c->setOverride('tiers', 'x', 'deny');
        $d = $c->check('tiers', 'x');
        self::assertSame([false, true], [$d->allowed, $d->override]);
        $c->clearOverride('tiers', 'x');
        self::assertFalse($c->check('tiers', 'x')->override);
        try {
            $c->setOverride('plain', 'x', 'deny');
            self::fail('setOverride on a policy without overrides must throw');
        } catch (\ThrottleKit\Exception\UnsupportedException $e) {
            self::assertStringContainsString('overrides', $e->getMessage());
        }
    }

    public function testLeasedPolicyAnswersLocally(): void
    {
        $c = $this->memory("limiters:\n  leased: { strategy: fixedWindow, limit: 10, windowMs: 1h, twoTier: { batch: 5 } }\n");
        $first = $c->check('leased', 'k');
        self::assertSame([true, 4, false], [$first->allowed, $first->remaining, $first->local]);
        $second = $c->check('leased', 'k');
        self::assertSame([true, 3, true], [$second->allowed, $second->remaining, $second->local]);
        try {
            $c->peek('leased', 'k');
            self::fail('peek on a leased policy must throw');
        } catch (\ThrottleKit\Exception\UnsupportedException $e) {
            self::assertStringContainsString('does not support peek', $e->getMessage());
        }
    }

    public function testShadowSwitch(): void
    {
        $c = Client::memory(self::POLICIES, ['lib' => TestEnv::lib($this), 'shadow' => true]);
        for ($i = 0; $i < 3; $i++) {
            $c->check('fw', 'sw');
        }
        $d = $c->check('fw', 'sw');
        self::assertTrue($d->allowed);
        self::assertTrue($d->shadow);
        self::assertTrue($c->checkAll([['fw', 'sw'], ['fw', 'sw2']])->allowed);
        self::assertSame(2, $c->peek('fw', 'sw2')->remaining); // the item that allowed was consumed
    }

    public function testRefundAndReset(): void
    {
        $c = $this->memory();
        $c->check('fw', 'r', 3);
        $refunded = $c->refund('fw', 'r', 2);
        self::assertEquals($c->peek('fw', 'r'), $refunded);
        self::assertTrue($refunded->allowed);
        self::assertSame(2, $refunded->remaining);
        self::assertSame(3, $c->refund('fw', 'r', 50)->remaining); // never beyond full
        $c->debit('llm', 'r', 30);
        self::assertSame(80, $c->refund('llm', 'r', 10)->remaining);
        $c->check('fw', 'r', 3);
        $c->reset('fw', 'r');
        self::assertSame(3, $c->peek('fw', 'r')->remaining);
        $this->expectException(PolicyNotFoundException::class);
        $c->reset('nope', 'r');
    }

    public function testEveryOperation(): void
    {
        $c = $this->memory();
        $this->assertSame(['door' => 'memory', 'open' => false, 'closed' => false], $c->__debugInfo());
        for ($i = 0; $i < 5; $i++) {
            $this->assertEquals(self::d(true, 5, 4 - $i, self::T0 + 200 * ($i + 1), 0), $c->check('api', 'k', 1, self::T0));
        }
        $this->assertEquals(self::d(false, 5, 0, self::T0 + 1000, 200), $c->check('api', 'k', 1, self::T0));
        $this->assertEquals(self::d(false, 5, 0, self::T0 + 1000, 200), $c->peek('api', 'k', self::T0));
        $this->assertEquals([self::d(true, 3, 2, self::T0 + self::HOUR, 0), self::d(true, 3, 1, self::T0 + self::HOUR, 0)],
            $c->checkMany('fw', ['m', 'm'], 1, self::T0));
        $this->assertEquals(self::d(true, 100, 70, self::T0 + self::HOUR, 0), $c->debit('llm', 'u', 30, self::T0));
        $this->assertSame(70, $c->peek('llm', 'u', self::T0)->remaining);
        $this->assertSame(1, $c->forecast('fw', 'm', 1, self::T0)->spendableNow);
        $this->assertTrue($c->check('tb', 'live')->allowed); // the process's clock
        $this->assertSame(['door' => 'memory', 'open' => true, 'closed' => false], $c->__debugInfo());
        try {
            $c->debit('api', 'k', 1);
            $this->fail('debit on a limiter');
        } catch (UnsupportedException $e) {
            $this->assertSame(-4, $e->getCode());
        }
        $this->expectException(PolicyNotFoundException::class);
        $c->check('nope', 'k');
    }

    public function testEachClientIsItsOwnStore(): void
    {
        $a = $this->memory();
        $b = $this->memory();
        for ($i = 0; $i < 3; $i++) {
            $a->check('fw', 'shared', 1, self::T0);
        }
        $this->assertFalse($a->check('fw', 'shared', 1, self::T0)->allowed);
        $this->assertEquals(self::d(true, 3, 2, self::T0 + self::HOUR, 0), $b->check('fw', 'shared', 1, self::T0));
        $a->close();
        $this->assertSame(2, $this->memory()->check('fw', 'shared', 1, self::T0)->remaining);
        $this->expectException(ClosedException::class);
        $a->check('fw', 'shared');
    }

    public function testOptionsAndPolicyErrors(): void
    {
        foreach (['key_namespace' => 'ns', 'fail_mode' => 'open', 'auth_token' => 't', 'bogus' => 1] as $name => $value) {
            try {
                Client::memory(self::POLICIES, [$name => $value]);
                $this->fail("accepted option $name");
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString("option '$name' does not apply to Client::memory()", $e->getMessage());
            }
        }
        try {
            Client::memory("a\0b");
            $this->fail('accepted a NUL byte');
        } catch (InvalidArgumentException $e) {
            $this->assertSame(-1, $e->getCode());
        }
        $this->assertSame(4, Client::memory(self::POLICIES, ['lib' => TestEnv::lib($this), 'timeout_ms' => 100])
            ->check('api', 'k', 1, self::T0)->remaining);
        $bad = $this->memory("limiters:\n  api: { strategy: gcra, limit: 5, burst: -3 }\n");
        foreach ([fn () => $bad->check('api', 'k'), fn () => $bad->open()] as $call) {
            try {
                $call();
                $this->fail('a bad policy file opened');
            } catch (ConfigException $e) {
                $this->assertSame(-7, $e->getCode());
                $this->assertNotSame('', $e->getMessage());
            }
        }
    }

    /** The same operations on the embedded engine and the Redis door: every field equal. */
    public function testSameDecisionsAsTheRedisDoor(): void
    {
        $red = Client::redis(TestEnv::redisUrl($this), self::POLICIES, ['lib' => TestEnv::lib($this),
            'key_namespace' => TestEnv::namespace('diff'), 'timeout_ms' => 2000]);
        $mem = $this->memory();
        $key = 'diff-' . bin2hex(random_bytes(4));
        $ops = [['check', 'api', 1], ['check', 'api', 3], ['check', 'api', 2], ['peek', 'api'], ['forecast', 'api', 1],
            ['check', 'tb', 3], ['check', 'tb', 2], ['forecast', 'tb', 1], ['check', 'fw', 2], ['check', 'fw', 2],
            ['peek', 'fw'], ['debit', 'llm', 60], ['debit', 'llm', 50], ['peek', 'llm'],
            ['checkAll', [['fw', 'x'], ['tb', 'y', 2]]], ['checkAll', [['fw', 'x', 2], ['tb', 'y', 1]]]];
        foreach ([0, 150, 900, 3_700_000] as $dt) {
            $now = self::T0 + $dt;
            foreach ($ops as $op) {
                $run = static fn (Client $c) => match ($op[0]) {
                    'check' => $c->check($op[1], $key, $op[2], $now),
                    'peek' => $c->peek($op[1], $key, $now),
                    'forecast' => $c->forecast($op[1], $key, $op[2], $now),
                    'debit' => $c->debit($op[1], $key, $op[2], $now),
                    'checkAll' => $c->checkAll(array_map(static fn (array $i) => [$i[0], "$key-$i[1]", $i[2] ?? 1], $op[1]), $now),
                };
                $this->assertEquals($run($red), $run($mem), json_encode($op) . " at T0+$dt");
            }
        }
    }

    /** pcntl_fork in a fresh PHP process: every worker has its own store. */
    public function testForkedChildrenEachGetTheirOwnStore(): void
    {
        if (!function_exists('pcntl_fork')) {
            TestEnv::missing($this, 'the pcntl extension is not loaded');
        }
        $cmd = array_merge(TestEnv::phpCommand(), [__DIR__ . '/fixtures/memory_fork.php', TestEnv::lib($this)]);
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($p), "stdout: $out\nstderr: $err");
        $this->assertSame(['children' => [0, 0, 0], 'parent_remaining' => 1, 'used_parent_child' => 0],
            json_decode($out, true), $err);
    }
}
