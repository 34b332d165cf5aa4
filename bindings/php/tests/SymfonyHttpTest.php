<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * A Symfony 5.4 app (FrameworkBundle, tests/apps/symfony) whose limiters are ThrottleKit's by
 * configuration only (config/services.yaml), served by `php -S` with two forked workers
 * (PHP_CLI_SERVER_WORKERS), over the Redis door: every header style, and the
 * LimiterInterface semantics through HTTP (consume, reserve with and without maxTime, more
 * tokens than the limit, reset, consume(0)).
 */
final class SymfonyHttpTest extends TestCase
{
    use HeaderAssertions;

    private static ?HttpApp $app = null;

    protected function setUp(): void
    {
        Frameworks::load($this, 'psr-log', 'symfony-rate-limiter', 'symfony-framework', 'symfony-yaml');
        $env = ['THROTTLEKIT_REDIS_URL' => TestEnv::redisUrl($this), 'THROTTLEKIT_LIB' => TestEnv::lib($this),
            'TK_APP_NS' => TestEnv::namespace('symfony')];
        self::$app ??= HttpApp::cliServer(__DIR__ . '/apps/symfony/public/index.php', $env, 2);
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
            $responses[] = self::$app->request('GET', "/$style/api");
        }
        $this->assertStyleRun($responses, $style);
    }

    /** @return array<string, mixed> */
    private static function json(string $path, int $status): array
    {
        [$got, , $body] = self::$app->request('GET', $path);
        self::assertSame($status, $got, $body);
        return json_decode($body, true, 512, JSON_THROW_ON_ERROR);
    }

    public function testConsume(): void
    {
        $a = self::json('/fast/consume?key=c', 200);
        self::assertSame([true, 0, 1, 'ThrottleKit\\Symfony\\RateLimit'], [$a['accepted'], $a['remaining'], $a['limit'], $a['class']]);
        self::assertEqualsWithDelta($a['now'], $a['retryAfter'], 0.5, 'accepted: retry after now');
        $d = self::json('/fast/consume?key=c', 429);
        self::assertFalse($d['accepted']);
        self::assertGreaterThan($d['now'], $d['retryAfter'], 'refused: retry after a future instant');
        self::assertLessThanOrEqual($d['now'] + 1.01, $d['retryAfter']);
        $peek = self::json('/fast/consume?key=c&n=0', 200);
        self::assertSame([true, 0], [$peek['accepted'], $peek['remaining']], 'consume(0) consumes nothing');
    }

    public function testReserve(): void
    {
        self::assertTrue(self::json('/fast/reserve?key=r', 200)['accepted'], 'free now: reserved at once');
        $e = self::json('/fast/reserve?key=r&max=0.05', 429);
        self::assertTrue($e['exceeded'], 'MaxWaitDurationExceededException');
        self::assertFalse($e['accepted']);
        self::assertGreaterThan($e['now'], $e['retryAfter']);
        $r = self::json('/fast/reserve?key=r&max=3', 200);
        self::assertTrue($r['accepted']);
        self::assertSame(0, $r['waitDuration'], 'the reservation is due when returned');
        self::assertGreaterThan(0.3, $r['tookS'], 'reserve() waited for the unit');
        self::assertFalse(self::json('/fast/consume?key=r', 429)['accepted'], 'the reservation holds the unit');
        self::assertStringContainsString('than the limit', self::json('/fast/reserve?key=r&n=2', 400)['invalid']);
    }

    public function testReset(): void
    {
        self::json('/fast/consume?key=z', 200);
        self::json('/fast/consume?key=z', 429);
        [$status] = self::$app->request('GET', '/fast/reset?key=z');
        self::assertSame(204, $status);
        self::assertTrue(self::json('/fast/consume?key=z', 200)['accepted'], 'full again after reset()');
    }

    public function testShadowDenialsPassAndAreLogged(): void
    {
        for ($i = 0; $i < 3; $i++) {
            self::assertSame([200, "ok\n"], [self::$app->request('GET', '/shadow')[0], self::$app->request('GET', '/shadow')[2] ?? '']);
        }
        $log = (string) @file_get_contents(self::$app->dir() . '/shadow.log');
        self::assertSame(5, substr_count($log, 'throttlekit: shadow policy shadow would have denied'), $log);
    }
}
