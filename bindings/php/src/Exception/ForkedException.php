<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** Used in a forked child of a process that had already used the library (TK_E_FORKED): open clients after the fork. */
class ForkedException extends ThrottleKitException
{
}
