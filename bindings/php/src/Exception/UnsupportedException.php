<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** The operation does not apply to the policy or the door, e.g. debit on a limiter, check on a token budget, an explicit nowMs on the service door (TK_E_UNSUPPORTED). */
class UnsupportedException extends ThrottleKitException
{
}
