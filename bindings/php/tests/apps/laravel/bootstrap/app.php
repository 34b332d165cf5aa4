<?php

/* The Laravel 8 test app: an Application with config/*.php, app/ (kernel, routes) and the ThrottleKit provider. */
declare(strict_types=1);

require_once dirname(__DIR__, 2) . '/common.php';
require_once 'Illuminate/autoload.php';
require_once dirname(__DIR__) . '/app/HttpKernel.php';
require_once dirname(__DIR__) . '/app/RouteServiceProvider.php';

$storage = getenv('TK_APP_TMP') . '/laravel-storage';
foreach (['', '/framework', '/framework/cache', '/framework/views', '/logs', '/bootstrap-cache'] as $sub) {
    is_dir($storage . $sub) || @mkdir($storage . $sub, 0700, true);
}
// the app's tree is read-only: its bootstrap caches go to the scratch directory
foreach (['PACKAGES' => 'packages', 'SERVICES' => 'services', 'CONFIG' => 'config', 'ROUTES' => 'routes-v7', 'EVENTS' => 'events'] as $k => $f) {
    $_SERVER["APP_{$k}_CACHE"] = $_ENV["APP_{$k}_CACHE"] = "$storage/bootstrap-cache/$f.php";
}
$app = new Illuminate\Foundation\Application(dirname(__DIR__));
$app->useStoragePath($storage);
$app->singleton(Illuminate\Contracts\Http\Kernel::class, ThrottleKit\TestApp\Laravel\HttpKernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, Illuminate\Foundation\Exceptions\Handler::class);
return $app;
