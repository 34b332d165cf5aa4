<?php

declare(strict_types=1);

namespace ThrottleKit;

use ThrottleKit\Exception\ThrottleKitException;

/**
 * What a ThrottleKit client does, so applications and the framework integrations can take a
 * mock or a decorator instead of a Client. ThrottleKit\Client is the implementation; see it
 * for the semantics of each call. $nowMs is an explicit clock (epoch ms) where a door takes
 * one. Every error is a ThrottleKitException (marked ExceptionInterface).
 */
interface ClientInterface
{
    /** Opens the native handle now (e.g. to surface a bad policy file at startup). @throws ThrottleKitException */
    public function open(): void;

    /** Consumes $cost from $key's limit of $policy. A denial is a Decision, never an exception. @throws ThrottleKitException */
    public function check(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Decision;

    /**
     * @param list<string> $keys
     * @return list<Decision>
     * @throws ThrottleKitException
     */
    public function checkMany(string $policy, array $keys, int $cost = 1, ?int $nowMs = null): array;

    /**
     * @param list<array<mixed>|CheckItem> $items
     * @throws ThrottleKitException
     */
    public function checkAll(array $items, ?int $nowMs = null): CheckAllResult;

    /** What a check of cost 1 would answer, consuming nothing. @throws ThrottleKitException */
    public function peek(string $policy, string $key, ?int $nowMs = null): Decision;

    /** @throws ThrottleKitException */
    public function forecast(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Forecast;

    /** @throws ThrottleKitException */
    public function debit(string $policy, string $key, int $tokens, ?int $nowMs = null): Decision;

    /** @throws ThrottleKitException */
    public function refund(string $policy, string $key, int $cost = 1): Decision;

    /** Forgets $key's state under $policy (full again). @throws ThrottleKitException */
    public function reset(string $policy, string $key): void;

    /** @throws ThrottleKitException */
    public function admit(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Admission;

    /**
     * Admits, calls $fn with the Admission, releases it when $fn returns (dropped when it throws).
     *
     * @template T
     * @param callable(Admission): T $fn
     * @return T
     * @throws ThrottleKitException
     */
    public function withAdmission(string $policy, string $key, callable $fn): mixed;

    /** Gives back the slot of $leaseId; an unknown id is fine. @throws ThrottleKitException */
    public function release(string $policy, string $key, string $leaseId, bool $dropped = false, ?int $nowMs = null): void;

    /**
     * @param list<string> $leaseIds
     * @return list<string> the ids already gone
     * @throws ThrottleKitException
     */
    public function heartbeat(string $policy, string $key, array $leaseIds, ?int $nowMs = null): array;

    /** Closes the native handle; never throws. */
    public function close(): void;
}
