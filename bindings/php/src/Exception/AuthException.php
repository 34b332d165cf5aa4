<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** Credentials refused: NOAUTH/WRONGPASS, a TLS failure, a bad token (TK_E_AUTH). */
class AuthException extends ThrottleKitException
{
}
