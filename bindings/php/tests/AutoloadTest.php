<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * The core package needs no framework: in a PHP without /usr/share/php on the include path,
 * autoload.php loads every core class, and preload.php compiles them (leaving the framework
 * integrations out); the integrations load only when used.
 */
final class AutoloadTest extends TestCase
{
    private function runPhp(string $code): array
    {
        $cmd = array_merge(TestEnv::phpCommand(), ['-d', 'include_path=.', '-r', $code]);
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, dirname(__DIR__));
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        return [proc_close($p), $out, $err];
    }

    public function testCoreLoadsWithoutFrameworks(): void
    {
        [$rc, $out, $err] = $this->runPhp('require "autoload.php";'
            . 'foreach (["Client", "ClientInterface", "ClientFactory", "Decision", "Http\\\\Headers", "Http\\\\HeaderStyle",'
            . ' "Http\\\\ShadowLog", "Exception\\\\ExceptionInterface", "Exception\\\\TimeoutException"] as $c) {'
            . ' if (!class_exists("ThrottleKit\\\\$c") && !interface_exists("ThrottleKit\\\\$c") && !enum_exists("ThrottleKit\\\\$c")) { echo "missing $c\n"; } }'
            . 'echo json_encode(\\ThrottleKit\\Http\\Headers::forDecision("p", new \\ThrottleKit\\Decision(true, 2, 1, 5000, 0), "triple", 1000));'
            . 'echo "\n", interface_exists("Psr\\\\Log\\\\LoggerInterface") ? "psr-log loaded" : "no framework", "\n";');
        self::assertSame(0, $rc, $err);
        self::assertSame("{\"RateLimit-Limit\":\"2\",\"RateLimit-Remaining\":\"1\",\"RateLimit-Reset\":\"4\"}\nno framework\n", $out, $err);
    }

    public function testPreloadSkipsTheIntegrations(): void
    {
        [$rc, $out, $err] = $this->runPhp('require "preload.php"; echo class_exists("ThrottleKit\\\\Client", false) ? "client " : "",'
            . ' class_exists("ThrottleKit\\\\Symfony\\\\Limiter", false) ? "symfony" : "no-symfony";');
        self::assertSame(0, $rc, $err);
        self::assertSame('client no-symfony', $out, $err);
    }
}
