<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;
use ThrottleKit\Exception\ForkedException;

/**
 * pcntl_fork: a client built but unused in the parent works in children; one used in the
 * parent throws ForkedException in a child; close() and destructors in a child never call
 * the library and never turn exit(0) into 255.
 */
final class ForkTest extends TestCase
{
    protected function setUp(): void
    {
        if (!function_exists('pcntl_fork')) {
            TestEnv::missing($this, 'the pcntl extension is not loaded');
        }
    }

    /** In a fresh PHP process: the library has not started there before the forks. */
    public function testScenariosInAFreshProcess(): void
    {
        $cmd = array_merge(TestEnv::phpCommand(), [__DIR__ . '/fixtures/fork_scenarios.php', TestEnv::lib($this),
            TestEnv::redisUrl($this), TestEnv::namespace('fork')]);
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $status = proc_close($p);
        $this->assertSame(0, $status, "stdout: $out\nstderr: $err");
        $r = json_decode($out, true);
        $this->assertIsArray($r, "stdout: $out\nstderr: $err");
        $this->assertSame([0, 0, 0], $r['unused_in_parent_children'], $err);
        $this->assertSame(997, $r['unused_in_parent_remaining']);
        $this->assertSame(996, $r['parent_still_works']);
        $this->assertSame(0, $r['used_in_parent_child'], $err);
        $this->assertSame(0, $r['close_in_child'], $err);
        $this->assertSame(0, $r['child_ends_normally'], $err);
        $this->assertTrue($r['parent_after_children']);
    }

    /** In this (PHPUnit) process, which has used the library: a child gets ForkedException. */
    public function testUsedInParentThrowsForkedInChild(): void
    {
        $c = Client::redis(TestEnv::redisUrl($this), RedisDoorTest::POLICIES,
            ['lib' => TestEnv::lib($this), 'key_namespace' => TestEnv::namespace('fork2')]);
        $this->assertTrue($c->check('api', 'k')->allowed);
        $pid = pcntl_fork();
        if ($pid === 0) {
            $code = 1;
            try {
                $c->check('api', 'k');
            } catch (ForkedException $e) {
                $code = $e->getCode() === -8 ? 0 : 2;
            } catch (\Throwable) {
                $code = 3;
            }
            while (ob_get_level() > 0) {
                ob_end_clean();
            }
            // Skip PHPUnit's shutdown work in the child; the client's destructor runs first.
            $c = null;
            exit($code);
        }
        $this->assertGreaterThan(0, $pid);
        pcntl_waitpid($pid, $st);
        $this->assertTrue(pcntl_wifexited($st));
        $this->assertSame(0, pcntl_wexitstatus($st));
        $this->assertTrue($c->check('api', 'k')->allowed, 'the parent keeps working');
    }
}
