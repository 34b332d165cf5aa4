<?php

declare(strict_types=1);

namespace ThrottleKit;

/**
 * A slot of a concurrency policy taken by Client::admit() (see docs/admission.md). When
 * allowed, it holds the slot until release(), or until its lease expires (2 s unless renewed
 * with Client::heartbeat()). A refused admission holds nothing; release() does nothing then.
 */
final class Admission
{
    private bool $released = false;

    /**
     * @param Decision $decision        the combined decision of the axes consulted
     * @param string   $leaseId         32 lowercase hex characters; '' when refused
     * @param int      $leaseExpiresAtMs epoch ms the lease lasts until unless renewed; 0 when refused
     * @param string   $bindingAxis     '' when allowed; 'concurrency' or 'rate': the axis that refused
     */
    public function __construct(
        private readonly ClientInterface $client,
        public readonly string $policy,
        public readonly string $key,
        public readonly Decision $decision,
        public readonly string $leaseId,
        public readonly int $leaseExpiresAtMs,
        public readonly string $bindingAxis,
        public readonly bool $policyDenied = false,
    ) {
    }

    public function allowed(): bool
    {
        return $this->decision->allowed;
    }

    /** Whether a slot was taken (a lease id was issued). */
    public function held(): bool
    {
        return $this->leaseId !== '';
    }

    public function released(): bool
    {
        return $this->released;
    }

    /**
     * Gives the slot back; $dropped says the work failed or timed out (an adaptive ceiling
     * shrinks). Idempotent: only the first call of a held admission reaches the library.
     */
    public function release(bool $dropped = false): void
    {
        if ($this->released) {
            return;
        }
        $this->released = true;
        if ($this->held()) {
            $this->client->release($this->policy, $this->key, $this->leaseId, $dropped);
        }
    }
}
