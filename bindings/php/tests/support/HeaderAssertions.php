<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

/** Checks the RateLimit fields of served responses (lower-case header names) per style. */
trait HeaderAssertions
{
    private const FIELDS = [
        'ietf' => ['ratelimit-policy', 'ratelimit'],
        'triple' => ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
        'legacy' => ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    ];

    /**
     * $responses: limit + 1 answers of a fresh key of a fixedWindow policy $policy (limit
     * $limit, window $windowS seconds) in $style: $limit passes then a 429, each with exactly
     * the style's fields, and Retry-After on the 429 unless off.
     *
     * @param list<array{0: int, 1: array<string, string>, 2: string}> $responses
     */
    private function assertStyleRun(array $responses, string $style, string $policy = 'api', int $limit = 3, int $windowS = 3600): void
    {
        $epoch = time();
        foreach ($responses as $i => [$status, $h, $body]) {
            $what = "$style, response $i: " . json_encode($h) . ' ' . substr($body, 0, 300);
            $denied = $i >= $limit;
            self::assertSame($denied ? 429 : 200, $status, $what);
            $remaining = max(0, $limit - $i - 1);
            $want = in_array($style, ['ietf', 'all'], true) ? self::FIELDS['ietf'] : [];
            $want = array_merge($want, in_array($style, ['triple', 'all'], true) ? self::FIELDS['triple'] : [],
                in_array($style, ['legacy', 'all'], true) ? self::FIELDS['legacy'] : []);
            foreach (array_merge(...array_values(self::FIELDS)) as $field) {
                self::assertSame(in_array($field, $want, true), isset($h[$field]), "$field present? $what");
            }
            if (isset($h['ratelimit-policy'])) {
                self::assertSame("\"$policy\";q=$limit;w=$windowS", $h['ratelimit-policy'], $what);
                self::assertMatchesRegularExpression("/^\"$policy\";r=$remaining;t=\\d+$/", $h['ratelimit'], $what);
            }
            if (isset($h['ratelimit-limit'])) {
                self::assertSame([(string) $limit, (string) $remaining], [$h['ratelimit-limit'], $h['ratelimit-remaining']], $what);
                self::assertLessThanOrEqual($windowS, (int) $h['ratelimit-reset'], $what);
            }
            if (isset($h['x-ratelimit-limit'])) {
                self::assertSame([(string) $limit, (string) $remaining], [$h['x-ratelimit-limit'], $h['x-ratelimit-remaining']], $what);
                self::assertGreaterThanOrEqual($epoch, (int) $h['x-ratelimit-reset'], $what);
                self::assertLessThanOrEqual($epoch + $windowS + 2, (int) $h['x-ratelimit-reset'], $what);
            }
            self::assertSame($denied && $style !== 'off', isset($h['retry-after']), "retry-after present? $what");
            if (isset($h['retry-after'])) {
                self::assertGreaterThanOrEqual(1, (int) $h['retry-after'], $what);
                self::assertLessThanOrEqual($windowS, (int) $h['retry-after'], $what);
            }
        }
    }
}
