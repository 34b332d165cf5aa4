<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** The backend (Redis or throttlekit-server) cannot be reached (TK_E_UNAVAILABLE). */
class UnavailableException extends ThrottleKitException
{
}
