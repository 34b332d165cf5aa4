<?php

declare(strict_types=1);

namespace ThrottleKit\Http;

use ThrottleKit\Decision;

/**
 * The RateLimit response headers of one or several decisions, in a HeaderStyle: the same
 * decisions give the same headers as every other ThrottleKit implementation (docs/headers.md,
 * contract/rate-limit-headers.json). Pure PHP: no library call, safe anywhere.
 *
 *   $headers = Headers::forDecision('api', $decision, 'triple');
 *   foreach ($headers as $name => $value) { header("$name: $value"); }
 *
 * Rules: seconds are whole and rounded up; t = max(0, ceil((resetAtMs - now) / 1000));
 * w = ceil(windowMs / 1000), omitted when the window is unknown (0); a synthesized decision
 * (the fail mode decided, not the limiter) gets no RateLimit field; a rejection gets
 * Retry-After: max(1, ceil(retryAfterMs / 1000)) unless the style is off.
 */
final class Headers
{
    private function __construct()
    {
    }

    /**
     * The headers of $decision of $policy at $nowMs (epoch ms; default now), in the order
     * RateLimit-Policy, RateLimit, RateLimit-Limit/-Remaining/-Reset, X-RateLimit-*, Retry-After.
     *
     * @return array<string, string> field name => value
     */
    public static function forDecision(string $policy, Decision $decision, HeaderStyle|string $style = HeaderStyle::Ietf,
        ?int $nowMs = null): array
    {
        return self::forDecisions([[$policy, $decision]], $style, $nowMs);
    }

    /**
     * The headers of several decisions on one response (several policies, checkAll): ietf
     * lists one member per decision, comma-separated, in the given order; triple and legacy
     * show the most restrictive decision (the fewest remaining; the first of equals);
     * Retry-After is the longest wait among the rejections. Synthesized decisions contribute
     * no RateLimit member.
     *
     * @param iterable<array{0: string, 1: Decision}|Decision> $decisions [policy, Decision]
     *        pairs, or policy => Decision
     * @return array<string, string> field name => value
     */
    public static function forDecisions(iterable $decisions, HeaderStyle|string $style = HeaderStyle::Ietf,
        ?int $nowMs = null): array
    {
        $style = HeaderStyle::of($style);
        if ($style === HeaderStyle::Off) {
            return [];
        }
        $nowMs ??= (int) floor(microtime(true) * 1000);

        $policies = [];
        $members = [];
        $restrictive = null;
        $retryAfter = null;
        foreach ($decisions as $k => $entry) {
            [$policy, $d] = $entry instanceof Decision ? [(string) $k, $entry] : [(string) $entry[0], $entry[1]];
            if (!$d instanceof Decision) {
                throw new \ThrottleKit\Exception\InvalidArgumentException('Headers::forDecisions takes [policy, Decision] pairs');
            }
            if (!$d->allowed) {
                $retryAfter = max($retryAfter ?? 1, self::ceilSeconds($d->retryAfterMs));
            }
            if ($d->synthesized) {
                continue;
            }
            $t = max(0, self::ceilSeconds($d->resetAtMs - $nowMs));
            if ($style->ietf()) {
                $name = self::sfString($policy);
                $policies[] = $name . ';q=' . $d->limit . ($d->windowMs > 0 ? ';w=' . self::ceilSeconds($d->windowMs) : '');
                $members[] = $name . ';r=' . $d->remaining . ';t=' . $t;
            }
            if ($restrictive === null || $d->remaining < $restrictive[0]->remaining) {
                $restrictive = [$d, $t];
            }
        }

        $h = [];
        if ($policies !== []) {
            $h['RateLimit-Policy'] = implode(', ', $policies);
            $h['RateLimit'] = implode(', ', $members);
        }
        if ($restrictive !== null) {
            [$d, $t] = $restrictive;
            if ($style->triple()) {
                $h['RateLimit-Limit'] = (string) $d->limit;
                $h['RateLimit-Remaining'] = (string) $d->remaining;
                $h['RateLimit-Reset'] = (string) $t;
            }
            if ($style->legacy()) {
                $h['X-RateLimit-Limit'] = (string) $d->limit;
                $h['X-RateLimit-Remaining'] = (string) $d->remaining;
                $h['X-RateLimit-Reset'] = (string) self::ceilSeconds($d->resetAtMs);
            }
        }
        if ($retryAfter !== null) {
            $h['Retry-After'] = (string) $retryAfter;
        }
        return $h;
    }

    /** The Retry-After value of a rejection: max(1, ceil(retryAfterMs / 1000)). */
    public static function retryAfterSeconds(Decision $decision): int
    {
        return max(1, self::ceilSeconds($decision->retryAfterMs));
    }

    /** ceil($ms / 1000) in integers, for negative $ms too. */
    private static function ceilSeconds(int $ms): int
    {
        return $ms > 0 ? intdiv($ms + 999, 1000) : -intdiv(-$ms, 1000);
    }

    /** $s as a structured-field string: quoted, " and \ escaped, bytes outside printable ASCII dropped. */
    private static function sfString(string $s): string
    {
        $s = preg_replace('/[^\x20-\x7e]/', '', $s) ?? '';
        return '"' . addcslashes($s, '"\\') . '"';
    }
}
