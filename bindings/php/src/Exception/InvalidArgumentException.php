<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** Bad input: empty policy, negative cost, a key with a NUL byte, a bad URL or option (TK_E_INVALID, or found in PHP first). */
class InvalidArgumentException extends ThrottleKitException
{
}
