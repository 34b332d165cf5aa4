<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Loads Debian's framework packages (their autoload.php files on the include path,
 * /usr/share/php): a missing one skips the test, or fails it with CI=true
 * (scripts/install-deps.sh installs them all).
 */
final class Frameworks
{
    /** name => [autoload file, Debian package] */
    public const PACKAGES = [
        'psr7' => ['Nyholm/Psr7/autoload.php', 'php-nyholm-psr7'],
        'psr-log' => ['Psr/Log/autoload.php', 'php-psr-log'],
        'symfony-rate-limiter' => ['Symfony/Component/RateLimiter/autoload.php', 'php-symfony-rate-limiter'],
        'symfony-framework' => ['Symfony/Bundle/FrameworkBundle/autoload.php', 'php-symfony-framework-bundle'],
        'symfony-yaml' => ['Symfony/Component/Yaml/autoload.php', 'php-symfony-yaml'],
        'laravel' => ['Illuminate/autoload.php', 'php-laravel-framework'],
    ];

    public static function load(TestCase $tc, string ...$names): void
    {
        foreach ($names as $name) {
            [$file, $package] = self::PACKAGES[$name];
            if (stream_resolve_include_path($file) === false) {
                TestEnv::missing($tc, "$file is missing (apt-get install $package, or scripts/install-deps.sh)");
            }
            require_once $file;
            if ($name === 'psr7') {
                require_once __DIR__ . '/psr15.php';
            }
        }
    }

    /** The php-fpm binary (Debian: php-fpm), or a skip (a failure with CI=true). */
    public static function phpFpm(TestCase $tc): string
    {
        foreach (['/usr/sbin/php-fpm' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION, '/usr/sbin/php-fpm'] as $path) {
            if (is_executable($path)) {
                return $path;
            }
        }
        TestEnv::missing($tc, 'php-fpm is missing (apt-get install php-fpm)');
    }
}
