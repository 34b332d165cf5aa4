<?php

declare(strict_types=1);

namespace ThrottleKit\Symfony;

use Psr\Log\LoggerInterface;
use Symfony\Component\RateLimiter\LimiterInterface;
use ThrottleKit\ClientInterface;

/**
 * Makes the Limiter of a ThrottleKit policy for a key: create($key), the method of Symfony's
 * RateLimiterFactory, so a service defined in services.yaml replaces a framework.rate_limiter
 * one (see README.md):
 *
 *   ThrottleKit\ClientInterface:
 *     factory: ['ThrottleKit\ClientFactory', 'fromConfig']
 *     arguments: [{ door: redis, url: '%env(REDIS_URL)%', policies_file: '%kernel.project_dir%/config/policies.yaml' }]
 *   limiter.api:
 *     class: ThrottleKit\Symfony\LimiterFactory
 *     arguments: ['@ThrottleKit\ClientInterface', 'api', '@?logger']
 */
final class LimiterFactory
{
    public function __construct(
        private readonly ClientInterface $client,
        private readonly string $policy,
        private readonly ?LoggerInterface $logger = null,
    ) {
    }

    public function create(?string $key = null): LimiterInterface
    {
        return new Limiter($this->client, $this->policy, $key ?? '', $this->logger);
    }
}
