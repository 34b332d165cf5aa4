<?php

/*
 * Shared by the test apps: the ThrottleKit package, the app's client (Redis door, the test's
 * namespace; built here, opened on its first call, in the serving process) and a PSR-3
 * logger appending to $TK_APP_TMP/shadow.log.
 */
declare(strict_types=1);

namespace ThrottleKit\TestApp;

require_once dirname(__DIR__, 2) . '/autoload.php';
require_once 'Psr/Log/autoload.php';

function client(): \ThrottleKit\Client
{
    return \ThrottleKit\ClientFactory::fromConfig([
        'door' => 'redis',
        'url' => (string) getenv('THROTTLEKIT_REDIS_URL'),
        'policies_file' => __DIR__ . '/policies.yaml',
        'options' => ['key_namespace' => (string) getenv('TK_APP_NS'), 'timeout_ms' => 2000],
    ]);
}

final class FileLogger extends \Psr\Log\AbstractLogger
{
    public function log($level, $message, array $context = []): void
    {
        $line = preg_replace_callback('/\{(\w+)\}/', static fn (array $m): string => (string) ($context[$m[1]] ?? $m[0]), (string) $message);
        file_put_contents(getenv('TK_APP_TMP') . '/shadow.log', "$level $line\n", FILE_APPEND | LOCK_EX);
    }
}
