<?php

declare(strict_types=1);

namespace ThrottleKit;

use ThrottleKit\Exception\AuthException;
use ThrottleKit\Exception\ClosedException;
use ThrottleKit\Exception\ConfigException;
use ThrottleKit\Exception\ForkedException;
use ThrottleKit\Exception\InternalException;
use ThrottleKit\Exception\InvalidArgumentException;
use ThrottleKit\Exception\PolicyNotFoundException;
use ThrottleKit\Exception\ThrottleKitException;
use ThrottleKit\Exception\TimeoutException;
use ThrottleKit\Exception\UnavailableException;
use ThrottleKit\Exception\UnsupportedException;

/**
 * A ThrottleKit limiter over libthrottlekit (PHP FFI), through either door, or the embedded
 * engine:
 *
 *   $tk = Client::redis('redis://127.0.0.1:6379/0', file_get_contents('policies.yaml'));
 *   $tk = Client::service('127.0.0.1:50051', ['auth_token' => $token]);
 *   $tk = Client::memory(file_get_contents('policies.yaml'));   // per process, nothing shared
 *   $d = $tk->check('api', $clientIp);   // Decision; a denial is $d->allowed === false
 *
 * Nothing is loaded or opened when a client is built: the library is loaded and the native
 * handle opened on the first call in the current process. A client built before a fork (in a
 * PHP-FPM master, a preloaded bootstrap) therefore works in every child, as long as no
 * handle was opened before the fork. A client already used in a parent throws
 * ForkedException in a child (the Go core cannot survive fork()); close() and the destructor
 * never throw, and in a forked child they drop the handle without calling the library.
 *
 * Options (all optional):
 *   lib            path of libthrottlekit.so (else $THROTTLEKIT_LIB, else the system path)
 *   ffi_header     the generated FFI header (else $THROTTLEKIT_FFI_HEADER, else the package's throttlekit.ffi.h)
 *   timeout_ms     per call, connecting included; 0 = the library's default (500)
 *   fail_mode      'error' (default), 'open' or 'closed' (or Client::FAIL_*): what a check
 *                  answers while the backend is down (a synthesized Decision)
 *   key_namespace  Redis door: "ns" makes keys "ns:<prefix>:<key>"
 *   tls_ca_file, tls_cert_file, tls_key_file   TLS (rediss://, or the service door)
 *   auth_token     service door: sent as "authorization: Bearer <token>"
 *   auto_pipeline  bool, default true
 *
 * Not thread-shared: PHP is single-threaded; a Client keeps its own result buffers.
 */
final class Client implements ClientInterface
{
    public const FAIL_ERROR = 0;
    public const FAIL_OPEN = 1;
    public const FAIL_CLOSED = 2;

    private const FAIL_MODES = ['error' => self::FAIL_ERROR, 'open' => self::FAIL_OPEN, 'closed' => self::FAIL_CLOSED];
    private const STRING_OPTIONS = ['key_namespace', 'tls_ca_file', 'tls_cert_file', 'tls_key_file', 'auth_token'];
    private const KNOWN_OPTIONS = ['lib', 'ffi_header', 'timeout_ms', 'fail_mode', 'key_namespace', 'tls_ca_file',
        'tls_cert_file', 'tls_key_file', 'auth_token', 'auto_pipeline', 'lease_ttl_ms', 'lease_heartbeat', 'shadow'];
    /** What Client::memory() takes: the engine has no network, so no door options (leases do apply). */
    private const MEMORY_OPTIONS = ['lib', 'ffi_header', 'timeout_ms', 'lease_ttl_ms', 'lease_heartbeat', 'shadow'];

    private ?\FFI $ffi = null;
    /** The open native handle, and the pid that opened it (null: not opened in any process). */
    private ?int $handle = null;
    private ?int $pid = null;
    private bool $closed = false;

    /** Reused result buffers (allocated at open) and pointers to them. */
    private ?\FFI\CData $dec = null;
    private ?\FFI\CData $decPtr = null;
    private ?\FFI\CData $fc = null;
    private ?\FFI\CData $fcPtr = null;
    private ?\FFI\CData $err = null;
    private ?\FFI\CData $errPtr = null;

    /**
     * @param array<string, mixed> $options validated already
     */
    private function __construct(
        private readonly bool $redisDoor,
        private readonly string $target,
        private readonly ?string $policiesYaml,
        private readonly array $options,
        private readonly bool $memoryDoor = false,
    ) {
    }

    /**
     * The Redis door: the policies of $policiesYaml (a ThrottleKit policy file's text),
     * evaluated by the ThrottleKit scripts inside the Redis at $url (redis://, rediss://,
     * redis+cluster://, redis+sentinel://). Opens nothing yet; a malformed URL or policy file
     * shows on the first call (InvalidArgumentException / ConfigException), or call open().
     *
     * @param array<string, mixed> $options see the class comment
     * @throws InvalidArgumentException for a bad option, or a NUL byte in $url or $policiesYaml
     */
    public static function redis(string $url, string $policiesYaml, array $options = []): self
    {
        self::noNul($url, 'the Redis URL');
        self::noNul($policiesYaml, 'the policies YAML');
        return new self(true, $url, $policiesYaml, self::validateOptions($options));
    }

    /**
     * The service door: throttlekit-server at $target ("host:port"), which holds the policies.
     * Keys must be valid UTF-8 there; explicit-clock calls are unsupported.
     *
     * @param array<string, mixed> $options see the class comment
     * @throws InvalidArgumentException for a bad option, or a NUL byte in $target
     */
    public static function service(string $target, array $options = []): self
    {
        self::noNul($target, 'the service target');
        return new self(false, $target, null, self::validateOptions($options));
    }

    /**
     * The embedded engine: the policies of $policiesYaml evaluated by the same ThrottleKit
     * scripts as on the Redis door (same decisions, $nowMs included), with no Redis and no
     * server. The state lives in the process that opened the handle: each client is its own
     * store, and under PHP-FPM each worker process has its own (opened on its first call), so
     * limits are per process and start empty in every new worker. For tests, CLI tools and
     * single-process daemons; use redis() for a limit shared across processes.
     *
     * @param array<string, mixed> $options only lib, ffi_header, timeout_ms
     * @throws InvalidArgumentException for another or bad option, or a NUL byte in $policiesYaml
     */
    public static function memory(string $policiesYaml, array $options = []): self
    {
        self::noNul($policiesYaml, 'the policies YAML');
        foreach (array_keys($options) as $name) {
            if (!in_array($name, self::MEMORY_OPTIONS, true)) {
                throw new InvalidArgumentException(sprintf("option '%s' does not apply to Client::memory() (known: %s)",
                    $name, implode(', ', self::MEMORY_OPTIONS)), -1);
            }
        }
        return new self(false, '', $policiesYaml, self::validateOptions($options), true);
    }

    /** The library's version, e.g. "0.1.0" (loads the library; starts nothing). */
    public static function libraryVersion(array $options = []): string
    {
        $options = self::validateOptions($options);
        return Native::load($options['lib'] ?? null, $options['ffi_header'] ?? null)->tk_version();
    }

    /**
     * Opens the native handle now instead of at the first call, e.g. to surface a bad policy
     * file at startup. Never call it before forking: open in each child instead.
     *
     * @throws ThrottleKitException
     */
    public function open(): void
    {
        $this->handle();
    }

    /**
     * Consumes $cost units (0 means 1) of $policy for $key. With $nowMs (epoch ms, Redis door
     * only) the decision is evaluated at that instant instead of the Redis server's clock.
     *
     * @throws ThrottleKitException PolicyNotFoundException, UnsupportedException (a token
     *         budget), UnavailableException / TimeoutException (unless the fail mode
     *         synthesizes a decision), InvalidArgumentException, ...
     */
    public function check(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Decision
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $nowMs === null
            ? $this->ffi->tk_check($h, $policy, $key, $cost, $this->decPtr, $this->errPtr)
            : $this->ffi->tk_check_at($h, $policy, $key, $cost, $nowMs, $this->decPtr, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $d = $this->dec;
        return Decision::fromNative($d);
    }

    /**
     * check() for many keys at one single instant; the decisions come back in the order of
     * $keys (duplicates apply in order). All or nothing: on an error no key was consumed.
     *
     * @param list<string> $keys
     * @return list<Decision>
     * @throws ThrottleKitException
     */
    public function checkMany(string $policy, array $keys, int $cost = 1, ?int $nowMs = null): array
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        self::noNul($policy, 'the policy name');
        $keys = array_values($keys);
        foreach ($keys as $i => $key) {
            if (!is_string($key)) {
                throw new InvalidArgumentException(sprintf('keys[%d] must be a string, got %s', $i, get_debug_type($key)));
            }
            self::noNul($key, "keys[$i]");
        }
        $n = count($keys);
        $ffi = $this->ffi;
        $keysPtr = null;
        $out = null;
        if ($n > 0) {
            // One buffer holding every key NUL-terminated, and an array of pointers into it.
            $all = implode("\0", $keys) . "\0";
            $buf = $ffi->new('char[' . strlen($all) . ']');
            \FFI::memcpy($buf, $all, strlen($all));
            $keysPtr = $ffi->new("const char *[$n]");
            $off = 0;
            foreach ($keys as $i => $key) {
                $keysPtr[$i] = \FFI::addr($buf[$off]);
                $off += strlen($key) + 1;
            }
            $out = $ffi->new("tk_decision_t[$n]");
        }
        $rc = $nowMs === null
            ? $ffi->tk_check_many($h, $policy, $keysPtr, $n, $cost, $out, $this->errPtr)
            : $ffi->tk_check_many_at($h, $policy, $keysPtr, $n, $cost, $nowMs, $out, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $result = [];
        for ($i = 0; $i < $n; $i++) {
            $d = $out[$i];
            $result[] = Decision::fromNative($d);
        }
        return $result;
    }

    /**
     * Several limits, all or nothing: every item is checked at one instant; when all allow,
     * all are consumed, when any denies, none is. A denial is a result (allowed === false,
     * deniedIndexes() says which), never an exception.
     *
     *   $r = $tk->checkAll([['per_ip', $ip], ['per_account', $account, 2]]);
     *   if (!$r->allowed) { header('Retry-After: ' . (int) ceil($r->retryAfterMs() / 1000)); }
     *
     * Each item is [policy, key], [policy, key, cost], ['policy' => .., 'key' => .., 'cost' => ..]
     * or a CheckItem; cost defaults to 1 (0 means 1). An item may repeat a key (applied in
     * order). With $nowMs (epoch ms; Redis door and engine) the items are decided at that
     * instant. On a Redis Cluster the keys of one call must share a hash tag ({user42}:ip).
     *
     * @param list<array{0: string, 1: string, 2?: int}|array{policy: string, key: string, cost?: int}|CheckItem> $items
     * @throws ThrottleKitException an error consumes nothing; its message names the item ("items[1]: ...")
     */
    public function checkAll(array $items, ?int $nowMs = null): CheckAllResult
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        $entries = [];
        foreach (array_values($items) as $i => $item) {
            $entries[] = self::checkItem($item, $i);
        }
        $n = count($entries);
        $ffi = $this->ffi;
        $arr = null;
        $out = null;
        $buf = null; // every policy and key, NUL-terminated, alive until the call returns
        if ($n > 0) {
            $all = '';
            foreach ($entries as [$policy, $key]) {
                $all .= $policy . "\0" . $key . "\0";
            }
            $buf = $ffi->new('char[' . strlen($all) . ']');
            \FFI::memcpy($buf, $all, strlen($all));
            $arr = $ffi->new("tk_check_item_t[$n]");
            $off = 0;
            foreach ($entries as $i => [$policy, $key, $cost]) {
                $arr[$i]->policy = \FFI::addr($buf[$off]);
                $off += strlen($policy) + 1;
                $arr[$i]->key = \FFI::addr($buf[$off]);
                $off += strlen($key) + 1;
                $arr[$i]->cost = $cost;
            }
            $out = $ffi->new("tk_decision_t[$n]");
        }
        $allAllowed = $ffi->new('int32_t');
        $rc = $nowMs === null
            ? $ffi->tk_check_all($h, $arr, $n, $out, \FFI::addr($allAllowed), $this->errPtr)
            : $ffi->tk_check_all_at($h, $arr, $n, $nowMs, $out, \FFI::addr($allAllowed), $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $decisions = [];
        for ($i = 0; $i < $n; $i++) {
            $d = $out[$i];
            $decisions[] = Decision::fromNative($d);
        }
        return new CheckAllResult($allAllowed->cdata !== 0, $decisions);
    }

    /**
     * checkAll() at an explicit clock (epoch ms): replay and tests.
     *
     * @param list<array<mixed>|CheckItem> $items
     * @throws ThrottleKitException
     */
    public function checkAllAt(array $items, int $nowMs): CheckAllResult
    {
        return $this->checkAll($items, $nowMs);
    }

    /**
     * The decision a check of cost 1 would get, consuming nothing (token budgets too).
     *
     * @throws ThrottleKitException
     */
    public function peek(string $policy, string $key, ?int $nowMs = null): Decision
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $nowMs === null
            ? $this->ffi->tk_peek($h, $policy, $key, $this->decPtr, $this->errPtr)
            : $this->ffi->tk_peek_at($h, $policy, $key, $nowMs, $this->decPtr, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $d = $this->dec;
        return Decision::fromNative($d);
    }

    /**
     * How many requests of $cost (0 means 1) could pass now, and when capacity returns.
     *
     * @throws ThrottleKitException
     */
    public function forecast(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Forecast
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $nowMs === null
            ? $this->ffi->tk_forecast($h, $policy, $key, $cost, $this->fcPtr, $this->errPtr)
            : $this->ffi->tk_forecast_at($h, $policy, $key, $cost, $nowMs, $this->fcPtr, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $f = $this->fc;
        return new Forecast($f->spendable_now, $f->next_replenish_at_ms, $f->full_at_ms);
    }

    /**
     * Debits $tokens (0 means 1) spent after the fact against a token-budget policy. A
     * Decision with allowed === false means the window's budget was already spent (and this
     * debit was not counted).
     *
     * @throws ThrottleKitException UnsupportedException on a rate-limit policy, ...
     */
    public function debit(string $policy, string $key, int $tokens, ?int $nowMs = null): Decision
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $nowMs === null
            ? $this->ffi->tk_debit($h, $policy, $key, $tokens, $this->decPtr, $this->errPtr)
            : $this->ffi->tk_debit_at($h, $policy, $key, $tokens, $nowMs, $this->decPtr, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $d = $this->dec;
        return Decision::fromNative($d);
    }

    /**
     * Gives back $cost units a check consumed (tokens a debit counted, on a token budget), never
     * beyond full: "the request was not processed". Returns the Decision a peek gives right
     * after; UnsupportedException where the policy's strategy has no refund.
     *
     * @throws ThrottleKitException
     */
    public function refund(string $policy, string $key, int $cost = 1): Decision
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $this->ffi->tk_refund($h, $policy, $key, $cost, $this->decPtr, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $d = $this->dec;
        return Decision::fromNative($d);
    }

    /**
     * Forgets the key's state under $policy: its limiter is full again ("clear the login
     * counter on success").
     *
     * @throws ThrottleKitException
     */
    public function reset(string $policy, string $key): void
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $this->ffi->tk_reset($h, $policy, $key, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
    }

    /**
     * Stores the override of $key under $policy, a policy with an overrides: block
     * (docs/policies.md): $spec is "unlimited", "deny", or name=value pairs of the strategy's
     * fields ("limit=4", "limit=10,windowMs=1h"), validated as the file's overrides are.
     * $ttlMs 0 keeps it until clearOverride(). Every process sharing the store honours it from
     * its next check.
     *
     * @throws ThrottleKitException UnsupportedException on a policy without the block or on
     *                              the service door
     */
    public function setOverride(string $policy, string $key, string $spec, int $ttlMs = 0): void
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0") || str_contains($spec, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $this->ffi->tk_set_override($h, $policy, $key, $spec, $ttlMs, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
    }

    /**
     * Removes the override record of $key under $policy (nothing when there is none).
     *
     * @throws ThrottleKitException
     */
    public function clearOverride(string $policy, string $key): void
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $rc = $this->ffi->tk_clear_override($h, $policy, $key, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
    }

    /**
     * Takes a slot of a concurrency policy (docs/admission.md): an Admission, allowed or refused
     * ($a->bindingAxis says by which axis). The caller releases it: $a->release(), or use
     * withAdmission(). $nowMs: an explicit clock (Redis door only).
     */
    public function admit(string $policy, string $key, int $cost = 1, ?int $nowMs = null): Admission
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $a = $this->ffi->new('tk_admission_t');
        $rc = $nowMs === null
            ? $this->ffi->tk_admit($h, $policy, $key, $cost, \FFI::addr($a), $this->errPtr)
            : $this->ffi->tk_admit_at($h, $policy, $key, $cost, $nowMs, \FFI::addr($a), $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $d = $a->decision;
        return new Admission($this, $policy, $key,
            Decision::fromNative($d),
            \FFI::string($a->lease_id), $a->lease_expires_at_ms, \FFI::string($a->binding_axis), $a->policy_denied !== 0);
    }

    /**
     * Admits, calls $fn with the Admission (allowed or not) and releases it when $fn returns,
     * dropped when $fn threw (the exception propagates). Returns what $fn returned.
     *
     * @template T
     * @param callable(Admission): T $fn
     * @return T
     */
    public function withAdmission(string $policy, string $key, callable $fn): mixed
    {
        $a = $this->admit($policy, $key);
        try {
            $result = $fn($a);
        } catch (\Throwable $e) {
            $a->release(true);
            throw $e;
        }
        $a->release(false);
        return $result;
    }

    /** Gives back the slot of $leaseId, admitted with $policy and $key; an unknown id is fine. */
    public function release(string $policy, string $key, string $leaseId, bool $dropped = false, ?int $nowMs = null): void
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        self::noNul($leaseId, 'the lease id');
        $rc = $nowMs === null
            ? $this->ffi->tk_release($h, $policy, $key, $leaseId, $dropped ? 1 : 0, $this->errPtr)
            : $this->ffi->tk_release_at($h, $policy, $key, $leaseId, $dropped ? 1 : 0, $nowMs, $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
    }

    /**
     * Renews the leases (admitted with $policy and $key) that are live and returns the ids
     * that are not (released or reclaimed: their work counts as dropped).
     *
     * @param list<string> $leaseIds
     * @return list<string>
     */
    public function heartbeat(string $policy, string $key, array $leaseIds, ?int $nowMs = null): array
    {
        $h = $this->pid === getmypid() ? $this->handle : $this->handle();
        if (str_contains($key, "\0") || str_contains($policy, "\0")) {
            self::nulArgument($policy, $key);
        }
        $ids = array_values($leaseIds);
        $n = count($ids);
        $ffi = $this->ffi;
        $keep = [];
        $ptrs = null;
        $reclaimed = null;
        if ($n > 0) {
            $ptrs = $ffi->new("const char *[$n]");
            foreach ($ids as $i => $id) {
                if (!is_string($id)) {
                    throw new InvalidArgumentException(sprintf('leaseIds[%d] must be a string, got %s', $i, get_debug_type($id)));
                }
                self::noNul($id, "leaseIds[$i]");
                $keep[$i] = $this->cString($id);
                $ptrs[$i] = \FFI::addr($keep[$i][0]);
            }
            $reclaimed = $ffi->new("size_t[$n]");
        }
        $count = $ffi->new('size_t');
        $rc = $nowMs === null
            ? $ffi->tk_heartbeat($h, $policy, $key, $ptrs, $n, $reclaimed, \FFI::addr($count), $this->errPtr)
            : $ffi->tk_heartbeat_at($h, $policy, $key, $ptrs, $n, $nowMs, $reclaimed, \FFI::addr($count), $this->errPtr);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $out = [];
        for ($i = 0; $i < $count->cdata; $i++) {
            $out[] = $ids[$reclaimed[$i]];
        }
        return $out;
    }

    /**
     * Closes the client: frees the native handle when this process opened it, and only drops
     * it in a forked child. Idempotent; never throws. Later calls throw ClosedException.
     */
    public function close(): void
    {
        try {
            $this->closed = true;
            $h = $this->handle;
            $mine = $this->pid === getmypid();
            $this->handle = null;
            $this->pid = null;
            if ($h !== null && $mine && $this->ffi !== null) {
                $this->ffi->tk_free($h);
            }
        } catch (\Throwable) {
            // Never throw from close(): it runs in destructors and at shutdown.
        }
    }

    public function __destruct()
    {
        $this->close();
    }

    /** A clone would share (and double-free) the native handle. */
    public function __clone()
    {
        throw new \LogicException('a ThrottleKit\\Client cannot be cloned; build another one');
    }

    /** @return array<string, mixed> what var_dump shows: no policies, no secrets */
    public function __debugInfo(): array
    {
        return ['door' => $this->memoryDoor ? 'memory' : ($this->redisDoor ? 'redis' : 'service'), 'open' => $this->handle !== null,
            'closed' => $this->closed];
    }

    /** Serializing a client would copy a process-local handle. */
    public function __serialize(): array
    {
        throw new \LogicException('a ThrottleKit\\Client cannot be serialized');
    }

    // ---- Internals ----------------------------------------------------------------------------

    /** The handle of this process, opened now if needed (the slow path of every call). */
    private function handle(): int
    {
        if ($this->closed) {
            throw new ClosedException('the ThrottleKit client is closed', -2);
        }
        if ($this->handle !== null) {
            if ($this->pid === getmypid()) {
                return $this->handle;
            }
            throw new ForkedException(sprintf('this ThrottleKit client was opened in process %d and cannot be used in '
                . 'its forked child %d: build and use clients after the fork (or only use them in children)',
                $this->pid, getmypid()), -8);
        }
        $ffi = $this->ffi ??= Native::load($this->options['lib'] ?? null, $this->options['ffi_header'] ?? null);
        if ($this->err === null) {
            $this->err = $ffi->new('tk_error_t');
            $this->errPtr = \FFI::addr($this->err);
            $this->dec = $ffi->new('tk_decision_t');
            $this->decPtr = \FFI::addr($this->dec);
            $this->fc = $ffi->new('tk_forecast_t');
            $this->fcPtr = \FFI::addr($this->fc);
        }

        $opts = $ffi->new('tk_options_t');
        $ffi->tk_options_init(\FFI::addr($opts));
        $o = $this->options;
        $opts->timeout_ms = $o['timeout_ms'] ?? 0;
        $opts->fail_mode = $o['fail_mode'] ?? self::FAIL_ERROR;
        $opts->auto_pipeline = ($o['auto_pipeline'] ?? true) ? 0 : -1;
        $opts->lease_ttl_ms = $o['lease_ttl_ms'] ?? 0;
        $opts->lease_heartbeat = ($o['lease_heartbeat'] ?? false) ? 1 : 0;
        $opts->shadow = ($o['shadow'] ?? false) ? 1 : 0; // every denial admitted, flagged
        $keep = []; // the C copies of the option strings, alive until tk_open_* returns
        foreach (self::STRING_OPTIONS as $name) {
            if (isset($o[$name])) {
                $keep[$name] = $this->cString($o[$name]);
                $opts->{$name} = \FFI::addr($keep[$name][0]);
            }
        }
        $out = $ffi->new('tk_handle_t');
        $rc = match (true) {
            $this->memoryDoor => $ffi->tk_open_memory($this->policiesYaml, \FFI::addr($opts), \FFI::addr($out), $this->errPtr),
            $this->redisDoor => $ffi->tk_open_redis($this->target, $this->policiesYaml, \FFI::addr($opts),
                \FFI::addr($out), $this->errPtr),
            default => $ffi->tk_open_service($this->target, \FFI::addr($opts), \FFI::addr($out), $this->errPtr),
        };
        unset($keep);
        if ($rc !== 0) {
            throw $this->error($rc);
        }
        $this->handle = $out->cdata;
        $this->pid = getmypid();
        return $this->handle;
    }

    private function cString(string $s): \FFI\CData
    {
        $buf = $this->ffi->new('char[' . (strlen($s) + 1) . ']');
        if ($s !== '') {
            \FFI::memcpy($buf, $s, strlen($s));
        }
        return $buf;
    }

    /** The exception for a failed call's status, with the library's message. */
    private function error(int $rc): ThrottleKitException
    {
        $message = \FFI::string($this->err->message);
        if ($message === '') {
            $message = $this->ffi->tk_strerror($rc);
        }
        return self::exceptionFor($rc, $message);
    }

    /** @internal the exception class of each tk_status_t */
    public static function exceptionFor(int $status, string $message): ThrottleKitException
    {
        return match ($status) {
            -1 => new InvalidArgumentException($message, $status),
            -2 => new ClosedException($message, $status),
            -3 => new PolicyNotFoundException($message, $status),
            -4 => new UnsupportedException($message, $status),
            -5 => new UnavailableException($message, $status),
            -6 => new TimeoutException($message, $status),
            -7 => new ConfigException($message, $status),
            -8 => new ForkedException($message, $status),
            -10 => new AuthException($message, $status),
            default => new InternalException($message, $status),
        };
    }

    /**
     * One checkAll() item as [policy, key, cost]; its errors name it as the library's do.
     *
     * @return array{0: string, 1: string, 2: int}
     */
    private static function checkItem(mixed $item, int $i): array
    {
        if ($item instanceof CheckItem) {
            [$policy, $key, $cost] = [$item->policy, $item->key, $item->cost];
        } elseif (is_array($item) && array_is_list($item)) {
            if (count($item) < 2 || count($item) > 3) {
                throw new InvalidArgumentException(sprintf('items[%d]: expected [policy, key] or [policy, key, cost], '
                    . 'got %d elements', $i, count($item)), -1);
            }
            [$policy, $key, $cost] = $item + [2 => 1];
        } elseif (is_array($item)) {
            $unknown = array_diff(array_keys($item), ['policy', 'key', 'cost']);
            if ($unknown) {
                throw new InvalidArgumentException(sprintf("items[%d]: unknown field '%s'", $i, reset($unknown)), -1);
            }
            if (!isset($item['policy'], $item['key'])) {
                throw new InvalidArgumentException(sprintf("items[%d]: 'policy' and 'key' are required", $i), -1);
            }
            [$policy, $key, $cost] = [$item['policy'], $item['key'], $item['cost'] ?? 1];
        } else {
            throw new InvalidArgumentException(sprintf('items[%d]: expected an array or a CheckItem, got %s', $i,
                get_debug_type($item)), -1);
        }
        foreach (['policy' => $policy, 'key' => $key] as $what => $value) {
            if (!is_string($value)) {
                throw new InvalidArgumentException(sprintf('items[%d]: %s must be a string, got %s', $i, $what,
                    get_debug_type($value)), -1);
            }
            self::noNul($value, "items[$i]: $what");
        }
        if (!is_int($cost)) {
            throw new InvalidArgumentException(sprintf('items[%d]: cost must be an int, got %s', $i,
                get_debug_type($cost)), -1);
        }
        return [$policy, $key, $cost];
    }

    private static function noNul(string $value, string $what): void
    {
        if (str_contains($value, "\0")) {
            throw new InvalidArgumentException("$what contains a NUL byte", -1);
        }
    }

    private static function nulArgument(string $policy, string $key): never
    {
        self::noNul($policy, 'the policy name');
        self::noNul($key, 'the key');
        throw new \LogicException('unreachable');
    }

    /**
     * @param array<mixed> $options
     * @return array<string, mixed>
     */
    private static function validateOptions(array $options): array
    {
        foreach ($options as $name => $value) {
            if (!in_array($name, self::KNOWN_OPTIONS, true)) {
                throw new InvalidArgumentException(sprintf("unknown option '%s' (known: %s)", $name,
                    implode(', ', self::KNOWN_OPTIONS)), -1);
            }
            if ($value === null) {
                unset($options[$name]);
                continue;
            }
            switch ($name) {
                case 'timeout_ms':
                case 'lease_ttl_ms':
                    if (!is_int($value) || $value < 0 || $value > 0x7fffffff) {
                        throw new InvalidArgumentException("option $name must be an int from 0 to 2^31-1, got "
                            . var_export($value, true), -1);
                    }
                    break;
                case 'fail_mode':
                    if (is_string($value) && isset(self::FAIL_MODES[$value])) {
                        $options[$name] = self::FAIL_MODES[$value];
                    } elseif (!in_array($value, self::FAIL_MODES, true)) {
                        throw new InvalidArgumentException("option fail_mode must be 'error', 'open' or 'closed', got "
                            . var_export($value, true), -1);
                    }
                    break;
                case 'auto_pipeline':
                case 'lease_heartbeat':
                case 'shadow':
                    if (!is_bool($value)) {
                        throw new InvalidArgumentException("option $name must be a bool", -1);
                    }
                    break;
                default: // lib, ffi_header and the string options
                    if (!is_string($value)) {
                        throw new InvalidArgumentException("option $name must be a string, got " . get_debug_type($value), -1);
                    }
                    self::noNul($value, "option $name");
            }
        }
        return $options;
    }
}
