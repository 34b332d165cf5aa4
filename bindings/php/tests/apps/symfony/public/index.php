<?php

/* The Symfony test app's front controller (php -S router). */
declare(strict_types=1);

require dirname(__DIR__, 2) . '/common.php';
require_once 'Symfony/Bundle/FrameworkBundle/autoload.php';
require_once 'Symfony/Component/RateLimiter/autoload.php';
require_once 'Symfony/Component/Yaml/autoload.php';
require_once dirname(__DIR__) . '/Kernel.php';
require_once dirname(__DIR__) . '/Controller.php';

use Symfony\Component\HttpFoundation\Request;
use ThrottleKit\TestApp\Symfony\Kernel;

$kernel = new Kernel('prod', false);
$request = Request::createFromGlobals();
$response = $kernel->handle($request);
$response->send();
$kernel->terminate($request, $response);
