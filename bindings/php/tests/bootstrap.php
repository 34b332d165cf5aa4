<?php

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';
require __DIR__ . '/TestEnv.php';
require __DIR__ . '/Server.php';
require __DIR__ . '/CheckAllCases.php';
require __DIR__ . '/support/Frameworks.php';
require __DIR__ . '/support/HttpApp.php';
require __DIR__ . '/support/HeaderAssertions.php';
