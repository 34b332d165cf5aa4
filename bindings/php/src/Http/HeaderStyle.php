<?php

declare(strict_types=1);

namespace ThrottleKit\Http;

/**
 * Which RateLimit response fields an integration writes (docs/headers.md). The values are the
 * words every ThrottleKit integration uses: ietf (the default), triple, legacy, all, off.
 */
enum HeaderStyle: string
{
    /** RateLimit-Policy and RateLimit (the IETF httpapi structured fields). */
    case Ietf = 'ietf';
    /** RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (seconds until full). */
    case Triple = 'triple';
    /** X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (epoch seconds). */
    case Legacy = 'legacy';
    /** ietf, triple and legacy. */
    case All = 'all';
    /** Nothing, not even Retry-After. */
    case Off = 'off';

    /**
     * A style from its word (case-insensitive) or itself.
     *
     * @throws \ThrottleKit\Exception\InvalidArgumentException for another word
     */
    public static function of(self|string $style): self
    {
        if ($style instanceof self) {
            return $style;
        }
        return self::tryFrom(strtolower(trim($style)))
            ?? throw new \ThrottleKit\Exception\InvalidArgumentException(sprintf(
                "unknown header style '%s' (ietf, triple, legacy, all or off)", $style));
    }

    public function ietf(): bool
    {
        return $this === self::Ietf || $this === self::All;
    }

    public function triple(): bool
    {
        return $this === self::Triple || $this === self::All;
    }

    public function legacy(): bool
    {
        return $this === self::Legacy || $this === self::All;
    }
}
