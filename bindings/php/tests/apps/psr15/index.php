<?php

/*
 * A PSR-15 stack (Nyholm's PSR-7/PSR-17, ThrottleKit's RateLimitMiddleware, a final handler)
 * served by `php -S`: GET /<style>/api is limited by the policy api in that header style;
 * GET /shadow by the shadow policy (logged). Answers "ok <pid>".
 */
declare(strict_types=1);

require dirname(__DIR__) . '/common.php';
require_once 'Nyholm/Psr7/autoload.php';
require_once dirname(__DIR__, 2) . '/support/psr15.php';

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\ServerRequest;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Server\MiddlewareInterface;
use Psr\Http\Server\RequestHandlerInterface;
use ThrottleKit\Psr15\RateLimitMiddleware;

$factory = new Psr17Factory();
$headers = function_exists('getallheaders') ? getallheaders() : [];
$request = new ServerRequest($_SERVER['REQUEST_METHOD'], $_SERVER['REQUEST_URI'], $headers, null, '1.1', $_SERVER);

$final = new class ($factory) implements RequestHandlerInterface {
    public function __construct(private Psr17Factory $f)
    {
    }

    public function handle(ServerRequestInterface $request): ResponseInterface
    {
        $d = $request->getAttribute(RateLimitMiddleware::ATTRIBUTE);
        return $this->f->createResponse(200)->withHeader('X-Remaining-Seen', (string) ($d?->remaining ?? '-'))
            ->withBody($this->f->createStream('ok ' . getmypid() . "\n"));
    }
};
$pipe = static fn (MiddlewareInterface $m, RequestHandlerInterface $next): RequestHandlerInterface => new class ($m, $next) implements RequestHandlerInterface {
    public function __construct(private MiddlewareInterface $m, private RequestHandlerInterface $next)
    {
    }

    public function handle(ServerRequestInterface $request): ResponseInterface
    {
        return $this->m->process($request, $this->next);
    }
};

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$client = ThrottleKit\TestApp\client();
if (preg_match('#^/(ietf|triple|legacy|all|off)/api$#', $path, $m)) {
    $style = $m[1];
    $handler = $pipe(new RateLimitMiddleware($client, 'api', static fn (ServerRequestInterface $r): string => $style . ':'
        . ($r->getServerParams()['REMOTE_ADDR'] ?? ''), $factory, $style), $final);
} elseif ($path === '/shadow') {
    $handler = $pipe(new RateLimitMiddleware($client, 'shadow', RateLimitMiddleware::remoteAddr(), $factory, 'triple',
        new ThrottleKit\TestApp\FileLogger()), $final);
} else {
    $handler = $final;
}

$response = $handler->handle($request);
http_response_code($response->getStatusCode());
foreach ($response->getHeaders() as $name => $values) {
    foreach ($values as $value) {
        header("$name: $value", false);
    }
}
echo $response->getBody();
