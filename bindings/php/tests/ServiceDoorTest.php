<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;
use ThrottleKit\Exception\AuthException;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\ThrottleKitException;
use ThrottleKit\Exception\TimeoutException;
use ThrottleKit\Exception\UnavailableException;
use ThrottleKit\Exception\UnsupportedException;

/**
 * Every operation through the service door: a real throttlekit-server (embedded store) on a
 * free port, started here with a temporary policy file and stopped with SIGTERM (exit 0).
 */
final class ServiceDoorTest extends TestCase
{
    private static ?Server $server = null;
    private static ?string $startError = null;

    public static function tearDownAfterClass(): void
    {
        self::$server?->stop();
        self::$server = null;
    }

    private function client(array $options = []): Client
    {
        $lib = TestEnv::lib($this);
        if (self::$server === null) {
            if (self::$startError !== null) {
                $this->fail(self::$startError);
            }
            try {
                self::$server = new Server(TestEnv::serverBinary($this), RedisDoorTest::POLICIES);
            } catch (\RuntimeException $e) {
                self::$startError = $e->getMessage();
                $this->fail(self::$startError);
            }
        }
        return Client::service(self::$server->addr, $options + ['lib' => $lib, 'timeout_ms' => 3000]);
    }

    /** checkAll() is one CheckAll RPC: all or nothing on the server's store. */
    public function testCheckAll(): void
    {
        $c = $this->client();
        $a = 'sa-' . bin2hex(random_bytes(6));
        $b = 'sb-' . bin2hex(random_bytes(6));
        $row = static fn ($d) => [$d->allowed, $d->limit, $d->remaining, $d->synthesized];
        $r = $c->checkAll([['fw', $a], ['fw', $b, 3]]);
        $this->assertTrue($r->allowed);
        $this->assertSame([[true, 3, 2, false], [true, 3, 0, false]], array_map($row, $r->decisions));
        $this->assertSame([0, 0], array_map(static fn ($d) => $d->retryAfterMs, $r->decisions));
        $c2 = 'sc-' . bin2hex(random_bytes(6));
        $r = $c->checkAll([['fw', $c2], ['policy' => 'fw', 'key' => $b]]);
        $this->assertFalse($r->allowed);
        $this->assertSame([1], $r->deniedIndexes());
        $this->assertSame([[true, 3, 2, false], [false, 3, 0, false]], array_map($row, $r->decisions));
        $this->assertSame(0, $r->decisions[0]->retryAfterMs);
        $this->assertGreaterThan(0, $r->decisions[1]->retryAfterMs);
        $this->assertSame(3, $c->peek('fw', $c2)->remaining); // the allowing item was not consumed
        try {
            $c->checkAll([['fw', $a], ['nope', $a]]);
            $this->fail('an unknown policy was accepted');
        } catch (PolicyNotFoundException $e) {
            // the service door prefixes its messages ("service: "); the item is named all the same
            $this->assertMatchesRegularExpression('/^(service: )?items\[1\]: unknown policy/', $e->getMessage());
        }
        $this->assertSame(2, $c->peek('fw', $a)->remaining);
        $this->expectException(UnsupportedException::class);
        $c->checkAllAt([['fw', $a]], 1_700_000_000_000);
    }

    public function testEveryOperation(): void
    {
        $c = $this->client();
        $k = 'svc-' . bin2hex(random_bytes(6));
        $this->assertSame(5, $c->peek('api', $k)->remaining);
        $this->assertSame(5, $c->forecast('api', $k)->spendableNow);
        $t0 = microtime(true);
        $ds = [];
        for ($i = 0; $i < 6; $i++) {
            $ds[] = $c->check('api', $k);
        }
        if (microtime(true) - $t0 < 0.15) { // exact only when the burst fits in one emission interval
            $this->assertSame([true, true, true, true, true, false], array_map(static fn ($d) => $d->allowed, $ds));
            $this->assertGreaterThan(0, $ds[5]->retryAfterMs);
        }
        $this->assertSame(5, $ds[0]->limit);
        $this->assertGreaterThan(0, $ds[0]->resetAtMs);
        $this->assertFalse($ds[0]->synthesized);

        $many = $c->checkMany('fw', [$k, "$k-b", $k, $k, $k]);
        $this->assertSame([true, true, true, true, false], array_map(static fn ($d) => $d->allowed, $many));
        $this->assertSame([2, 2, 1, 0, 0], array_map(static fn ($d) => $d->remaining, $many));
        $this->assertSame([], $c->checkMany('fw', []));

        $d = $c->debit('llm', $k, 30);
        $this->assertTrue($d->allowed);
        $this->assertSame(70, $d->remaining);
        $this->assertSame(70, $c->peek('llm', $k)->remaining);
        $this->assertSame('ünïcødé ✓', 'ünïcødé ✓');
        $this->assertSame(4, $c->check('api', "ünïcødé ✓ $k")->remaining);
        $c->close();
    }

    public function testStatuses(): void
    {
        $c = $this->client();
        $cases = [
            [PolicyNotFoundException::class, fn () => $c->check('nope', 'k')],
            [UnsupportedException::class, fn () => $c->debit('api', 'k', 1)],
            [UnsupportedException::class, fn () => $c->check('llm', 'k')],
            [UnsupportedException::class, fn () => $c->forecast('llm', 'k')],
            [UnsupportedException::class, fn () => $c->checkMany('llm', ['k'])],
            [UnsupportedException::class, fn () => $c->check('api', 'k', 1, 1000)],
            [UnsupportedException::class, fn () => $c->checkMany('api', ['k'], 1, 1000)],
            [UnsupportedException::class, fn () => $c->peek('api', 'k', 1000)],
            [UnsupportedException::class, fn () => $c->forecast('api', 'k', 1, 1000)],
            [UnsupportedException::class, fn () => $c->debit('llm', 'k', 1, 1000)],
            [InvalidArgumentException::class, fn () => $c->check('api', "\xff\xfe")], // not UTF-8
            [InvalidArgumentException::class, fn () => $c->check('api', 'k', -1)],
            [InvalidArgumentException::class, fn () => $c->check('', 'k')],
            [InvalidArgumentException::class, fn () => $c->check('api', "k\0")],
        ];
        foreach ($cases as $i => [$class, $call]) {
            try {
                $call();
                $this->fail("case #$i: no $class");
            } catch (ThrottleKitException $e) {
                $this->assertInstanceOf($class, $e, "case #$i: " . $e->getMessage());
            }
        }
        $this->assertFalse($c->check('api', 'max-' . bin2hex(random_bytes(4)), (1 << 53) - 1)->allowed);
    }

    public function testAuthTokenRefusedAndAccepted(): void
    {
        $this->client(); // the binary and the library, or skip
        $token = bin2hex(random_bytes(16));
        $server = new Server(TestEnv::serverBinary($this), RedisDoorTest::POLICIES,
            ['--auth-token-file', '{token}'], ['token' => "$token\n"]);
        try {
            $lib = TestEnv::lib($this);
            foreach ([[], ['auth_token' => 'bad-token-q7z9x']] as $opts) {
                try {
                    Client::service($server->addr, $opts + ['lib' => $lib, 'timeout_ms' => 3000])->check('api', 'k');
                    $this->fail('no AuthException');
                } catch (AuthException $e) {
                    $this->assertSame(-10, $e->getCode());
                    $this->assertStringNotContainsString('q7z9x', $e->getMessage());
                }
            }
            $ok = Client::service($server->addr, ['lib' => $lib, 'auth_token' => $token, 'timeout_ms' => 3000]);
            $this->assertTrue($ok->check('api', 'k')->allowed);
            $ok->close();
        } finally {
            $this->assertSame(0, $server->stop(), 'SIGTERM must stop the server with status 0');
        }
    }

    public function testFailModesWhenTheServerIsDown(): void
    {
        $this->client();
        $server = new Server(TestEnv::serverBinary($this), RedisDoorTest::POLICIES);
        $addr = $server->addr;
        $lib = TestEnv::lib($this);
        $this->assertTrue(Client::service($addr, ['lib' => $lib, 'timeout_ms' => 3000])->check('api', 'k')->allowed);
        $this->assertSame(0, $server->stop());

        $open = Client::service($addr, ['lib' => $lib, 'timeout_ms' => 300, 'fail_mode' => 'open']);
        $d = $open->check('api', 'k');
        $this->assertTrue($d->allowed);
        $this->assertTrue($d->synthesized);
        $this->assertSame(0, $d->limit);
        $closed = Client::service($addr, ['lib' => $lib, 'timeout_ms' => 300, 'fail_mode' => Client::FAIL_CLOSED]);
        $d = $closed->check('api', 'k');
        $this->assertFalse($d->allowed);
        $this->assertTrue($d->synthesized);
        $error = Client::service($addr, ['lib' => $lib, 'timeout_ms' => 300]);
        $t0 = microtime(true);
        try {
            $error->check('api', 'k');
            $this->fail('a dead server answered');
        } catch (UnavailableException|TimeoutException $e) {
            $this->assertLessThan(2.0, microtime(true) - $t0);
        }
        // Only checks are synthesized: a peek reports the outage.
        $this->expectException(UnavailableException::class);
        try {
            $open->peek('api', 'k');
        } catch (TimeoutException $e) {
            throw new UnavailableException('(timeout) ' . $e->getMessage());
        }
    }
}
