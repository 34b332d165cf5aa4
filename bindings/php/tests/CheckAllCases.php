<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use ThrottleKit\CheckAllResult;
use ThrottleKit\CheckItem;
use ThrottleKit\Client;
use ThrottleKit\Decision;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\UnsupportedException;

/**
 * Client::checkAll(), the same cases on every door that evaluates policies itself (the
 * embedded engine, Redis). A test class using this trait defines checkAllClient(): a client
 * over CHECK_ALL_POLICIES.
 */
trait CheckAllCases
{
    public static string $checkAllPolicies = "limiters:\n"
        . "  sec: { strategy: fixedWindow, limit: 2, windowMs: 1s }\n"
        . "  day: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
        . "  llm:\n"
        . "    tokenBudget: { budget: 100, windowMs: 1h }\n";

    abstract protected function checkAllClient(): Client;

    private static function t0(): int
    {
        return 1_699_999_200_000; // a multiple of 1 h: both windows start here
    }

    private static function fresh(string $label): string
    {
        return $label . '-' . bin2hex(random_bytes(6));
    }

    /** The window of the policy with that limit, among these tests' policies (sec, day, llm, and MemoryTest's api, fw). */
    private const WINDOWS = [2 => 1000, 3 => 3_600_000, 5 => 1000, 100 => 3_600_000];

    private static function d(bool $allowed, int $limit, int $remaining, int $resetAtMs, int $retryAfterMs): Decision
    {
        return new Decision($allowed, $limit, $remaining, $resetAtMs, $retryAfterMs, false, false, false,
            self::WINDOWS[$limit]);
    }

    public function testCheckAllConsumesAllOrNone(): void
    {
        $c = $this->checkAllClient();
        $t0 = self::t0();
        $hour = 3_600_000;
        $acct = self::fresh('acct');
        $r = $c->checkAll([['sec', self::fresh('ip')], ['day', $acct]], $t0);
        $this->assertInstanceOf(CheckAllResult::class, $r);
        $this->assertTrue($r->allowed);
        $this->assertEquals([self::d(true, 2, 1, $t0 + 1000, 0), self::d(true, 3, 2, $t0 + $hour, 0)], $r->decisions);
        $this->assertSame([], $r->deniedIndexes());
        $this->assertSame(0, $r->retryAfterMs());

        // A second address spends the account's last two units.
        $r = $c->checkAll([['sec', self::fresh('ip')], ['day', $acct, 2]], $t0);
        $this->assertTrue($r->allowed);
        $this->assertEquals([self::d(true, 2, 1, $t0 + 1000, 0), self::d(true, 3, 0, $t0 + $hour, 0)], $r->decisions);

        // The account is spent: the address's limit, which allows, is not consumed either.
        $ip3 = self::fresh('ip');
        $r = $c->checkAll([['sec', $ip3], ['day', $acct]], $t0 + 10);
        $this->assertFalse($r->allowed);
        $this->assertEquals([self::d(true, 2, 1, $t0 + 1000, 0), self::d(false, 3, 0, $t0 + $hour, $hour - 10)],
            $r->decisions);
        $this->assertSame([1], $r->deniedIndexes());
        $this->assertSame($hour - 10, $r->retryAfterMs());
        $this->assertCount(2, $r);
        $this->assertEquals($r->decisions, iterator_to_array($r));
        $this->assertEquals(self::d(true, 2, 2, $t0 + 1000, 0), $c->peek('sec', $ip3, $t0 + 10));
        $this->assertEquals(self::d(false, 3, 0, $t0 + $hour, $hour - 10), $c->peek('day', $acct, $t0 + 10));
    }

    public function testCheckAllRepeatedKeyAppliesInOrder(): void
    {
        $c = $this->checkAllClient();
        $t0 = self::t0();
        $k = self::fresh('dup');
        $r = $c->checkAll([['sec', $k], ['sec', $k], ['sec', $k]], $t0);
        $this->assertFalse($r->allowed);
        $this->assertEquals([self::d(true, 2, 1, $t0 + 1000, 0), self::d(true, 2, 0, $t0 + 1000, 0),
            self::d(false, 2, 0, $t0 + 1000, 1000)], $r->decisions);
        $this->assertSame([2], $r->deniedIndexes());
        $this->assertSame(2, $c->peek('sec', $k, $t0)->remaining); // the two that allowed: not consumed
        $r = $c->checkAll([['sec', $k], ['sec', $k]], $t0);
        $this->assertTrue($r->allowed);
        $this->assertSame([1, 0], array_map(static fn (Decision $d) => $d->remaining, $r->decisions));
        $this->assertFalse($c->peek('sec', $k, $t0)->allowed);
    }

    public function testCheckAllItemFormsAreEquivalent(): void
    {
        $c = $this->checkAllClient();
        $t0 = self::t0();
        $forms = [
            static fn (string $a, string $b) => [['sec', $a], ['day', $b, 1]],
            static fn (string $a, string $b) => [['policy' => 'sec', 'key' => $a], ['key' => $b, 'policy' => 'day', 'cost' => 1]],
            static fn (string $a, string $b) => [new CheckItem('sec', $a), new CheckItem('day', $b, 0)],
        ];
        foreach ($forms as $i => $form) {
            // Fresh keys per form, at one instant: every form must give the same result.
            $r = $c->checkAll($form(self::fresh('a'), self::fresh('b')), $t0);
            $this->assertTrue($r->allowed, "form $i");
            $this->assertEquals([self::d(true, 2, 1, $t0 + 1000, 0), self::d(true, 3, 2, $t0 + 3_600_000, 0)],
                $r->decisions, "form $i");
        }
        $this->assertSame(0, $c->checkAll([['sec', self::fresh('cost'), 2]], $t0)->decisions[0]->remaining);
    }

    public function testCheckAllAtAndTheLiveClock(): void
    {
        $c = $this->checkAllClient();
        $t0 = self::t0();
        $k = self::fresh('at');
        $this->assertEquals($c->checkAll([['sec', "$k-1"]], $t0), $c->checkAllAt([['sec', "$k-2"]], $t0));
        $before = (int) (microtime(true) * 1000);
        $r = $c->checkAll([['sec', $k], ['day', $k]]);
        $this->assertTrue($r->allowed);
        $this->assertSame([1, 2], array_map(static fn (Decision $d) => $d->remaining, $r->decisions));
        $this->assertGreaterThan($before, $r->decisions[1]->resetAtMs);
        $this->assertLessThanOrEqual($before + 3_600_000 + 5000, $r->decisions[1]->resetAtMs);
    }

    public function testCheckAllEmpty(): void
    {
        $r = $this->checkAllClient()->checkAll([]);
        $this->assertTrue($r->allowed);
        $this->assertSame([], $r->decisions);
        $this->assertCount(0, $r);
        $this->assertSame(0, $r->retryAfterMs());
    }

    public function testCheckAllErrorsNameTheItemAndConsumeNothing(): void
    {
        $c = $this->checkAllClient();
        $t0 = self::t0();
        $k = self::fresh('err');
        $cases = [
            [PolicyNotFoundException::class, -3, '/^items\[1\]: /', [['sec', $k], ['nope', $k]]],
            [UnsupportedException::class, -4, '/^items\[1\]: /', [['sec', $k], ['llm', $k]]],
            [InvalidArgumentException::class, -1, '/^items\[0\]: /', [['sec', $k, -1]]],
            [InvalidArgumentException::class, -1, '/^items\[1\]: key contains a NUL byte/', [['sec', $k], ['sec', "a\0b"]]],
            [InvalidArgumentException::class, -1, '/^items\[1\]: expected \[policy, key\]/', [['sec', $k], ['sec']]],
            [InvalidArgumentException::class, -1, "/^items\\[0\\]: unknown field 'cots'/", [['policy' => 'sec', 'key' => $k, 'cots' => 1]]],
            [InvalidArgumentException::class, -1, "/^items\\[0\\]: 'policy' and 'key' are required/", [['policy' => 'sec']]],
            [InvalidArgumentException::class, -1, '/^items\[0\]: expected an array or a CheckItem, got string/', ['sec']],
            [InvalidArgumentException::class, -1, '/^items\[0\]: cost must be an int, got string/', [['sec', $k, '2']]],
            [InvalidArgumentException::class, -1, '/^items\[0\]: key must be a string, got int/', [['sec', 7]]],
        ];
        foreach ($cases as [$class, $code, $pattern, $items]) {
            try {
                $c->checkAll($items, $t0);
                $this->fail('accepted: ' . var_export($items, true));
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, $e->getMessage());
                $this->assertSame($code, $e->getCode(), $e->getMessage());
                $this->assertMatchesRegularExpression($pattern, $e->getMessage());
            }
        }
        $this->assertSame(2, $c->peek('sec', $k, $t0)->remaining); // none of the above consumed
    }
}
