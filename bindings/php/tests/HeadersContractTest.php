<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Decision;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Http\Headers;
use ThrottleKit\Http\HeaderStyle;

/**
 * ThrottleKit\Http\Headers replays contract/rate-limit-headers.json (the cases the C helper,
 * Ruby and nginx replay too): every expected header is written with its value, and nothing else.
 */
final class HeadersContractTest extends TestCase
{
    /** @return iterable<string, array{array<string, mixed>}> */
    public static function cases(): iterable
    {
        $path = TestEnv::repoRoot() . '/contract/rate-limit-headers.json';
        $doc = json_decode((string) file_get_contents($path), true, 512, JSON_THROW_ON_ERROR);
        foreach ($doc['cases'] as $case) {
            yield $case['name'] => [$case];
        }
    }

    /** @dataProvider cases */
    public function testContractCase(array $case): void
    {
        $d = $case['decision'];
        $decision = new Decision($d['allowed'], $d['limit'], $d['remaining'], $d['resetAtMs'], $d['retryAfterMs'],
            $d['synthesized'], windowMs: $d['windowMs']);
        $got = Headers::forDecision($case['policy'], $decision, $case['style'], $case['nowMs']);
        $want = $case['headers'];
        $lower = static fn (array $h): array => array_change_key_case($h, CASE_LOWER);
        self::assertCount(count($want), $got, 'the number of headers');
        foreach ($lower($want) as $name => $value) {
            self::assertArrayHasKey($name, $lower($got), "$name missing");
            self::assertSame($value, $lower($got)[$name], "$name");
        }
        foreach (array_keys($lower($got)) as $name) {
            self::assertArrayHasKey($name, $lower($want), "$name written, not expected");
        }
    }

    public function testContractCoversEveryStyle(): void
    {
        $styles = array_unique(array_map(static fn (array $c): string => $c[0]['style'], iterator_to_array(self::cases())));
        sort($styles);
        self::assertSame(['all', 'ietf', 'legacy', 'off', 'triple'], $styles);
    }

    public function testSeveralDecisions(): void
    {
        $now = 1_700_000_000_000;
        $ip = new Decision(true, 10, 3, $now + 5_000, 0, windowMs: 10_000);
        $acct = new Decision(true, 100, 3, $now + 60_000, 0, windowMs: 60_000);
        $day = new Decision(false, 5, 0, $now + 3_600_000, 7_200, windowMs: 86_400_000);
        $down = new Decision(false, 0, 0, 0, 0, true);
        $pairs = [['ip', $ip], ['acct', $acct], ['day', $day], ['down', $down]];
        self::assertSame([
            'RateLimit-Policy' => '"ip";q=10;w=10, "acct";q=100;w=60, "day";q=5;w=86400',
            'RateLimit' => '"ip";r=3;t=5, "acct";r=3;t=60, "day";r=0;t=3600',
            'RateLimit-Limit' => '5',
            'RateLimit-Remaining' => '0',
            'RateLimit-Reset' => '3600',
            'X-RateLimit-Limit' => '5',
            'X-RateLimit-Remaining' => '0',
            'X-RateLimit-Reset' => '1700003600',
            'Retry-After' => '8',
        ], Headers::forDecisions($pairs, HeaderStyle::All, $now));
        // the first of equals: ip and acct both leave 3
        self::assertSame(['RateLimit-Limit' => '10', 'RateLimit-Remaining' => '3', 'RateLimit-Reset' => '5'],
            Headers::forDecisions(['ip' => $ip, 'acct' => $acct], 'triple', $now));
        self::assertSame([], Headers::forDecisions($pairs, 'off', $now));
    }

    public function testStyleWords(): void
    {
        self::assertSame(HeaderStyle::Triple, HeaderStyle::of('TRIPLE'));
        self::assertSame(HeaderStyle::Ietf, HeaderStyle::of(HeaderStyle::Ietf));
        $this->expectException(InvalidArgumentException::class);
        HeaderStyle::of('rfc');
    }
}
