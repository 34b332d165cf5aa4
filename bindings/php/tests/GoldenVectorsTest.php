<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;
use ThrottleKit\Client;

/**
 * Every rateLimit and tokenBudget golden vector through the Redis door at an explicit clock
 * (offsets: 1,000 ms for rateLimit, 3,600,000 ms for tokenBudget; resetAt shifted alike).
 * A key's TTL runs in real time, so a suite that mismatches is replayed once more on a fresh
 * key before the assertions (a real bug fails both times), as tests/c/test_golden.c does.
 */
final class GoldenVectorsTest extends TestCase
{
    private const RATE_LIMIT_OFFSET = 1000;
    private const TOKEN_BUDGET_OFFSET = 3600000;

    public function testEverySuiteReplaysBitForBit(): void
    {
        $lib = TestEnv::lib($this);
        $url = TestEnv::redisUrl($this);
        $doc = json_decode((string) file_get_contents(TestEnv::goldenVectors($this)), true, 512, JSON_THROW_ON_ERROR);
        $counts = ['rateLimit' => 0, 'tokenBudget' => 0];
        $ops = 0;
        foreach ($doc['suites'] as $suite) {
            $kind = $suite['primitive'];
            if (!isset($counts[$kind])) {
                continue; // lease suites: not part of this API
            }
            $counts[$kind]++;
            $mismatch = $this->replay($lib, $url, $suite, 0);
            if ($mismatch !== null) {
                fwrite(STDERR, "suite {$suite['name']} mismatched ($mismatch); replaying it again\n");
                $mismatch = $this->replay($lib, $url, $suite, 1);
            }
            $this->assertNull($mismatch, "suite {$suite['name']}");
            $ops += count($suite['ops']);
        }
        $this->assertGreaterThanOrEqual(1, $counts['rateLimit']);
        $this->assertGreaterThanOrEqual(1, $counts['tokenBudget']);
        $this->assertGreaterThan(50, $ops);
    }

    /** Replays one suite on a fresh key; null when every field matched, else the first difference. */
    private function replay(string $lib, string $url, array $suite, int $attempt): ?string
    {
        $budget = $suite['primitive'] === 'tokenBudget';
        if ($budget) {
            $yaml = sprintf("limiters:\n  p:\n    tokenBudget: { budget: %d, windowMs: %d }\n",
                $suite['options']['budget'], $suite['options']['windowMs']);
        } else {
            $opts = '';
            foreach ($suite['strategy']['options'] as $name => $value) {
                $opts .= ", $name: " . json_encode($value);
            }
            $yaml = "limiters:\n  p: { strategy: {$suite['strategy']['kind']}$opts }\n";
        }
        $client = Client::redis($url, $yaml, ['lib' => $lib, 'key_namespace' => TestEnv::namespace('golden'),
            'timeout_ms' => 2000]);
        $key = $suite['name'] . '/' . ($suite['key'] ?? 'k') . "/$attempt";
        $offset = $budget ? self::TOKEN_BUDGET_OFFSET : self::RATE_LIMIT_OFFSET;
        foreach ($suite['ops'] as $i => $op) {
            $d = $budget
                ? $client->debit('p', $key, $op['tokens'], $op['now'] + $offset)
                : $client->check('p', $key, $op['cost'], $op['now'] + $offset);
            $e = $op['expect'];
            $got = [$d->allowed, $d->limit, $d->remaining, $d->resetAtMs, $d->retryAfterMs, $d->synthesized];
            $want = [$e['allowed'], $e['limit'], $e['remaining'], $e['resetAt'] + $offset, $e['retryAfterMs'], false];
            if ($got !== $want) {
                return "op #$i: got " . json_encode($got) . ', want ' . json_encode($want);
            }
        }
        $client->close();
        return null;
    }
}
