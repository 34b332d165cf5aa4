<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;
use ThrottleKit\Exception\AuthException;
use ThrottleKit\Exception\ClosedException;
use ThrottleKit\Exception\ConfigException;
use ThrottleKit\Exception\ForkedException;
use ThrottleKit\Exception\InternalException;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\LibraryException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\ThrottleKitException;
use ThrottleKit\Exception\TimeoutException;
use ThrottleKit\Exception\UnavailableException;
use ThrottleKit\Exception\UnsupportedException;

/** Options, the library search, dead and silent backends, and the status-to-class mapping. */
final class ErrorsTest extends TestCase
{
    public function testHierarchyAndStatusMapping(): void
    {
        $map = [-1 => InvalidArgumentException::class, -2 => ClosedException::class,
            -3 => PolicyNotFoundException::class, -4 => UnsupportedException::class, -5 => UnavailableException::class,
            -6 => TimeoutException::class, -7 => ConfigException::class, -8 => ForkedException::class,
            -9 => InternalException::class, -10 => AuthException::class, -99 => InternalException::class];
        foreach ($map as $status => $class) {
            $e = Client::exceptionFor($status, 'm');
            $this->assertSame($class, get_class($e));
            $this->assertInstanceOf(ThrottleKitException::class, $e);
            $this->assertInstanceOf(\RuntimeException::class, $e);
            $this->assertSame($status, $e->getCode());
        }
        $this->assertTrue(is_subclass_of(LibraryException::class, ThrottleKitException::class));
    }

    public function testBadOptionsFailAtConstruction(): void
    {
        $bad = [['nope' => 1], ['timeout_ms' => -1], ['timeout_ms' => '5'], ['fail_mode' => 'sometimes'],
            ['fail_mode' => 7], ['auto_pipeline' => 1], ['key_namespace' => 5], ['auth_token' => "a\0b"],
            ['lib' => []]];
        foreach ($bad as $options) {
            try {
                Client::redis('redis://127.0.0.1:1', "limiters: {}\n", $options);
                $this->fail('accepted ' . json_encode($options));
            } catch (InvalidArgumentException $e) {
                $this->assertNotSame('', $e->getMessage());
            }
            try {
                Client::service('127.0.0.1:1', $options);
                $this->fail('accepted ' . json_encode($options));
            } catch (InvalidArgumentException) {
            }
        }
        foreach ([fn () => Client::redis("redis://x\0", ''), fn () => Client::redis('redis://x', "a\0"),
                     fn () => Client::service("h\0:1")] as $call) {
            try {
                $call();
                $this->fail('a NUL byte was accepted');
            } catch (InvalidArgumentException) {
            }
        }
        $ok = Client::redis('redis://127.0.0.1:1', '', ['fail_mode' => null, 'timeout_ms' => 0, 'auto_pipeline' => false]);
        $ok->close();
        $this->addToAssertionCount(1);
    }

    public function testLibraryNotFoundSaysWhereItLooked(): void
    {
        $c = Client::redis('redis://127.0.0.1:1', '', ['lib' => '/nonexistent/libthrottlekit.so']);
        try {
            $c->check('api', 'k');
            $this->fail('loaded a missing library');
        } catch (LibraryException $e) {
            $this->assertStringContainsString('/nonexistent/libthrottlekit.so', $e->getMessage());
            $this->assertStringContainsString("the 'lib' option", $e->getMessage());
        }
        $c->close();

        // THROTTLEKIT_LIB, then the system path: in a child PHP with a controlled environment.
        $script = '<?php require ' . var_export(dirname(__DIR__) . '/autoload.php', true) . ';'
            . ' try { ThrottleKit\Client::libraryVersion(); echo "loaded"; }'
            . ' catch (ThrottleKit\Exception\LibraryException $e) { echo $e->getMessage(); }';
        $env = ['PATH' => getenv('PATH'), 'THROTTLEKIT_LIB' => '/nowhere/libthrottlekit.so', 'LD_LIBRARY_PATH' => '/nonexistent'];
        $this->assertStringContainsString('/nowhere/libthrottlekit.so (THROTTLEKIT_LIB)', $this->runPhp($script, $env));
        unset($env['THROTTLEKIT_LIB']);
        $out = $this->runPhp($script, $env);
        if ($out !== 'loaded') { // libthrottlekit may be installed system-wide
            $this->assertStringContainsString('libthrottlekit.so.0 (the system library path)', $out);
            $this->assertStringContainsString('libthrottlekit.so (the system library path)', $out);
            $this->assertStringContainsString('THROTTLEKIT_LIB', $out);
        }
        $env['THROTTLEKIT_LIB'] = TestEnv::lib($this);
        $this->assertSame('loaded', $this->runPhp($script, $env));
        $env['THROTTLEKIT_FFI_HEADER'] = '/nonexistent.h';
        $this->assertStringContainsString('ffi-header', $this->runPhp($script, $env));
    }

    public function testMissingFfiIsALibraryException(): void
    {
        $script = '<?php require ' . var_export(dirname(__DIR__) . '/autoload.php', true) . ';'
            . ' try { ThrottleKit\Client::libraryVersion(); echo "loaded"; }'
            . ' catch (ThrottleKit\Exception\LibraryException $e) { echo $e->getMessage(); }';
        $out = $this->runPhp($script, ['PATH' => getenv('PATH'), 'THROTTLEKIT_LIB' => TestEnv::lib($this)],
            ['-d', 'ffi.enable=0']);
        $this->assertStringContainsString('ffi.enable', $out);
    }

    public function testDeadRedis(): void
    {
        $lib = TestEnv::lib($this);
        $port = $this->closedPort();
        $yaml = "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n";
        $c = Client::redis("redis://127.0.0.1:$port/0", $yaml, ['lib' => $lib, 'timeout_ms' => 300]);
        $t0 = microtime(true);
        try {
            $c->check('api', 'k');
            $this->fail('a dead Redis answered');
        } catch (UnavailableException $e) {
            $this->assertSame(-5, $e->getCode());
            $this->assertLessThan(2.0, microtime(true) - $t0);
        }
        $open = Client::redis("redis://127.0.0.1:$port/0", $yaml, ['lib' => $lib, 'timeout_ms' => 300, 'fail_mode' => 'open']);
        $d = $open->check('api', 'k');
        $this->assertTrue($d->allowed && $d->synthesized);
        $this->assertSame(0, $d->resetAtMs);
        $closed = Client::redis("redis://127.0.0.1:$port/0", $yaml, ['lib' => $lib, 'timeout_ms' => 300, 'fail_mode' => 'closed']);
        $d = $closed->check('api', 'k', 1, 1000);
        $this->assertTrue(!$d->allowed && $d->synthesized);
        $ds = $closed->checkMany('api', ['a', 'b']);
        $this->assertCount(2, $ds);
        // check_all under a fail mode: each item gets its own policy's synthesized decision.
        $r = $open->checkAll([['api', 'a'], ['api', 'b', 2]]);
        $this->assertTrue($r->allowed);
        $this->assertSame([[true, true], [true, true]], array_map(static fn ($d) => [$d->allowed, $d->synthesized], $r->decisions));
        $r = $closed->checkAll([['api', 'a'], ['api', 'b']]);
        $this->assertFalse($r->allowed);
        $this->assertSame([0, 1], $r->deniedIndexes());
        $this->assertSame([true, true], array_map(static fn ($d) => $d->synthesized, $r->decisions));
    }

    public function testSilentRedisTimesOut(): void
    {
        $lib = TestEnv::lib($this);
        $listener = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
        $this->assertNotFalse($listener, $errstr);
        $addr = stream_socket_get_name($listener, false); // accepts (backlog), never answers
        $c = Client::redis("redis://$addr/0", "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n",
            ['lib' => $lib, 'timeout_ms' => 300]);
        $t0 = microtime(true);
        try {
            $c->check('api', 'k');
            $this->fail('a silent Redis answered');
        } catch (TimeoutException $e) {
            $this->assertSame(-6, $e->getCode());
        }
        $this->assertLessThan(2.0, microtime(true) - $t0);
        fclose($listener);
    }

    public function testRedisAuthRefused(): void
    {
        $url = TestEnv::redisUrl($this);
        $parts = parse_url($url);
        $authUrl = sprintf('redis://nosuchuser-%s:secret-pw@%s:%d/0', bin2hex(random_bytes(3)), $parts['host'], $parts['port'] ?? 6379);
        $c = Client::redis($authUrl, "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n",
            ['lib' => TestEnv::lib($this), 'timeout_ms' => 2000]);
        try {
            $c->check('api', 'k');
            $this->fail('a wrong password was accepted');
        } catch (AuthException $e) {
            $this->assertSame(-10, $e->getCode());
            $this->assertStringNotContainsString('secret-pw', $e->getMessage());
        }
    }

    private function closedPort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /** Runs PHP code in a child process; returns its stdout. */
    private function runPhp(string $code, array $env, array $flags = []): string
    {
        $file = tempnam(sys_get_temp_dir(), 'tkphp') . '.php';
        file_put_contents($file, $code);
        $cmd = array_merge(TestEnv::phpCommand(), $flags, [$file]);
        if ($flags !== []) { // a later -d overrides the earlier one
            $cmd = array_merge([PHP_BINARY], $flags, [$file]);
        }
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        proc_close($p);
        unlink($file);
        return trim($out . $err);
    }
}
