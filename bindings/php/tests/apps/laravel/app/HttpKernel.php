<?php

declare(strict_types=1);

namespace ThrottleKit\TestApp\Laravel;

final class HttpKernel extends \Illuminate\Foundation\Http\Kernel
{
    protected $middleware = [WorkerPid::class];
    protected $middlewareGroups = [];
    protected $routeMiddleware = [
        'throttle' => \Illuminate\Routing\Middleware\ThrottleRequests::class,
    ];
}

/** Tells which php-fpm worker answered (every response, 429s included). */
final class WorkerPid
{
    public function handle($request, \Closure $next)
    {
        $response = $next($request);
        $response->headers->set('X-Worker-Pid', (string) getmypid());
        return $response;
    }
}
