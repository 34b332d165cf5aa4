<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** The policy file is malformed or invalid (TK_E_CONFIG). */
class ConfigException extends ThrottleKitException
{
}
