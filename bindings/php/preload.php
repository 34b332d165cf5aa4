<?php
/*
 * For opcache.preload (PHP-FPM with ffi.enable=preload, PHP's default): compiles every
 * ThrottleKit class into the preloaded image, so their FFI calls are allowed in web requests.
 * Loads no library and opens nothing (the Go core must start after PHP-FPM forks). The
 * framework integrations (src/Psr15, src/Symfony, src/Laravel) are left out: they need their
 * framework's classes, and make no FFI call themselves (the Client they call does).
 *
 *   opcache.preload=/path/to/bindings/php/preload.php
 *   opcache.preload_user=www-data
 */
declare(strict_types=1);

require __DIR__ . '/autoload.php';

$files = new RecursiveIteratorIterator(new RecursiveDirectoryIterator(__DIR__ . '/src', FilesystemIterator::SKIP_DOTS));
foreach ($files as $file) {
    if ($file->getExtension() === 'php') {
        $relative = substr($file->getPathname(), strlen(__DIR__ . '/src/'), -4);
        if (preg_match('#^(Psr15|Symfony|Laravel)/#', $relative)) {
            continue;
        }
        class_exists('ThrottleKit\\' . str_replace('/', '\\', $relative)); // autoloads parents first
    }
}
