<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** The per-call timeout passed (TK_E_TIMEOUT). */
class TimeoutException extends ThrottleKitException
{
}
