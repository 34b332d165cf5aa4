<?php

declare(strict_types=1);

namespace ThrottleKit\Laravel;

use Illuminate\Support\ServiceProvider;
use Psr\Log\LoggerInterface;
use ThrottleKit\Client;
use ThrottleKit\ClientFactory;
use ThrottleKit\ClientInterface;
use ThrottleKit\Http\HeaderStyle;

/**
 * Registers ThrottleKit in a Laravel app from config('throttlekit') (config/throttlekit.php):
 *
 *   return [
 *       'door' => 'redis', 'url' => env('THROTTLEKIT_REDIS_URL'),
 *       'policies_file' => base_path('policies.yaml'),
 *       'options' => ['fail_mode' => 'open', 'timeout_ms' => 300],
 *       'headers' => 'ietf',                       // ietf, triple, legacy, all, off
 *       'log_shadow' => true,                      // shadow denials to the app's log
 *       'rate_limiter' => ['policy' => 'api', 'replace' => false],
 *   ];
 *
 * Binds ClientInterface (and Client) as a singleton (opened on first use, in the worker), the
 * route middleware alias `throttlekit` (ThrottleMiddleware), and, with rate_limiter.policy,
 * ThrottleKit\Laravel\RateLimiter (and Illuminate\Cache\RateLimiter too with replace: true,
 * so Laravel's own `throttle` middleware counts in ThrottleKit).
 */
final class ThrottleKitServiceProvider extends ServiceProvider
{
    private const OWN_KEYS = ['headers', 'log_shadow', 'rate_limiter'];

    public function register(): void
    {
        $this->app->singleton(ClientInterface::class, function ($app): ClientInterface {
            $config = (array) $app['config']->get('throttlekit', []);
            return ClientFactory::fromConfig(array_diff_key($config, array_flip(self::OWN_KEYS)));
        });
        $this->app->alias(ClientInterface::class, Client::class);
        $this->app->singleton(ThrottleMiddleware::class, function ($app): ThrottleMiddleware {
            $config = $app['config'];
            $logger = $config->get('throttlekit.log_shadow', true) && $app->bound('log') ? $app->make('log') : null;
            return new ThrottleMiddleware($app->make(ClientInterface::class),
                HeaderStyle::of((string) $config->get('throttlekit.headers', 'ietf')),
                $logger instanceof LoggerInterface ? $logger : null);
        });
        $this->app->singleton(RateLimiter::class, function ($app): RateLimiter {
            $policy = $app['config']->get('throttlekit.rate_limiter.policy');
            if (!is_string($policy) || $policy === '') {
                throw new \ThrottleKit\Exception\InvalidArgumentException('ThrottleKit\\Laravel\\RateLimiter needs config throttlekit.rate_limiter.policy');
            }
            return new RateLimiter($app->make(ClientInterface::class), $policy);
        });
    }

    public function boot(): void
    {
        $this->app['router']->aliasMiddleware('throttlekit', ThrottleMiddleware::class);
        if ($this->app['config']->get('throttlekit.rate_limiter.replace', false)) {
            $this->app->singleton(\Illuminate\Cache\RateLimiter::class, fn ($app) => $app->make(RateLimiter::class));
        }
    }
}
