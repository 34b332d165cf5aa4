<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;

/** Client::checkAll() through the Redis door (THROTTLEKIT_REDIS_URL): one atomic script run. */
final class RedisCheckAllTest extends TestCase
{
    use CheckAllCases;

    protected function checkAllClient(): Client
    {
        return Client::redis(TestEnv::redisUrl($this), self::$checkAllPolicies, ['lib' => TestEnv::lib($this),
            'key_namespace' => TestEnv::namespace('all'), 'timeout_ms' => 2000]);
    }

    /**
     * Four processes race two limits where the second denies most calls: the first limit's
     * count is exactly the number of calls that were allowed as a whole.
     */
    public function testRacingProcessesConsumeAllOrNone(): void
    {
        $ns = TestEnv::namespace('race');
        $key = 'race-' . bin2hex(random_bytes(4));
        $script = <<<'PHP'
            require $argv[1] . '/autoload.php';
            [, , $lib, $url, $ns, $key] = $argv;
            $c = ThrottleKit\Client::redis($url, "limiters:\n  first: { strategy: fixedWindow, limit: 1000, windowMs: 1h }\n"
                . "  second: { strategy: fixedWindow, limit: 30, windowMs: 1h }\n", ['lib' => $lib, 'key_namespace' => $ns]);
            $n = 0;
            for ($i = 0; $i < 20; $i++) {
                $n += $c->checkAll([['first', $key], ['second', $key]], 1_699_999_200_000)->allowed ? 1 : 0;
            }
            echo $n;
            PHP;
        $procs = [];
        for ($i = 0; $i < 4; $i++) {
            $cmd = array_merge(TestEnv::phpCommand(), ['-r', $script, '--', dirname(__DIR__), TestEnv::lib($this),
                TestEnv::redisUrl($this), $ns, $key]);
            $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
            $procs[] = [$p, $pipes];
        }
        $allowed = 0;
        foreach ($procs as [$p, $pipes]) {
            $out = stream_get_contents($pipes[1]);
            $err = stream_get_contents($pipes[2]);
            $this->assertSame(0, proc_close($p), "stdout: $out\nstderr: $err");
            $this->assertMatchesRegularExpression('/^\d+$/', $out, $err);
            $allowed += (int) $out;
        }
        $this->assertSame(30, $allowed);
        $c = Client::redis(TestEnv::redisUrl($this), "limiters:\n  first: { strategy: fixedWindow, limit: 1000, windowMs: 1h }\n",
            ['lib' => TestEnv::lib($this), 'key_namespace' => $ns]);
        $this->assertSame(1000 - 30, $c->peek('first', $key, 1_699_999_200_000)->remaining);
    }
}
