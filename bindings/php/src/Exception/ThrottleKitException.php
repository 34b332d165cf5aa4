<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/**
 * The base of every ThrottleKit error. getCode() is the library's tk_status_t (TK_E_*, a
 * negative number), or 0 when the error was found in PHP before calling the library. Every
 * ThrottleKit exception implements the marker ExceptionInterface.
 */
class ThrottleKitException extends \RuntimeException implements ExceptionInterface
{
}
