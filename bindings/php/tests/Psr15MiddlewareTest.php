<?php

declare(strict_types=1);

namespace ThrottleKit\Tests;

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\ServerRequest;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Server\RequestHandlerInterface;
use Psr\Log\AbstractLogger;
use ThrottleKit\ClientInterface;
use ThrottleKit\Decision;
use ThrottleKit\Exception\ExceptionInterface;
use ThrottleKit\Exception\UnavailableException;
use ThrottleKit\Psr15\RateLimitMiddleware;

/** RateLimitMiddleware in process, over a mocked ClientInterface (what applications can do too). */
final class Psr15MiddlewareTest extends TestCase
{
    private Psr17Factory $factory;
    /** @var list<ServerRequestInterface> */
    private array $handled = [];

    protected function setUp(): void
    {
        Frameworks::load($this, 'psr7', 'psr-log');
        $this->factory = new Psr17Factory();
        $this->handled = [];
    }

    private function handler(): RequestHandlerInterface
    {
        $test = $this;
        return new class ($test) implements RequestHandlerInterface {
            public function __construct(private Psr15MiddlewareTest $t)
            {
            }

            public function handle(ServerRequestInterface $request): ResponseInterface
            {
                $this->t->record($request);
                return (new Psr17Factory())->createResponse(201);
            }
        };
    }

    public function record(ServerRequestInterface $r): void
    {
        $this->handled[] = $r;
    }

    private function request(): ServerRequest
    {
        return new ServerRequest('GET', '/x', [], null, '1.1', ['REMOTE_ADDR' => '192.0.2.7']);
    }

    public function testPassAddsHeadersAndTheDecision(): void
    {
        $d = new Decision(true, 10, 9, (int) (microtime(true) * 1000) + 30_000, 0, windowMs: 60_000);
        $client = $this->createMock(ClientInterface::class);
        $client->expects(self::once())->method('check')->with('api', '192.0.2.7', 1)->willReturn($d);
        $mw = new RateLimitMiddleware($client, 'api', RateLimitMiddleware::remoteAddr(), $this->factory);
        $res = $mw->process($this->request(), $this->handler());
        self::assertSame(201, $res->getStatusCode());
        self::assertSame('"api";q=10;w=60', $res->getHeaderLine('RateLimit-Policy'));
        self::assertMatchesRegularExpression('/^"api";r=9;t=(29|30)$/', $res->getHeaderLine('RateLimit'));
        self::assertFalse($res->hasHeader('Retry-After'));
        self::assertSame($d, $this->handled[0]->getAttribute(RateLimitMiddleware::ATTRIBUTE));
    }

    public function testDenialIs429WithRetryAfter(): void
    {
        $client = $this->createMock(ClientInterface::class);
        $client->method('check')->willReturn(new Decision(false, 10, 0, (int) (microtime(true) * 1000) + 4_000, 3_500, windowMs: 60_000));
        $mw = new RateLimitMiddleware($client, 'api', static fn () => 'k', $this->factory, 'legacy', cost: 2);
        $res = $mw->process($this->request(), $this->handler());
        self::assertSame(429, $res->getStatusCode());
        self::assertSame('4', $res->getHeaderLine('Retry-After'));
        self::assertSame(['10', '0'], [$res->getHeaderLine('X-RateLimit-Limit'), $res->getHeaderLine('X-RateLimit-Remaining')]);
        self::assertFalse($res->hasHeader('RateLimit'));
        self::assertSame([], $this->handled, 'the handler is not called');
    }

    public function testNullKeyLeavesTheRequestUnchecked(): void
    {
        $client = $this->createMock(ClientInterface::class);
        $client->expects(self::never())->method('check');
        $mw = new RateLimitMiddleware($client, 'api', static fn () => null, $this->factory);
        self::assertSame(201, $mw->process($this->request(), $this->handler())->getStatusCode());
    }

    public function testShadowDenialIsLoggedOnce(): void
    {
        $logger = new class () extends AbstractLogger {
            /** @var list<array{mixed, string, array<mixed>}> */
            public array $lines = [];

            public function log($level, $message, array $context = []): void
            {
                $this->lines[] = [$level, (string) $message, $context];
            }
        };
        $client = $this->createMock(ClientInterface::class);
        $client->method('check')->willReturnOnConsecutiveCalls(
            new Decision(true, 1, 0, 0, 0, shadow: false), new Decision(true, 1, 0, 0, 1_500, shadow: true));
        $mw = new RateLimitMiddleware($client, 'new', static fn () => 'u1', $this->factory, 'off', $logger);
        self::assertSame(201, $mw->process($this->request(), $this->handler())->getStatusCode());
        self::assertSame(201, $mw->process($this->request(), $this->handler())->getStatusCode());
        self::assertCount(1, $logger->lines);
        self::assertSame('warning', $logger->lines[0][0]);
        self::assertSame('throttlekit: shadow policy new would have denied key u1 (retry after 1500 ms)', $logger->lines[0][1]);
        self::assertSame(['new', 'u1'], [$logger->lines[0][2]['policy'], $logger->lines[0][2]['key']]);
    }

    public function testClientErrorsPropagateAndAreMarked(): void
    {
        $client = $this->createMock(ClientInterface::class);
        $client->method('check')->willThrowException(new UnavailableException('redis down', -3));
        $mw = new RateLimitMiddleware($client, 'api', static fn () => 'k', $this->factory);
        try {
            $mw->process($this->request(), $this->handler());
            self::fail('no exception');
        } catch (ExceptionInterface $e) {
            self::assertInstanceOf(UnavailableException::class, $e);
        }
    }
}
