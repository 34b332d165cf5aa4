<?php

declare(strict_types=1);

namespace ThrottleKit\Psr15;

use Psr\Http\Message\ResponseFactoryInterface;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Server\MiddlewareInterface;
use Psr\Http\Server\RequestHandlerInterface;
use Psr\Log\LoggerInterface;
use ThrottleKit\ClientInterface;
use ThrottleKit\Decision;
use ThrottleKit\Http\Headers;
use ThrottleKit\Http\HeaderStyle;
use ThrottleKit\Http\ShadowLog;

/**
 * PSR-15 middleware: checks $policy for the key $key($request) returns, answers 429 Too Many
 * Requests (with the style's RateLimit fields and Retry-After) when denied, and otherwise
 * passes the request on (with the Decision as the request attribute "throttlekit.decision")
 * and adds the style's fields to the handler's response.
 *
 *   new RateLimitMiddleware($client, 'api', fn ($r) => $r->getServerParams()['REMOTE_ADDR'] ?? '',
 *       $psr17Factory, 'triple', logger: $logger);
 *
 * A key callable that returns null leaves the request unchecked. A shadow-admitted denial
 * passes, and is logged to $logger (one warning). Errors of the client (a Redis outage with
 * fail_mode 'error') propagate: choose the client's fail_mode 'open' or 'closed' to decide
 * instead. Needs psr/http-message, psr/http-factory, psr/http-server-middleware (and
 * psr/log for the logger).
 */
final class RateLimitMiddleware implements MiddlewareInterface
{
    public const ATTRIBUTE = 'throttlekit.decision';

    /** @var callable(ServerRequestInterface): ?string */
    private $key;
    private readonly HeaderStyle $style;

    /**
     * @param callable(ServerRequestInterface): (string|null) $key
     * @param HeaderStyle|string $headers ietf (default), triple, legacy, all or off
     * @param int $cost what one request consumes
     */
    public function __construct(
        private readonly ClientInterface $client,
        private readonly string $policy,
        callable $key,
        private readonly ResponseFactoryInterface $responseFactory,
        HeaderStyle|string $headers = HeaderStyle::Ietf,
        private readonly ?LoggerInterface $logger = null,
        private readonly int $cost = 1,
    ) {
        $this->key = $key;
        $this->style = HeaderStyle::of($headers);
    }

    /** A key callable: the client address PHP saw (REMOTE_ADDR; behind a proxy, pass your own). */
    public static function remoteAddr(): \Closure
    {
        return static fn (ServerRequestInterface $r): string => (string) ($r->getServerParams()['REMOTE_ADDR'] ?? '');
    }

    public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface
    {
        $key = ($this->key)($request);
        if ($key === null) {
            return $handler->handle($request);
        }
        $key = (string) $key;
        $decision = $this->client->check($this->policy, $key, $this->cost);
        ShadowLog::record($this->logger, $this->policy, $key, $decision);
        if (!$decision->allowed) {
            $response = $this->responseFactory->createResponse(429, 'Too Many Requests')
                ->withHeader('Content-Type', 'text/plain; charset=utf-8');
            $response->getBody()->write("Too Many Requests\n");
            return $this->withHeaders($response, $decision);
        }
        return $this->withHeaders($handler->handle($request->withAttribute(self::ATTRIBUTE, $decision)), $decision);
    }

    private function withHeaders(ResponseInterface $response, Decision $decision): ResponseInterface
    {
        foreach (Headers::forDecision($this->policy, $decision, $this->style) as $name => $value) {
            $response = $response->withHeader($name, $value);
        }
        return $response;
    }
}
