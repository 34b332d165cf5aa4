<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/**
 * Marks every exception ThrottleKit throws (ThrottleKitException and all its subclasses), so
 * an application catches them in one place: catch (\ThrottleKit\Exception\ExceptionInterface $e).
 */
interface ExceptionInterface extends \Throwable
{
}
