<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * A Laravel 8 app (tests/apps/laravel: ThrottleKitServiceProvider, the `throttlekit` route
 * middleware, ThrottleKit's RateLimiter bound for Laravel's) served by php-fpm with three
 * forked workers, preloaded as in production (ffi.enable=preload, opcache.preload =
 * preload.php), spoken to over FastCGI; the Redis door, so every worker shares the limits.
 */
final class LaravelFpmTest extends TestCase
{
    use HeaderAssertions;

    private static ?HttpApp $app = null;

    protected function setUp(): void
    {
        Frameworks::load($this, 'laravel');
        $env = ['THROTTLEKIT_REDIS_URL' => TestEnv::redisUrl($this), 'THROTTLEKIT_LIB' => TestEnv::lib($this),
            'TK_APP_NS' => TestEnv::namespace('laravel')];
        self::$app ??= HttpApp::fpm(Frameworks::phpFpm($this), __DIR__ . '/apps/laravel/public/index.php', $env, 3);
    }

    public static function tearDownAfterClass(): void
    {
        self::$app?->stop();
        self::$app = null;
    }

    /** @return iterable<string, array{string}> */
    public static function styles(): iterable
    {
        foreach (['ietf', 'triple', 'legacy', 'all', 'off'] as $s) {
            yield $s => [$s];
        }
    }

    /** @dataProvider styles */
    public function testStyle(string $style): void
    {
        $responses = [];
        for ($i = 0; $i < 4; $i++) {
            $responses[] = self::$app->request('GET', "/$style/api", ['X-Client' => "style-$style"]);
        }
        $this->assertStyleRun($responses, $style);
    }

    public function testConfiguredDefaultStyleIsIetf(): void
    {
        $responses = [];
        for ($i = 0; $i < 4; $i++) {
            $responses[] = self::$app->request('GET', '/default/api', ['X-Client' => 'default']);
        }
        $this->assertStyleRun($responses, 'ietf');
    }

    public function testWorkersShareOneLimit(): void
    {
        $burst = array_fill(0, 12, ['GET', '/triple/api', ['X-Client' => 'burst']]);
        $responses = self::$app->requests($burst);
        $statuses = array_count_values(array_map(static fn (array $r): int => $r[0], $responses));
        ksort($statuses);
        self::assertSame([200 => 3, 429 => 9], $statuses, self::$app->log());
        $pids = array_unique(array_map(static fn (array $r): string => $r[1]['x-worker-pid'] ?? '?', $responses));
        self::assertGreaterThanOrEqual(2, count($pids), 'answered by several forked workers: ' . implode(',', $pids));
        self::assertNotContains('?', $pids);
    }

    public function testLaravelsThrottleMiddlewareCountsInThrottleKit(): void
    {
        $statuses = [];
        for ($i = 0; $i < 4; $i++) {
            [$status, $h] = self::$app->request('GET', '/laravel-throttle');
            $statuses[] = $status;
            self::assertSame('3', $h['x-ratelimit-limit'] ?? null, 'the policy api allows 3');
        }
        self::assertSame([200, 200, 200, 429], $statuses);
        self::assertArrayHasKey('retry-after', $h);
    }

    /** @return mixed */
    private static function limiter(string $op, string $key, int $max = 3)
    {
        [$status, , $body] = self::$app->request('GET', "/limiter/$op?key=$key&max=$max");
        self::assertSame(200, $status, $body);
        return json_decode($body, true, 512, JSON_THROW_ON_ERROR)['result'];
    }

    public function testRateLimiterApi(): void
    {
        $k = 'rl-' . bin2hex(random_bytes(4));
        self::assertSame('ThrottleKit\\Laravel\\RateLimiter', self::limiter('class', $k));
        self::assertSame(0, self::limiter('attempts', $k));
        self::assertSame(1, self::limiter('hit', $k));
        self::assertSame(2, self::limiter('hit', $k));
        self::assertSame(2, self::limiter('attempts', $k));
        self::assertFalse(self::limiter('too-many', $k));
        self::assertTrue(self::limiter('too-many', $k, 2), 'a lower $maxAttempts counts too');
        self::assertSame(1, self::limiter('remaining', $k));
        self::assertSame('ran', self::limiter('attempt', $k));
        self::assertTrue(self::limiter('too-many', $k));
        self::assertSame(0, self::limiter('remaining', $k));
        self::assertFalse(self::limiter('attempt', $k), 'the callback does not run when limited');
        $in = self::limiter('available-in', $k);
        self::assertGreaterThanOrEqual(1, $in);
        self::assertLessThanOrEqual(3600, $in);
        self::limiter('clear', $k);
        self::assertSame(0, self::limiter('attempts', $k));
        self::assertFalse(self::limiter('too-many', $k));
    }

    public function testShadowDenialsPassAndAreLogged(): void
    {
        $responses = self::$app->requests(array_fill(0, 3, ['GET', '/shadow']));
        self::assertSame([200, 200, 200], array_map(static fn (array $r): int => $r[0], $responses));
        $log = (string) @file_get_contents(self::$app->dir() . '/laravel.log');
        self::assertSame(2, substr_count($log, 'throttlekit: shadow policy shadow would have denied key 127.0.0.1'), $log);
    }
}
