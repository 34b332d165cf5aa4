<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Admission;
use ThrottleKit\Client;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\UnsupportedException;

/**
 * Concurrency admission (docs/admission.md) from PHP: admit() and release(), withAdmission()
 * releasing on return and, dropped, on a throw; heartbeat(); the service door; a fork.
 */
final class AdmissionTest extends TestCase
{
    private const POLICIES = "limiters:\n"
        . "  cc: { concurrency: { minLimit: 2, maxLimit: 2 } }\n"
        . "  api: { strategy: gcra, limit: 5, period: 1s }\n";
    private const T0 = 1_700_000_000_000;

    private function client(): Client
    {
        return Client::redis(TestEnv::redisUrl($this), self::POLICIES, ['lib' => TestEnv::lib($this),
            'key_namespace' => TestEnv::namespace('admit'), 'timeout_ms' => 5000]);
    }

    public function testAdmitReleaseAndHeartbeatAtExplicitClocks(): void
    {
        $c = $this->client();
        $a = $c->admit('cc', 'k', 1, self::T0);
        $b = $c->admit('cc', 'k', 1, self::T0);
        $this->assertTrue($a->allowed() && $b->allowed());
        $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $a->leaseId);
        $this->assertSame(self::T0 + 2000, $a->leaseExpiresAtMs);
        $this->assertSame([1, 0], [$a->decision->remaining, $b->decision->remaining]);
        $full = $c->admit('cc', 'k', 1, self::T0);
        $this->assertFalse($full->allowed());
        $this->assertFalse($full->held());
        $this->assertSame('concurrency', $full->bindingAxis);
        $full->release(); // holds nothing: no call
        $this->assertSame(['nope'], $c->heartbeat('cc', 'k', [$a->leaseId, 'nope'], self::T0 + 1500));
        // b was not renewed: at +2000 it is reclaimed; a lives on.
        $this->assertTrue($c->admit('cc', 'k', 1, self::T0 + 2000)->allowed());
        $this->assertSame([$b->leaseId], $c->heartbeat('cc', 'k', [$a->leaseId, $b->leaseId], self::T0 + 2000));
        $this->assertSame([], $c->heartbeat('cc', 'k', [], self::T0 + 2000));
        $a->release();
        $a->release(); // idempotent
        $this->assertTrue($a->released());
        $c->release('cc', 'k', 'unknown');
    }

    public function testWithAdmissionReleasesOnReturnAndOnThrow(): void
    {
        $c = $this->client();
        $value = $c->withAdmission('cc', 'k', function (Admission $a) use ($c): string {
            $this->assertTrue($a->allowed());
            $c->withAdmission('cc', 'k', fn (Admission $b) => $this->assertTrue($b->allowed()));
            $c->withAdmission('cc', 'k', fn (Admission $b) => $this->assertTrue($b->allowed()));
            return 'done';
        });
        $this->assertSame('done', $value);
        $held = null;
        try {
            $c->withAdmission('cc', 'k', function (Admission $a) use (&$held): void {
                $held = $a;
                throw new \RuntimeException('the work failed');
            });
            $this->fail('the exception must propagate');
        } catch (\RuntimeException $e) {
            $this->assertSame('the work failed', $e->getMessage());
        }
        $this->assertTrue($held->released());
        $a = $c->admit('cc', 'k');
        $b = $c->admit('cc', 'k');
        $this->assertTrue($a->allowed() && $b->allowed(), 'every slot came back');
        $a->release();
        $b->release(true);
    }

    public function testErrors(): void
    {
        $c = $this->client();
        $this->expectException(UnsupportedException::class);
        try {
            $c->admit('nope', 'k');
            $this->fail('unknown policy');
        } catch (PolicyNotFoundException) {
        }
        try {
            $c->admit('cc', 'k', -1);
            $this->fail('negative cost');
        } catch (InvalidArgumentException) {
        }
        $c->admit('api', 'k');
    }

    /** lease_heartbeat: the client keeps its lease alive past the TTL until it releases it. */
    public function testLeaseHeartbeatOption(): void
    {
        $ns = TestEnv::namespace('admit-pump');
        $opts = ['lib' => TestEnv::lib($this), 'key_namespace' => $ns, 'timeout_ms' => 5000, 'lease_ttl_ms' => 1500];
        $pumped = Client::redis(TestEnv::redisUrl($this), self::POLICIES, $opts + ['lease_heartbeat' => true]);
        $probe = Client::redis(TestEnv::redisUrl($this), self::POLICIES, $opts);
        $a = $pumped->admit('cc', 'k');
        $b = $pumped->admit('cc', 'k');
        $this->assertTrue($a->allowed() && $b->allowed());
        usleep(2_500_000); // past the 1.5 s TTL
        $this->assertFalse($probe->admit('cc', 'k')->allowed(), 'renewed leases still hold both slots');
        $a->release();
        $b->release();
        $c = $probe->admit('cc', 'k');
        $this->assertTrue($c->allowed());
        usleep(2_500_000); // the probe renews nothing: its lease expires, and the next admit reclaims it
        $this->assertTrue($pumped->admit('cc', 'k')->allowed() && $pumped->admit('cc', 'k')->allowed());
        $this->assertSame([$c->leaseId], $probe->heartbeat('cc', 'k', [$c->leaseId]));
        $this->expectException(InvalidArgumentException::class);
        Client::redis(TestEnv::redisUrl($this), self::POLICIES, ['lease_heartbeat' => 1]);
    }

    public function testServiceDoor(): void
    {
        $server = new Server(TestEnv::serverBinary($this), self::POLICIES);
        try {
            $c = Client::service($server->addr, ['lib' => TestEnv::lib($this), 'timeout_ms' => 5000]);
            $c->withAdmission('cc', 'k', function (Admission $a) use ($c): void {
                $this->assertTrue($a->allowed());
                $this->assertSame([], $c->heartbeat('cc', 'k', [$a->leaseId]));
                $this->assertTrue($c->admit('cc', 'k')->allowed());
                $this->assertFalse($c->admit('cc', 'k')->allowed());
            });
            $c->close();
        } finally {
            $server->stop();
        }
    }

    /** In a fresh PHP process, a client built before pcntl_fork admits in two children. */
    public function testChildrenAdmitThroughAClientBuiltBeforeFork(): void
    {
        if (!function_exists('pcntl_fork')) {
            TestEnv::missing($this, 'the pcntl extension is not loaded');
        }
        $cmd = array_merge(TestEnv::phpCommand(), [__DIR__ . '/fixtures/fork_admission.php', TestEnv::lib($this),
            TestEnv::redisUrl($this), TestEnv::namespace('admit-fork')]);
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($p), "stdout: $out\nstderr: $err");
        $this->assertSame(['children' => [0, 0]], json_decode($out, true), "stderr: $err");
    }
}
