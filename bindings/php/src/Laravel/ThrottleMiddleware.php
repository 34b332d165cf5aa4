<?php

declare(strict_types=1);

namespace ThrottleKit\Laravel;

use Closure;
use Illuminate\Http\Request;
use Psr\Log\LoggerInterface;
use Symfony\Component\HttpFoundation\Response;
use ThrottleKit\ClientInterface;
use ThrottleKit\Http\Headers;
use ThrottleKit\Http\HeaderStyle;
use ThrottleKit\Http\ShadowLog;

/**
 * The `throttlekit` route middleware: ->middleware('throttlekit:api') checks the policy api
 * for the client's address ($request->ip(), which honours the app's TrustProxies);
 * 'throttlekit:api,user' keys by the authenticated user's id (the address for guests);
 * 'throttlekit:api,header:X-Api-Key' by a request header (the address when it is absent).
 * A third parameter overrides the header style (config throttlekit.headers, default ietf).
 * Denied: 429 with the style's fields and Retry-After. Passed: the handler's response with the
 * style's fields; the Decision is the request attribute "throttlekit.decision".
 */
final class ThrottleMiddleware
{
    public function __construct(
        private readonly ClientInterface $client,
        private readonly HeaderStyle $style = HeaderStyle::Ietf,
        private readonly ?LoggerInterface $logger = null,
    ) {
    }

    public function handle(Request $request, Closure $next, string $policy, string $keyBy = 'ip', ?string $style = null): Response
    {
        $key = self::key($request, $keyBy);
        $decision = $this->client->check($policy, $key);
        ShadowLog::record($this->logger, $policy, $key, $decision);
        $headers = Headers::forDecision($policy, $decision, $style === null ? $this->style : HeaderStyle::of($style));
        if (!$decision->allowed) {
            return new \Illuminate\Http\Response("Too Many Requests\n", 429,
                ['Content-Type' => 'text/plain; charset=utf-8'] + $headers);
        }
        $request->attributes->set('throttlekit.decision', $decision);
        $response = $next($request);
        foreach ($headers as $name => $value) {
            $response->headers->set($name, $value);
        }
        return $response;
    }

    private static function key(Request $request, string $keyBy): string
    {
        if ($keyBy === 'user') {
            $user = $request->user();
            return $user !== null ? 'user:' . $user->getAuthIdentifier() : 'ip:' . $request->ip();
        }
        if (str_starts_with($keyBy, 'header:')) {
            $value = $request->header(substr($keyBy, 7));
            return is_string($value) && $value !== '' ? $value : 'ip:' . $request->ip();
        }
        if ($keyBy !== 'ip') {
            throw new \ThrottleKit\Exception\InvalidArgumentException(sprintf(
                "throttlekit middleware: unknown key source '%s' (ip, user or header:<Name>)", $keyBy));
        }
        return (string) $request->ip();
    }
}
