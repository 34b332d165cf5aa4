<?php
/*
 * require 'bindings/php/autoload.php'; is all a script needs: a PSR-4 autoloader for the
 * ThrottleKit\ namespace (src/). Composer users get the same mapping from composer.json.
 */
declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'ThrottleKit\\', 12) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 12)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
