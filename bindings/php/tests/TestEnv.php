<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Where the tests find their dependencies. A missing one skips the tests that need it, or
 * fails them when CI=true (as the Go and C suites do); the golden vectors are part of the
 * repository, so missing vectors always fail.
 *
 *   THROTTLEKIT_LIB              default <repo>/build/lib/libthrottlekit.so
 *   THROTTLEKIT_REDIS_URL        e.g. redis://127.0.0.1:6379/0 (keys only under a random namespace)
 *   THROTTLEKIT_SERVER           default <repo>/build/bin/throttlekit-server
 *   THROTTLEKIT_GOLDEN_VECTORS   default <repo>/contract/golden-vectors.json (the vendored copy)
 */
final class TestEnv
{
    public static function repoRoot(): string
    {
        return dirname(__DIR__, 3);
    }

    public static function missing(TestCase $tc, string $what): never
    {
        if (getenv('CI') === 'true') {
            TestCase::fail("$what, and CI=true");
        }
        TestCase::markTestSkipped($what);
    }

    public static function lib(TestCase $tc): string
    {
        $env = getenv('THROTTLEKIT_LIB');
        $path = is_string($env) && $env !== '' ? $env : self::repoRoot() . '/build/lib/libthrottlekit.so';
        if (!is_file($path)) {
            self::missing($tc, "libthrottlekit is missing at $path (run make lib, or set THROTTLEKIT_LIB)");
        }
        return $path;
    }

    public static function redisUrl(TestCase $tc): string
    {
        $url = getenv('THROTTLEKIT_REDIS_URL');
        if (!is_string($url) || $url === '') {
            self::missing($tc, 'THROTTLEKIT_REDIS_URL is not set: the Redis-door tests need a redis-server');
        }
        return $url;
    }

    public static function serverBinary(TestCase $tc): string
    {
        $env = getenv('THROTTLEKIT_SERVER');
        $path = is_string($env) && $env !== '' ? $env : self::repoRoot() . '/build/bin/throttlekit-server';
        if (!is_executable($path)) {
            self::missing($tc, "the server binary $path is missing (run make server, or set THROTTLEKIT_SERVER)");
        }
        return $path;
    }

    public static function goldenVectors(TestCase $tc): string
    {
        $env = getenv('THROTTLEKIT_GOLDEN_VECTORS');
        $path = is_string($env) && $env !== '' ? $env : self::repoRoot() . '/contract/golden-vectors.json';
        if (!is_readable($path)) {
            TestCase::fail("the golden vectors $path are not readable");
        }
        return $path;
    }

    /** A key namespace unique to this run (and process). */
    public static function namespace(string $what): string
    {
        static $run = null;
        $run ??= bin2hex(random_bytes(6));
        return "tkphp-test-$run-" . getmypid() . "-$what";
    }

    /** The PHP binary and the flags a child PHP process needs. */
    public static function phpCommand(): array
    {
        return [PHP_BINARY, '-d', 'ffi.enable=1', '-d', 'display_errors=stderr'];
    }
}
