<?php

/*
 * The two PSR-15 interfaces (https://www.php-fig.org/psr/psr-15/), declared for the tests
 * only when psr/http-server-handler and psr/http-server-middleware are not installed: Debian
 * ships no package of them. Applications install them with Composer.
 */
declare(strict_types=1);

namespace Psr\Http\Server;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

if (!interface_exists(RequestHandlerInterface::class)) {
    interface RequestHandlerInterface
    {
        public function handle(ServerRequestInterface $request): ResponseInterface;
    }
}

if (!interface_exists(MiddlewareInterface::class)) {
    interface MiddlewareInterface
    {
        public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface;
    }
}
