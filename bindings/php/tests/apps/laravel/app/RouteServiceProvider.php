<?php

declare(strict_types=1);

namespace ThrottleKit\TestApp\Laravel;

use Illuminate\Cache\RateLimiter;
use Illuminate\Http\Request;
use Illuminate\Support\ServiceProvider;

/** The test app's routes. */
final class RouteServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        $router = $this->app['router'];
        $ok = static fn () => response('ok ' . getmypid() . "\n")->header('X-Worker-Pid', (string) getmypid());
        foreach (['ietf', 'triple', 'legacy', 'all', 'off'] as $style) {
            // keyed by a header, so each style counts on its own (the address when absent)
            $router->get("/$style/api", $ok)->middleware("throttlekit:api,header:X-Client,$style");
        }
        $router->get('/default/api', $ok)->middleware('throttlekit:api,header:X-Client');
        $router->get('/shadow', $ok)->middleware('throttlekit:shadow');
        // Laravel's own throttle middleware, counting in ThrottleKit (rate_limiter.replace)
        $router->get('/laravel-throttle', $ok)->middleware('throttle:3,60');
        // the RateLimiter API, as an app calls it
        $router->get('/limiter/{op}', function (Request $request, string $op) {
            $limiter = $this->app->make(RateLimiter::class);
            $key = (string) $request->query('key', 'k');
            $max = (int) $request->query('max', '3');
            $out = match ($op) {
                'hit' => $limiter->hit($key),
                'attempts' => $limiter->attempts($key),
                'too-many' => $limiter->tooManyAttempts($key, $max),
                'remaining' => $limiter->remaining($key, $max),
                'available-in' => $limiter->availableIn($key),
                'attempt' => $limiter->attempt($key, $max, fn () => 'ran'),
                'clear' => $limiter->clear($key),
                'class' => get_class($limiter),
            };
            return response()->json(['result' => $out]);
        });
    }
}
