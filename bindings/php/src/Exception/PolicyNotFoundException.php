<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** No policy of that name (TK_E_NOT_FOUND). */
class PolicyNotFoundException extends ThrottleKitException
{
}
