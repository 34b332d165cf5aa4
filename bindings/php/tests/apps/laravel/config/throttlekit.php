<?php

// What an app puts in config/throttlekit.php (ThrottleKitServiceProvider reads it).
return [
    'door' => 'redis',
    'url' => getenv('THROTTLEKIT_REDIS_URL'),
    'policies_file' => dirname(__DIR__, 2) . '/policies.yaml',
    'options' => ['key_namespace' => (string) getenv('TK_APP_NS'), 'timeout_ms' => 2000],
    'headers' => 'ietf',
    'log_shadow' => true,
    // Laravel's own RateLimiter (and so its `throttle` middleware) counts in the policy api
    'rate_limiter' => ['policy' => 'api', 'replace' => true],
];
