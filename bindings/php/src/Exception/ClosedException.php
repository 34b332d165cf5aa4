<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** The client was closed (TK_E_BADHANDLE). */
class ClosedException extends InvalidArgumentException
{
}
