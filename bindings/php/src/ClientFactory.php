<?php

declare(strict_types=1);

namespace ThrottleKit;

use ThrottleKit\Exception\ConfigException;
use ThrottleKit\Exception\InvalidArgumentException;

/**
 * Builds a Client from a configuration array, for containers (Symfony services.yaml, Laravel's
 * config/throttlekit.php). Opens nothing: the client opens on its first call in the process
 * that makes it (so building it in a PHP-FPM master or a bootstrap is fork-safe).
 *
 *   door           'memory' (default), 'redis' or 'service'
 *   url            Redis door: redis://... (required there)
 *   target         service door: host:port (required there)
 *   policies       policy file text (memory and Redis doors), or
 *   policies_file  a policy file's path
 *   options        Client options (timeout_ms, fail_mode, key_namespace, lib, ...)
 */
final class ClientFactory
{
    private function __construct()
    {
    }

    /** @param array<string, mixed> $config */
    public static function fromConfig(array $config): Client
    {
        $known = ['door', 'url', 'target', 'policies', 'policies_file', 'options'];
        foreach (array_keys($config) as $name) {
            if (!in_array($name, $known, true)) {
                throw new InvalidArgumentException(sprintf("unknown ThrottleKit setting '%s' (known: %s)", $name, implode(', ', $known)));
            }
        }
        $options = $config['options'] ?? [];
        if (!is_array($options)) {
            throw new InvalidArgumentException("the ThrottleKit setting 'options' must be an array");
        }
        $door = $config['door'] ?? 'memory';
        return match ($door) {
            'memory' => Client::memory(self::policies($config), $options),
            'redis' => Client::redis((string) ($config['url'] ?? throw new InvalidArgumentException("the redis door needs 'url'")),
                self::policies($config), $options),
            'service' => Client::service((string) ($config['target'] ?? throw new InvalidArgumentException("the service door needs 'target'")),
                $options),
            default => throw new InvalidArgumentException(sprintf("unknown ThrottleKit door '%s' (memory, redis or service)", (string) $door)),
        };
    }

    /** @param array<string, mixed> $config */
    private static function policies(array $config): string
    {
        if (isset($config['policies'])) {
            return (string) $config['policies'];
        }
        $file = $config['policies_file'] ?? throw new InvalidArgumentException("ThrottleKit needs 'policies' or 'policies_file'");
        $yaml = @file_get_contents((string) $file);
        if ($yaml === false) {
            throw new ConfigException(sprintf("cannot read the ThrottleKit policy file '%s'", (string) $file));
        }
        return $yaml;
    }
}
