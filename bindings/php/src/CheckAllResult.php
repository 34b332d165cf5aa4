<?php

declare(strict_types=1);

namespace ThrottleKit;

/**
 * The outcome of Client::checkAll(): every item decided at one instant, all consumed or none.
 * Iterating or counting it goes over its decisions, in the order of the items.
 *
 * @implements \IteratorAggregate<int, Decision>
 */
final class CheckAllResult implements \Countable, \IteratorAggregate
{
    /**
     * @param bool           $allowed   every item allowed, so every item was consumed; false:
     *                                  some item denied, and none was consumed
     * @param list<Decision> $decisions one per item, in order; when denied, an item that
     *                                  allowed reports what it would have left
     */
    public function __construct(
        public readonly bool $allowed,
        public readonly array $decisions,
    ) {
    }

    /** @return list<int> the indexes of the items that denied ([] when allowed) */
    public function deniedIndexes(): array
    {
        $denied = [];
        foreach ($this->decisions as $i => $d) {
            if (!$d->allowed) {
                $denied[] = $i;
            }
        }
        return $denied;
    }

    /** The longest wait among the items, in ms (0 when allowed): the slowest limit decides. */
    public function retryAfterMs(): int
    {
        $ms = 0;
        foreach ($this->decisions as $d) {
            $ms = max($ms, $d->retryAfterMs);
        }
        return $ms;
    }

    public function count(): int
    {
        return count($this->decisions);
    }

    /** @return \ArrayIterator<int, Decision> */
    public function getIterator(): \ArrayIterator
    {
        return new \ArrayIterator($this->decisions);
    }
}
