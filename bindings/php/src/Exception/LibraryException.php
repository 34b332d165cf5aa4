<?php

declare(strict_types=1);

namespace ThrottleKit\Exception;

/** libthrottlekit or the generated FFI header could not be loaded, or FFI is disabled. */
class LibraryException extends ThrottleKitException
{
}
