<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * A PSR-15 stack (tests/apps/psr15) served by `php -S`, limiting over the Redis door: every
 * header style on passes and on the 429, Retry-After, and the shadow log.
 */
final class Psr15HttpTest extends TestCase
{
    use HeaderAssertions;

    private static ?HttpApp $app = null;

    protected function setUp(): void
    {
        Frameworks::load($this, 'psr7', 'psr-log');
        $env = ['THROTTLEKIT_REDIS_URL' => TestEnv::redisUrl($this), 'THROTTLEKIT_LIB' => TestEnv::lib($this),
            'TK_APP_NS' => TestEnv::namespace('psr15')];
        self::$app ??= HttpApp::cliServer(__DIR__ . '/apps/psr15/index.php', $env);
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
        self::assertSame('2', $responses[0][1]['x-remaining-seen'], 'the handler sees the Decision attribute');
        self::assertStringStartsWith('Too Many Requests', $responses[3][2]);
    }

    public function testShadowDenialsPassAndAreLogged(): void
    {
        $statuses = [];
        for ($i = 0; $i < 3; $i++) {
            $statuses[] = self::$app->request('GET', '/shadow')[0];
        }
        self::assertSame([200, 200, 200], $statuses);
        $log = (string) @file_get_contents(self::$app->dir() . '/shadow.log');
        self::assertSame(2, substr_count($log, 'throttlekit: shadow policy shadow would have denied key 127.0.0.1'), $log);
    }
}
