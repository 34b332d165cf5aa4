<?php
/*
 * Checks per second from one PHP process (Client::check, Redis door) beside the C ABI from
 * one thread (build/capi_bench ... check 1 SECONDS), in alternating turns on the same Redis,
 * and their ratio (target: PHP >= 0.8x C). The same work as capi_bench: a generous gcra policy
 * over 1,000 keys, every call a Redis round trip. Every call is also timed (hrtime, into an
 * array filled before the clock starts), and each side's p50 and p99 printed beside its
 * throughput, then all of it again as a markdown table (scripts/bench-report.sh collects it).
 * Then the same pair on a leased two-tier policy (the gcra fronted by `twoTier: { mode: leased,
 * batch: 1000 }`: one script call per 1,000 checks of a key, the rest local), listed without a
 * target.
 *
 *   php -d ffi.enable=1 bindings/php/bench/bench.php REDIS_URL [SECONDS_PER_TURN] [TURNS]
 *   env: THROTTLEKIT_LIB (default build/lib/libthrottlekit.so), CAPI_BENCH (default build/capi_bench)
 */
declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

use ThrottleKit\Client;

$root = dirname(__DIR__, 3);
$url = $argv[1] ?? getenv('THROTTLEKIT_REDIS_URL') ?: '';
$seconds = (float) ($argv[2] ?? 3);
$turns = (int) ($argv[3] ?? 3);
if ($url === '' || $seconds <= 0 || $turns < 1) {
    fwrite(STDERR, "usage: bench.php REDIS_URL [SECONDS_PER_TURN] [TURNS]\n");
    exit(2);
}
$lib = getenv('THROTTLEKIT_LIB') ?: "$root/build/lib/libthrottlekit.so";
$capi = getenv('CAPI_BENCH') ?: "$root/build/capi_bench";
if (!is_executable($capi)) {
    fwrite(STDERR, "$capi is missing: make build/capi_bench\n");
    exit(2);
}

$client = Client::redis($url,
    "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-php }\n"
    . "  leased: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-php-leased,\n"
    . "            twoTier: { mode: leased, batch: 1000 } }\n",
    ['lib' => $lib, 'timeout_ms' => 2000]);
$keys = [];
for ($i = 0; $i < 1000; $i++) {
    $keys[] = "user-$i";
}

const MAX_SAMPLES = 1 << 20; // latencies kept per turn; past it the array wraps around

/** p50 and p99 (nearest rank below, as the Go benches read them) of the first $n of $lat. */
function percentiles(array $lat, int $n): array
{
    if ($n === 0) {
        return [0, 0];
    }
    $kept = array_slice($lat, 0, $n);
    sort($kept);
    return [$kept[(int) (0.50 * ($n - 1))], $kept[(int) (0.99 * ($n - 1))]];
}

/** One turn: [checks/s, p50 ns, p99 ns]. */
function php_turn(Client $client, array $keys, float $seconds, string $policy = 'api'): array
{
    $lat = array_fill(0, MAX_SAMPLES, 0);
    $n = 0;
    $start = hrtime(true);
    $deadline = $start + (int) ($seconds * 1e9);
    do {
        for ($i = 0; $i < 100; $i++) { // check the deadline every 100 calls
            $t0 = hrtime(true);
            $client->check($policy, $keys[($n * 7919) % 1000]);
            $lat[$n % MAX_SAMPLES] = hrtime(true) - $t0;
            $n++;
        }
    } while (hrtime(true) < $deadline);
    $ops = $n / ((hrtime(true) - $start) / 1e9);
    return [$ops, ...percentiles($lat, min($n, MAX_SAMPLES))];
}

/** One capi_bench run: [checks/s, p50 ns, p99 ns] from its two lines. */
function c_turn(string $capi, string $url, float $seconds, string $mode = 'check'): array
{
    $out = shell_exec(escapeshellarg($capi) . ' ' . escapeshellarg($url) . ' ' . escapeshellarg($mode) . ' 1 '
        . escapeshellarg((string) $seconds));
    $lines = is_string($out) ? explode("\n", trim($out)) : [''];
    if (!is_numeric(trim($lines[0]))
        || !preg_match('/^latency_ns p50=(\d+) p99=(\d+)/', $lines[1] ?? '', $m)) {
        fwrite(STDERR, "capi_bench failed: " . var_export($out, true) . "\n");
        exit(1);
    }
    return [(float) trim($lines[0]), (float) $m[1], (float) $m[2]];
}

function med(array $xs): float
{
    sort($xs);
    return (float) $xs[intdiv(count($xs), 2)];
}

function us(float $ns): string
{
    return $ns >= 1e6 ? sprintf('%.2f ms', $ns / 1e6) : sprintf('%.1f µs', $ns / 1e3);
}

php_turn($client, $keys, 0.3); // warm-up: open the handle, the connection, the script cache
$php = [];
$c = [];
for ($t = 0; $t < $turns; $t++) {
    $c[] = c_turn($capi, $url, $seconds);
    $php[] = php_turn($client, $keys, $seconds);
}
// Medians over the turns, each column apart.
$col = static fn (array $turns, int $i): array => array_map(static fn ($t) => $t[$i], $turns);
[$medC, $p50C, $p99C] = [med($col($c, 0)), med($col($c, 1)), med($col($c, 2))];
[$medPhp, $p50Php, $p99Php] = [med($col($php, 0)), med($col($php, 1)), med($col($php, 2))];
printf("C ABI (1 thread):   %8.0f checks/s  (turns: %s)\n", $medC, implode(', ', array_map(static fn ($v) => round($v), $col($c, 0))));
printf("PHP FFI (1 process): %7.0f checks/s  (turns: %s)\n", $medPhp, implode(', ', array_map(static fn ($v) => round($v), $col($php, 0))));
printf("PHP / C: %.2fx (target >= 0.80x; medians of %d alternating turns of %.1f s)\n", $medPhp / $medC, $turns, $seconds);
printf("latency per check, p50 / p99: C %s / %s, PHP %s / %s\n", us($p50C), us($p99C), us($p50Php), us($p99Php));
printf("\n#### PHP (FFI, one process) vs C (tk_check, one thread), Redis door (PHP %s, median of %d turns of %.1f s)\n\n",
    PHP_VERSION, $turns, $seconds);
echo "| language | checks/s | p50 | p99 | vs C |\n| --- | ---: | ---: | ---: | ---: |\n";
printf("| C | %.0f/s | %s | %s | 1.00x |\n", $medC, us($p50C), us($p99C));
printf("| PHP | %.0f/s | %s | %s | %.2fx |\n", $medPhp, us($p50Php), us($p99Php), $medPhp / $medC);

// The leased policy: the same turns, after a warm-up that takes every key's first lease.
php_turn($client, $keys, 0.3, 'leased');
$phpL = [];
$cL = [];
for ($t = 0; $t < $turns; $t++) {
    $cL[] = c_turn($capi, $url, $seconds, 'leased');
    $phpL[] = php_turn($client, $keys, $seconds, 'leased');
}
[$medCL, $p50CL, $p99CL] = [med($col($cL, 0)), med($col($cL, 1)), med($col($cL, 2))];
[$medPhpL, $p50PhpL, $p99PhpL] = [med($col($phpL, 0)), med($col($phpL, 1)), med($col($phpL, 2))];
printf("\nleased policy (two-tier, batch 1,000): PHP %.0f checks/s, C (1 thread) %.0f checks/s, PHP / C %.2fx; "
    . "PHP leased / PHP plain %.2fx (listed, no target)\n", $medPhpL, $medCL, $medPhpL / $medCL, $medPhpL / $medPhp);
printf("\n#### PHP (FFI, one process) vs C (tk_check, one thread) on a leased two-tier gcra (batch 1,000) (PHP %s, median of %d turns of %.1f s)\n\n",
    PHP_VERSION, $turns, $seconds);
echo "| language | checks/s | p50 | p99 | vs C | vs the same language on the plain policy |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
printf("| C | %.0f/s | %s | %s | 1.00x | %.2fx |\n", $medCL, us($p50CL), us($p99CL), $medCL / $medC);
printf("| PHP | %.0f/s | %s | %s | %.2fx | %.2fx |\n", $medPhpL, us($p50PhpL), us($p99PhpL), $medPhpL / $medCL, $medPhpL / $medPhp);
$client->close();
