<?php
/*
 * Checks per second from one PHP process (Client::check, Redis door) beside the C ABI from
 * one thread (build/capi_bench ... check 1 SECONDS), in alternating turns on the same Redis,
 * and their ratio (target: PHP >= 0.8x C). The same work as capi_bench: a generous gcra policy
 * over 1,000 keys, every call a Redis round trip.
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
    "limiters:\n  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-php }\n",
    ['lib' => $lib, 'timeout_ms' => 2000]);
$keys = [];
for ($i = 0; $i < 1000; $i++) {
    $keys[] = "user-$i";
}

function php_turn(Client $client, array $keys, float $seconds): float
{
    $n = 0;
    $start = hrtime(true);
    $deadline = $start + (int) ($seconds * 1e9);
    do {
        for ($i = 0; $i < 100; $i++) { // check the clock every 100 calls
            $client->check('api', $keys[($n * 7919) % 1000]);
            $n++;
        }
    } while (hrtime(true) < $deadline);
    return $n / ((hrtime(true) - $start) / 1e9);
}

function c_turn(string $capi, string $url, float $seconds): float
{
    $out = shell_exec(escapeshellarg($capi) . ' ' . escapeshellarg($url) . ' check 1 ' . escapeshellarg((string) $seconds));
    if (!is_string($out) || !is_numeric(trim($out))) {
        fwrite(STDERR, "capi_bench failed: " . var_export($out, true) . "\n");
        exit(1);
    }
    return (float) trim($out);
}

php_turn($client, $keys, 0.3); // warm-up: open the handle, the connection, the script cache
$php = [];
$c = [];
for ($t = 0; $t < $turns; $t++) {
    $c[] = c_turn($capi, $url, $seconds);
    $php[] = php_turn($client, $keys, $seconds);
}
sort($php);
sort($c);
$medPhp = $php[intdiv(count($php), 2)];
$medC = $c[intdiv(count($c), 2)];
printf("C ABI (1 thread):   %8.0f checks/s  (turns: %s)\n", $medC, implode(', ', array_map(static fn ($v) => round($v), $c)));
printf("PHP FFI (1 process): %7.0f checks/s  (turns: %s)\n", $medPhp, implode(', ', array_map(static fn ($v) => round($v), $php)));
printf("PHP / C: %.2fx (target >= 0.80x; medians of %d alternating turns of %.1f s)\n", $medPhp / $medC, $turns, $seconds);
$client->close();
