<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** A fault of the library or of the backend logic (TK_E_INTERNAL): a bug, please report it. */
class InternalException extends ThrottleKitException
{
}
