/*
 * throttlekit.h - the ThrottleKit C API (libthrottlekit).
 *
 * ThrottleKit is distributed rate limiting: every decision is computed by the ThrottleKit Lua
 * scripts, run inside the Redis a fleet shares (the "Redis door") or by throttlekit-server
 * (the "service door"). This library gives C, C++, Ruby (ffi), PHP (FFI) and nginx modules
 * both doors through one small, stable ABI.
 *
 * Conventions
 *   - Every name has the prefix tk_ / TK_. Handles are opaque 64-bit numbers; 0 is never valid.
 *   - Every function returns TK_OK (0) or a negative tk_status_t. A denial is TK_OK with
 *     decision.allowed == 0, never an error.
 *   - Outputs live in caller-owned structs. Strings the library returns (tk_strerror,
 *     tk_version) are static. Nothing needs freeing except a handle, with tk_free.
 *   - err (tk_error_t *) may be NULL everywhere; when given, it is always filled: status and a
 *     NUL-terminated message ("" on success). Messages never contain a password or token.
 *   - Times are epoch milliseconds (reset_at_ms, now_ms) or durations in milliseconds.
 *
 * Threads: every function may be called from any thread at any time, concurrently, on the same
 * handle. No call holds a lock a caller could deadlock on.
 *
 * Fork: the library loads its Go core, and with it the Go runtime, at the first tk_open_* in
 * a process (a process counts as started from its first tk_open_*, whether that open succeeds
 * or not); merely loading libthrottlekit starts nothing.
 * Go cannot survive fork(): in a child of a process that had started the core, every call,
 * tk_open_* included, returns TK_E_FORKED at once. A child whose parent never called
 * tk_open_* works normally. Forking hosts (nginx workers, PHP-FPM, Unicorn, Puma) therefore
 * open their handles after the fork, in each child.
 *
 * Signals: loading the library installs nothing. From the first tk_open_* on, the Go runtime
 * has handlers for SIGSEGV, SIGBUS, SIGFPE (faults in Go code), SIGURG (its own preemption)
 * and SIGPIPE; each passes signals that are not Go's to the handler the host had installed
 * before (or to the default action), and the core never subscribes to a signal, so no
 * asynchronous signal is taken from the host. Handlers the host installs after the first
 * tk_open_* must use SA_ONSTACK (the Go runtime's rule) and should chain to the previous
 * handler for those five signals.
 *
 * Time bounds: every call that touches the network returns within the handle's timeout
 * (connecting and retries included) with a decision, TK_E_UNAVAILABLE or TK_E_TIMEOUT, or the
 * fail mode's synthesized decision.
 */
#ifndef THROTTLEKIT_H
#define THROTTLEKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TK_VERSION_MAJOR 0
#define TK_VERSION_MINOR 1
#define TK_VERSION_PATCH 0

/* An open limiter. 0 is never a valid handle. */
typedef uint64_t tk_handle_t;

/* What a call returned. An enum rather than #defines, so that PHP FFI sees the values. */
typedef enum tk_status {
  TK_OK = 0,
  TK_E_INVALID = -1,     /* bad input: NULL pointer, negative cost, key too long, bad URL ... */
  TK_E_BADHANDLE = -2,   /* handle 0, never issued, or already freed */
  TK_E_NOT_FOUND = -3,   /* unknown policy name */
  TK_E_UNSUPPORTED = -4, /* the operation does not apply to the policy or the door */
  TK_E_UNAVAILABLE = -5, /* the backend cannot be reached (refused, reset, transient state) */
  TK_E_TIMEOUT = -6,     /* the per-call timeout passed */
  TK_E_CONFIG = -7,      /* the policy file is malformed or invalid */
  TK_E_FORKED = -8,      /* called in a forked child of a process that had used the library */
  TK_E_INTERNAL = -9,    /* a fault of the library or the backend's logic (a bug: report it) */
  TK_E_AUTH = -10        /* credentials refused: NOAUTH/WRONGPASS, TLS failure, bad token */
} tk_status_t;

/* What a Check does when the backend is unavailable or times out. */
typedef enum tk_fail_mode {
  TK_FAIL_ERROR = 0,  /* return TK_E_UNAVAILABLE / TK_E_TIMEOUT: the caller decides (default) */
  TK_FAIL_OPEN = 1,   /* admit: a synthesized decision with allowed = 1 */
  TK_FAIL_CLOSED = 2  /* deny: a synthesized decision with allowed = 0 */
} tk_fail_mode_t;

/* tk_decision_t.flags bits. */
enum {
  TK_DECISION_SYNTHESIZED = 1, /* made by the fail mode, not by the limiter */
  TK_DECISION_SHADOW = 2,      /* a shadow-mode policy (shadow: true) denied; the call was
                                  admitted anyway (allowed = 1; remaining and retry_after_ms
                                  are the limiter's, for logs) */
  TK_DECISION_LOCAL = 4,       /* answered from local credits or a cached denial, no round trip
                                  (two-tier policies) */
  TK_DECISION_OVERRIDE = 8     /* the key's override decided: a record set with tk_set_override
                                  or the policy file's overrides: entry for the key (unlimited,
                                  deny, or other fields of the strategy) */
};

/*
 * Options for tk_open_*. Initialise with tk_options_init, then set what you need. The struct
 * only ever grows by appending fields: the library reads struct_size bytes, so a program built
 * against an older header keeps working (missing fields take their defaults), and a newer
 * header's extra fields are refused (TK_E_INVALID) unless they are zero. struct_size may be
 * at most 4,096: a larger one cannot be a tk_options_t and is refused (TK_E_INVALID) before
 * any byte past this library's sizeof(tk_options_t) is read. Strings are copied during
 * tk_open_*; the caller may free them afterwards.
 */
typedef struct tk_options {
  uint32_t struct_size;          /* sizeof(tk_options_t); tk_options_init sets it */
  int32_t timeout_ms;            /* per call, connecting included; 0 = default 500; < 0 invalid */
  int32_t fail_mode;             /* tk_fail_mode_t; default TK_FAIL_ERROR */
  int32_t local_max_keys;        /* two-tier policies (leased, cached-deny) on the Redis door and
                                    tk_open_memory: the keys a handle holds local credits or
                                    denials for, per policy; past it the oldest goes (its credits
                                    are forfeited). 0 = default 100,000; < 0 invalid */
  const char *key_namespace;     /* Redis door: "ns" makes keys "ns:<prefix>:<key>"; NULL = none */
  const char *tls_ca_file;       /* PEM CA bundle to trust: for rediss:// on the Redis door, and
                                    TLS for the service door; NULL = the system's */
  const char *tls_cert_file;     /* client certificate (mutual TLS), either door; NULL = none */
  const char *tls_key_file;      /* its private key; given together with tls_cert_file */
  const char *auth_token;        /* service door: sent as "authorization: Bearer <token>" */
  int32_t auto_pipeline;         /* 0 = default (on): coalesce concurrent calls; -1 = off.
                                    Redis door: calls that arrive while others are in flight
                                    share pipelines (same decisions, fewer round trips); a lone
                                    caller is never delayed. Service door: concurrent checks
                                    of one policy and cost travel as one CheckMany RPC (the
                                    server decides them at one instant). 1 = on. */
  int32_t shadow;                /* 1 = shadow mode for every policy on this handle: checks the
                                    limiters deny are admitted, flagged TK_DECISION_SHADOW (as
                                    shadow: true in a policy; in tk_check_all a denying item
                                    refuses no other); 0 = off (the policies decide) */
  int32_t lease_ttl_ms;          /* Redis door: how long a tk_admit lease lives unless renewed;
                                    0 = default 2,000; < 0 invalid. Service door: ignored (the
                                    server's --lease-ttl decides) */
  int32_t lease_heartbeat;       /* 1 = the handle renews, in the background, every lease
                                    tk_admit issued on it until tk_release on it (any policy
                                    and key) or tk_free: a long hold needs no tk_heartbeat calls.
                                    Renewals run every half lease TTL (1 s by default); a lease
                                    the store no longer holds is dropped from the renewals.
                                    0 = off (default); other values invalid */
} tk_options_t;

/* The outcome of a check, peek or debit. */
typedef struct tk_decision {
  int32_t allowed;               /* 1 admitted, 0 denied */
  int32_t flags;                 /* TK_DECISION_* bits: SYNTHESIZED (the fail mode made it),
                                    SHADOW (a shadow policy denied, admitted anyway), LOCAL,
                                    OVERRIDE (the key's override decided) */
  int64_t limit;                 /* the effective ceiling (burst for gcra, capacity for tokenBucket) */
  int64_t remaining;             /* units left after this call, never negative */
  int64_t reset_at_ms;           /* epoch ms when fully replenished; 0 when synthesized */
  int64_t retry_after_ms;        /* how long to wait before a retry can pass; 0 when allowed */
  int64_t window_ms;             /* the policy's window, for RateLimit-Policy's w=: gcra's period,
                                    the window of the windowed strategies and token budgets,
                                    tokenBucket's time to refill from empty, a quota's period
                                    (a calendar month's own length); 0 when unknown (synthesized,
                                    an admitter, a server older than this library) */
  int64_t reserved[3];           /* zero today; room for new attributes without an ABI break */
} tk_decision_t;

/* What a limiter can still give, without consuming anything. */
typedef struct tk_forecast {
  int64_t spendable_now;         /* how many requests of the asked cost would pass now */
  int64_t next_replenish_at_ms;  /* epoch ms of the next replenishment */
  int64_t full_at_ms;            /* epoch ms at which the limiter is full again */
} tk_forecast_t;

/* Why a call failed, in words. */
typedef struct tk_error {
  int32_t status;                /* the value the call returned */
  char message[256];             /* NUL-terminated; "" on success */
} tk_error_t;

/* ---- Library information (never start the Go core) ------------------------------------- */

/* The library's version, e.g. "0.1.0". Static; never freed. */
const char *tk_version(void);

/* A static, human-readable description of a status (any int; unknown values have one too). */
const char *tk_strerror(int status);

/* Zero *opts and set opts->struct_size. Does nothing when opts is NULL. It writes this
   library's sizeof(tk_options_t) bytes: a binding that declares the struct itself (FFI) must
   pass a buffer at least that large, then may set struct_size to its own, smaller, size. */
void tk_options_init(tk_options_t *opts);

/* ---- Opening and closing ----------------------------------------------------------------- */

/*
 * Open the Redis door: the policies of policies_yaml (the text of a ThrottleKit policy file)
 * evaluated in the Redis at redis_url:
 *   redis://[user:password@]host:port[/db]          one node; rediss:// for TLS
 *   redis+cluster://host1:port,host2:port,...        Redis Cluster (any subset of the nodes;
 *                                                    rediss+cluster:// for TLS; ?addr=h:p too)
 *   redis+sentinel://host1:port,host2:port/master    Sentinel (rediss+sentinel:// for TLS)
 * A host is a DNS name (at most 253 bytes of letters, digits, '-', '_' and '.'), an IPv4
 * address, or an IPv6 address in brackets ([::1]:6379); a port is 1..65535 (default 6379,
 * 26379 for sentinels). A cluster or sentinel URL names at most 64 seed nodes, the host
 * list and ?addr= together (any few nodes of a cluster find the others; each seed tried
 * costs the first call of a handle time). Anything else is TK_E_INVALID here, at open, with
 * a message naming the problem (never the password).
 * opts may be NULL (defaults). Nothing is dialled: opening succeeds while Redis is down, and
 * reachability shows per call. On success *out is the new handle, to be released with tk_free.
 * Errors: TK_E_INVALID (NULL argument, malformed URL, bad options), TK_E_CONFIG (policies),
 * TK_E_FORKED, TK_E_INTERNAL (the core could not be loaded: the message says where it looked).
 */
int tk_open_redis(const char *redis_url, const char *policies_yaml, const tk_options_t *opts,
                  tk_handle_t *out, tk_error_t *err);

/*
 * Open the service door: throttlekit-server (gRPC throttlekit.v1) at target "host:port".
 * The server holds the policies; the same functions work as on the Redis door, except the
 * explicit-clock twins (TK_E_UNSUPPORTED), and keys must be valid UTF-8 (TK_E_INVALID before
 * sending). Nothing is dialled: opening succeeds while the server is down. The library's fail
 * mode applies when the server cannot be reached (its synthesized decisions report limit 0:
 * the policies are the server's); a decision the server's own fail mode made carries
 * TK_DECISION_SYNTHESIZED too. Errors: TK_E_INVALID (NULL argument, malformed target, bad
 * options), TK_E_FORKED, TK_E_INTERNAL.
 */
int tk_open_service(const char *target, const tk_options_t *opts, tk_handle_t *out,
                    tk_error_t *err);

/*
 * Open the embedded engine: the same API with no Redis and no server. The decisions are the
 * same Lua scripts' as on the Redis door, run in this process on its own keyspace (keys, TTLs
 * and state as Redis would hold them), so nothing is shared with other processes: each handle
 * is its own store, and a forking host gets one per worker. For tests and single-process
 * programs. Every call of the Redis door works, `_at` twins included; the clock is this
 * process's. The keyspace holds at most 1,000,000 keys and 512 MiB of state; past that it
 * evicts keys near their expiry first (sampled, as Redis's maxmemory policy does). opts may
 * be NULL; its fail_mode never applies (the engine cannot be unreachable). Errors: TK_E_INVALID (NULL argument, bad options), TK_E_CONFIG
 * (policies), TK_E_FORKED, TK_E_INTERNAL.
 */
int tk_open_memory(const char *policies_yaml, const tk_options_t *opts, tk_handle_t *out,
                   tk_error_t *err);

/*
 * Close a handle. Calls already running on it finish normally; calls that start afterwards
 * get TK_E_BADHANDLE; tk_free returns once the running calls are done. A second tk_free of
 * the same handle, or a handle never issued, returns TK_E_BADHANDLE. Asynchronous calls still
 * in flight complete with TK_E_BADHANDLE first, and the completion fd is closed (see
 * "Asynchronous checks" below for collecting the last completions).
 */
int tk_free(tk_handle_t h);

/* ---- Decisions -------------------------------------------------------------------------- */

/*
 * Consume cost units of policy for key, at the backend's clock. cost 0 means 1; a negative
 * cost, or one above 2^53 - 1, is TK_E_INVALID. key is 0 to 4,096 bytes, NUL-terminated; on
 * the Redis door any other bytes are fine, on the service door it must be valid UTF-8.
 * Errors: TK_E_NOT_FOUND (unknown policy), TK_E_UNSUPPORTED (a token-budget policy),
 * TK_E_UNAVAILABLE / TK_E_TIMEOUT (unless the fail mode synthesizes a decision), ...
 * A two-tier policy (twoTier: cached-deny or leased) is answered from the handle's own
 * credits or remembered denials when it can, flagged TK_DECISION_LOCAL: see
 * docs/two-tier.md for what that means for accuracy across processes.
 */
int tk_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_decision_t *out, tk_error_t *err);

/*
 * tk_check for n keys at one single instant: out receives n decisions, in the order of keys
 * (duplicates apply in order). Each key is decided on its own (see tk_check_all for all or
 * nothing). On an error no decision is valid and no key is charged (on a Redis Cluster, per
 * slot: docs/redis-keys.md, "Batches"). n == 0 is TK_OK (keys and out may then be NULL).
 */
int tk_check_many(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                  int64_t cost, tk_decision_t *out, tk_error_t *err);

/* Whether a check of cost 1 would pass now, with what remains now (before that check
   consumes anything): consumes nothing. Works on token budgets too (the budget left).
   TK_E_UNSUPPORTED on cached-deny and leased two-tier policies (so is tk_forecast). */
int tk_peek(tk_handle_t h, const char *policy, const char *key, tk_decision_t *out,
            tk_error_t *err);

/* How many requests of cost (0 means 1) could pass now, and when capacity returns. */
int tk_forecast(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_forecast_t *out, tk_error_t *err);

/*
 * Debit tokens (0 means 1) spent after the fact against a token-budget policy. allowed == 0
 * means the budget of the current window was already spent (and this debit was not counted).
 * TK_E_UNSUPPORTED on a rate-limit policy.
 */
int tk_debit(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
             tk_decision_t *out, tk_error_t *err);

/* One entry of tk_check_all: a policy, a key and a cost (0 means 1). The strings are read during
   the call only. */
typedef struct tk_check_item {
  const char *policy;
  const char *key;
  int64_t cost;
} tk_check_item_t;

/*
 * Several limits, all or nothing ("10 per second per IP and 1,000 per day per account"): every
 * item is checked at one instant; when all allow, all are consumed and *all_allowed is 1; when
 * any denies, none is consumed, *all_allowed is 0, and out[i].allowed says which denied (an
 * entry that allowed reports the remaining it would have left). out receives n decisions in the
 * order of items; an item may repeat a key (applied in order). One atomic run on the Redis door
 * and the embedded engine, one CheckAll RPC on the service door. On a Cluster URL the keys of
 * one call must map to one slot, so give them one hash tag ({user42}:ip and {user42}:day; only
 * the part in braces is hashed): otherwise TK_E_INVALID naming the rule. A single node or
 * Sentinel takes any keys. A failed call consumes nothing; under the fail mode each item gets
 * its own policy's synthesized decision. all_allowed may be NULL; n == 0 is TK_OK (items and
 * out may then be NULL) with *all_allowed 1. Errors name the item: "items[2]: ...".
 */
int tk_check_all(tk_handle_t h, const tk_check_item_t *items, size_t n, tk_decision_t *out,
                 int32_t *all_allowed, tk_error_t *err);

/*
 * Forget a key's state under policy, whatever its strategy: its limiter is full again ("clear
 * the login counter on success"). A key with no state is TK_OK too. No fail mode applies.
 */
int tk_reset(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);

/*
 * Give back cost units (0 means 1) that a check consumed, or tokens a debit counted on a token
 * budget ("the request was not processed"), never beyond a full limiter; computed in Lua like
 * every decision. out is the Decision tk_peek gives right after. Per strategy: gcra moves its
 * arrival time back; tokenBucket refills; fixedWindow, quota and tokenBudget lower the current
 * period's count; slidingWindow lowers the window's newest buckets; slidingWindowLog drops
 * its newest entries. Units of a period already over are not given back (it is full anyway).
 * No fail mode applies: an error means nothing was given back.
 */
int tk_refund(tk_handle_t h, const char *policy, const char *key, int64_t cost, tk_decision_t *out,
              tk_error_t *err);

/*
 * Per-key overrides kept in the store (docs/policies.md, docs/redis-keys.md): paid tiers,
 * allow and deny lists changed for a whole fleet without a deploy. tk_set_override stores the
 * override of key under policy, a policy with an `overrides:` block (even `overrides: {}`):
 * spec is "unlimited" (never limited, never counted), "deny" (always denied, never counted), or
 * name=value pairs of the strategy's fields separated by "," ("limit=4", "limit=10,windowMs=1h"),
 * validated exactly as the file's overrides are (at most 4,096 bytes). ttl_ms 0 keeps it until
 * tk_clear_override; otherwise it expires after ttl_ms. Every check of the key (tk_check,
 * tk_check_many, tk_check_all, tk_check_async) on every process sharing the store honours it
 * from its next call, before the file's entry for the key; such decisions carry
 * TK_DECISION_OVERRIDE. Peeks, forecasts and refunds answer the policy's own fields.
 * tk_clear_override removes the record (TK_OK when there is none). On tk_open_memory they set
 * the engine's own record (this process). Errors: TK_E_INVALID (NULL argument, bad spec,
 * ttl_ms < 0), TK_E_NOT_FOUND, TK_E_UNSUPPORTED (a policy without an overrides block; the
 * service door), TK_E_UNAVAILABLE, TK_E_TIMEOUT. No fail mode applies.
 */
int tk_set_override(tk_handle_t h, const char *policy, const char *key, const char *spec,
                    int64_t ttl_ms, tk_error_t *err);
int tk_clear_override(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);

/*
 * Explicit-clock twins, for replay and tests: the same operation evaluated at now_ms (epoch
 * ms, > 0) instead of the Redis server's clock. The service door answers TK_E_UNSUPPORTED.
 */
int tk_check_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_check_many_at(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                     int64_t cost, int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_peek_at(tk_handle_t h, const char *policy, const char *key, int64_t now_ms,
               tk_decision_t *out, tk_error_t *err);
int tk_forecast_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   int64_t now_ms, tk_forecast_t *out, tk_error_t *err);
int tk_debit_at(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_check_all_at(tk_handle_t h, const tk_check_item_t *items, size_t n, int64_t now_ms,
                    tk_decision_t *out, int32_t *all_allowed, tk_error_t *err);

/* ---- Asynchronous checks ---------------------------------------------------------------- *
 *
 * For event-loop hosts (nginx, an epoll server, libuv) that must not block a thread on a
 * network round trip. Each handle keeps a completion queue signalled through a file
 * descriptor:
 *
 *   1. tk_completion_fd gives the handle's fd; add it to your event loop for reading.
 *   2. tk_check_async queues a check tagged with your cookie and returns at once.
 *   3. When the fd is readable, tk_poll takes the completions waiting, without blocking.
 *
 * Every call tk_check_async accepted (TK_OK) completes exactly once, within the handle's
 * timeout (tk_options_t.timeout_ms, counted from tk_check_async): with a decision, an error
 * status, or the fail mode's synthesized decision, exactly as tk_check would have answered.
 * Completions arrive in the order the checks finish, not the order they were queued: match
 * them by cookie. Concurrent asynchronous checks are auto-pipelined like concurrent
 * tk_check calls (tk_options_t.auto_pipeline). On a handle opened on one Redis over plain
 * TCP (redis://), they travel on one connection of their own, dialled on first use: each call
 * is written as it comes when nothing is out, else with the batch that follows the replies
 * being read, so a busy event loop's checks share round trips without any thread waiting.
 * There is no limit on the calls in flight besides memory (a few KB each while running); tens
 * of thousands are fine.
 *
 * Threads: all three functions may be called from any thread, concurrently with each other
 * and with every other function; usually one event-loop thread does all of it.
 *
 * Freeing: tk_free on a handle with calls in flight completes each of them with
 * TK_E_BADHANDLE at once ("freed before this call completed"), cancels the checks still
 * running and returns when they have stopped (within the timeout); it closes the fd. Remove
 * the fd from your event loop (epoll_ctl EPOLL_CTL_DEL, ngx_del_event, uv_poll_stop) before
 * calling tk_free. The completions not yet polled when tk_free returns (those it made and any
 * earlier ones) all wait already, so collect them with tk_poll on the freed handle, without
 * the fd: tk_poll keeps answering TK_OK for the freed handle until it has delivered the last
 * of them, then the handle is forgotten and tk_poll returns TK_E_BADHANDLE like every other
 * function. So after tk_free, call tk_poll until it returns fewer than max completions (or an
 * error); until then the handle's leftover completions stay in memory. If nothing was left,
 * the first tk_poll after tk_free already returns TK_E_BADHANDLE.
 *
 * Fork: as everywhere, in a child of a process that had started the library, these return
 * TK_E_FORKED (tk_poll: with *n_out = 0); the child inherits the fd (close-on-exec, never
 * to be used in the child) but can reach none of the parent's calls.
 */

/* One finished asynchronous call, as tk_poll delivers it. */
typedef struct tk_completion {
  uint64_t cookie;               /* the tag given to the *_async call, as given */
  int32_t status;                /* TK_OK or a negative TK_E_* status, as tk_check would return */
  int32_t reserved0;             /* 0 */
  tk_decision_t decision;        /* valid when status == TK_OK (flags has
                                    TK_DECISION_SYNTHESIZED when the fail mode made it); zero
                                    otherwise */
  char message[128];             /* NUL-terminated; "" when a check succeeded (an admit's
                                    completion carries its lease id or binding axis here: see
                                    "Asynchronous admission"); else why it failed. Shorter than
                                    tk_error_t.message: a longer text is cut (on a UTF-8
                                    character boundary) */
} tk_completion_t;

/*
 * The handle's completion fd, in *fd_out (-1 on error). The same fd for the handle's whole
 * life (created on the first tk_completion_fd or tk_check_async of the handle); owned by the
 * handle: do not read, write or close it, only wait on it (poll, epoll, select, kqueue-style
 * loops). It is non-blocking and close-on-exec. Level semantics: it is readable exactly while
 * completions wait, and stops being readable once tk_poll has taken the last one. With
 * edge-triggered waiting (EPOLLET, as nginx uses), drain on every wake-up: call tk_poll until
 * it returns fewer than max; a new edge comes only when the queue goes from empty to
 * non-empty. Closed by tk_free. Errors: TK_E_INVALID (fd_out NULL), TK_E_BADHANDLE,
 * TK_E_FORKED, TK_E_INTERNAL (no eventfd could be created, e.g. out of descriptors).
 */
int tk_completion_fd(tk_handle_t h, int *fd_out, tk_error_t *err);

/*
 * Queue a tk_check(h, policy, key, cost) and return at once, without waiting for the
 * network. TK_OK means queued: the call will complete exactly once, within the handle's
 * timeout, with cookie (any value; the library never interprets it) in its tk_completion_t.
 * policy and key are copied before this returns; the call keeps no pointer to caller memory.
 * Errors that need no network are returned here, and such a call is never queued (nothing
 * will complete for it): TK_E_INVALID (NULL or empty policy, NULL key, key over 4,096 bytes,
 * negative cost or cost > 2^53 - 1, a non-UTF-8 key on the service door), TK_E_BADHANDLE,
 * TK_E_FORKED, and on the Redis door TK_E_NOT_FOUND (unknown policy) and TK_E_UNSUPPORTED
 * (a token-budget meter). On the service door the server knows the policies, so those two
 * arrive as completions. There is no explicit-clock twin: async checks use the backend's
 * clock.
 */
int tk_check_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err);

/*
 * tk_check_async, answering at once when it can (ours, beside c-abi.md's functions). When the
 * decision is known before the call returns, it is written to *out, *done is set to 1, and
 * nothing is queued: no completion will come for cookie. That is every answer of the embedded
 * engine (tk_open_memory) and, on the Redis door, a two-tier policy's local answer (from the
 * handle's credits or a remembered denial: TK_DECISION_LOCAL in out->flags); a fail mode's
 * decision made at once (TK_DECISION_SYNTHESIZED) is answered the same way. Otherwise *done is
 * 0 and, on TK_OK, the call completes exactly once through the handle's queue, as
 * tk_check_async's would (cookie, the timeout, tk_free, errors from the store). An event loop
 * can therefore decide a request in the same turn when the library did not need the network,
 * and wait for the fd only when it did. Errors, returned as by tk_check_async (and *done = 0,
 * nothing queued): TK_E_INVALID also for out or done NULL. *out is written only when *done is
 * 1. There is no explicit-clock twin.
 */
int tk_check_async_now(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                       uint64_t cookie, tk_decision_t *out, int32_t *done, tk_error_t *err);

/*
 * Move up to max waiting completions into out[0 .. *n_out) without blocking, oldest first;
 * *n_out = 0 when none wait (TK_OK all the same). out is caller memory for max entries (may
 * be NULL when max == 0). When it takes the last waiting completion, the fd stops being
 * readable. Returns TK_OK, TK_E_INVALID (n_out NULL, or out NULL with max > 0),
 * TK_E_BADHANDLE (0, never issued, or freed with nothing left to deliver: see "Freeing"
 * above) or TK_E_FORKED; *n_out is 0 on every error. A live handle that never queued
 * anything simply has nothing: TK_OK, *n_out = 0.
 */
int tk_poll(tk_handle_t h, tk_completion_t *out, size_t max, size_t *n_out);

/*
 * tk_check_all, asynchronously (ours, beside c-abi.md's functions): returns at once, and the
 * call completes as n completions with the cookies cookie, cookie + 1, ..., cookie + n - 1, one
 * per item in order, queued together once the one all-or-nothing decision is made (every
 * decision allowed: all were consumed). The strings are copied here. Bad input is returned
 * here and never queued: a NULL or empty argument, a long key, a negative cost, and, on the
 * Redis door and the embedded engine, an unknown policy or a meter (the message names the
 * item); on a Cluster URL, keys in several slots (TK_E_INVALID). On the service door the
 * server's verdict on the items arrives with the completions. Each completion's status is the
 * call's; the fail mode answers each item for its own policy. n == 0 is TK_OK and queues
 * nothing.
 */
int tk_check_all_async(tk_handle_t h, const tk_check_item_t *items, size_t n, uint64_t cookie,
                       tk_error_t *err);

/* ---- Concurrency admission (admission.md) ------------------------------------------------
 *
 * A concurrency policy (a `concurrency:` block in the policy file) caps how many requests are
 * in flight at once. tk_admit takes a slot and returns a lease id; tk_release gives the slot
 * back; tk_heartbeat keeps a long hold alive. A lease not renewed within its TTL (2 s) is
 * reclaimed as dropped, so a process that dies holding slots loses them within the TTL and a
 * second. On the Redis door the ceiling holds exactly for the whole fleet (every process and
 * host on the same Redis and namespace): the leases live in Redis, computed by Lua like every
 * decision. On the service door the server holds them (per server process on its memory
 * store, fleet-wide on a Redis store).
 *
 * Release and heartbeat name the admission's policy and key as well as its lease id, so that
 * any process can release a lease on the Redis door; the service door sends only the ids.
 * A lease id is opaque: 32 lowercase hex characters (16 random bytes) and a NUL.
 */

/* The outcome of tk_admit: the decision and, when allowed, the lease on the slot. */
typedef struct tk_admission {
  tk_decision_t decision;        /* the combination of the axes consulted (admission.md §3):
                                    concurrency alone, or concurrency then the rate axis of a
                                    unified policy (checked at cost 1) */
  char lease_id[40];             /* NUL-terminated; "" when refused */
  int64_t lease_expires_at_ms;   /* epoch ms the lease lasts until unless renewed; 0 when refused */
  char binding_axis[16];         /* "" when allowed; "concurrency" or "rate": the axis that refused */
  int32_t policy_denied;         /* always 0: policies from YAML have no joint-LP axis */
  int32_t reserved32;            /* zero */
  int64_t reserved[4];           /* zero today; room for new attributes without an ABI break */
} tk_admission_t;

/*
 * Take a slot of a concurrency policy for key (the key is the rate axis's key, and the
 * guard's with `scope: key`; with the default `scope: policy` every key shares one guard).
 * A refusal is TK_OK with decision.allowed == 0, lease_id "" and binding_axis naming the axis;
 * it holds nothing. An allowed admission holds a slot until tk_release, or until its lease
 * expires (lease_expires_at_ms) unless tk_heartbeat renews it. cost is validated like a
 * check's (0 means 1) and otherwise inert. The fail mode never applies: a store fault is an
 * error, never a synthesized admission. Errors: TK_E_INVALID (out NULL, NULL or empty policy,
 * NULL key, key over 4,096 bytes, negative cost or cost > 2^53 - 1), TK_E_BADHANDLE,
 * TK_E_NOT_FOUND (unknown policy), TK_E_UNSUPPORTED (a rate limiter or meter: not a
 * concurrency policy), TK_E_UNAVAILABLE / TK_E_TIMEOUT / TK_E_AUTH (the store or server),
 * TK_E_FORKED, TK_E_INTERNAL. out is written only on TK_OK.
 */
int tk_admit(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_admission_t *out, tk_error_t *err);
/* tk_admit at now_ms (epoch ms, > 0) instead of the store's clock, for replay and tests.
   TK_E_UNSUPPORTED on the service door (the server's clock decides). */
int tk_admit_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_admission_t *out, tk_error_t *err);

/*
 * Give back the slot of lease_id, admitted with policy and key. dropped != 0 says the work
 * failed or timed out, which shrinks an adaptive limit. Idempotent: a lease already released
 * or reclaimed, an unknown id or "" is TK_OK. Errors: TK_E_INVALID (NULL or empty policy,
 * NULL key, key over 4,096 bytes, NULL lease_id), TK_E_BADHANDLE, TK_E_NOT_FOUND (unknown
 * policy; Redis door), TK_E_UNSUPPORTED (not a concurrency policy; Redis door),
 * TK_E_UNAVAILABLE / TK_E_TIMEOUT / TK_E_AUTH, TK_E_FORKED, TK_E_INTERNAL. A release that
 * fails leaves the slot to its lease's expiry.
 */
int tk_release(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
               int dropped, tk_error_t *err);
/* tk_release at now_ms (epoch ms, > 0); TK_E_UNSUPPORTED on the service door. */
int tk_release_at(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                  int dropped, int64_t now_ms, tk_error_t *err);

/*
 * Renew the n leases lease_ids[0 .. n) admitted with policy and key: each live one lasts
 * another TTL from now. The others (released, reclaimed, unknown) are reported: their indexes
 * into lease_ids go to reclaimed[0 .. *n_reclaimed), in increasing order; the caller must
 * treat their work as dropped. reclaimed is caller memory for n entries (may be NULL when
 * n == 0). n == 0 is valid (it renews nothing). Errors: TK_E_INVALID (NULL or empty policy,
 * NULL key, key over 4,096 bytes, lease_ids or reclaimed NULL with n > 0, a NULL
 * lease_ids[i], n_reclaimed NULL), TK_E_BADHANDLE, TK_E_NOT_FOUND, TK_E_UNSUPPORTED,
 * TK_E_UNAVAILABLE / TK_E_TIMEOUT / TK_E_AUTH, TK_E_FORKED, TK_E_INTERNAL; *n_reclaimed is 0
 * on every error.
 */
int tk_heartbeat(tk_handle_t h, const char *policy, const char *key, const char *const *lease_ids,
                 size_t n, size_t *reclaimed, size_t *n_reclaimed, tk_error_t *err);
/* tk_heartbeat at now_ms (epoch ms, > 0); TK_E_UNSUPPORTED on the service door. */
int tk_heartbeat_at(tk_handle_t h, const char *policy, const char *key,
                    const char *const *lease_ids, size_t n, int64_t now_ms, size_t *reclaimed,
                    size_t *n_reclaimed, tk_error_t *err);

/* ---- Asynchronous admission -------------------------------------------------------------
 *
 * tk_admit and tk_release for event-loop hosts (nginx), through the handle's completion queue
 * exactly as tk_check_async is (see "Asynchronous checks": the fd, tk_poll, the timeout,
 * freeing, fork and threads apply word for word). Both return at once; every call they
 * accept (TK_OK) completes exactly once, within the handle's timeout, as one tk_completion_t
 * tagged with the caller's cookie. Checks, admits and releases may share one handle and one
 * fd: match completions by cookie (the library never interprets it).
 *
 * What an admit's completion carries (status TK_OK): decision is tk_admission_t.decision;
 * message holds, NUL-terminated, the lease id (32 lowercase hex characters) when
 * decision.allowed == 1, the binding axis ("concurrency" or "rate") when 0. That is all a
 * later tk_release or tk_release_async needs, with the policy and key the caller already
 * has. lease_expires_at_ms is not delivered (a caller that must know it uses tk_admit; with
 * tk_options_t.lease_heartbeat = 1 the handle renews the lease itself, which an event loop
 * wants). reserved0 stays 0. On an error status, message says why, as for a check.
 *
 * A release's completion has status TK_OK (the slot is free: an unknown or already released
 * lease is TK_OK too, release being idempotent) or the error tk_release would have returned
 * (the slot is then left to the lease's expiry); decision is zero and message "" on TK_OK.
 * A fire-and-forget caller still takes the completion with tk_poll (and may ignore it).
 *
 * On the embedded engine (tk_open_memory) the admit or release runs during the call itself, as
 * the engine's asynchronous checks do (there is no network to wait for: a script's time), and
 * its completion is queued before the call returns; on the other doors it runs elsewhere.
 *
 * The fail mode never applies to admission, synchronous or not. An admit still running when
 * tk_free completes it with TK_E_BADHANDLE may yet take a slot in the store: it is reclaimed
 * when its lease expires (the handle's renewals stop with tk_free).
 */

/*
 * Queue a tk_admit(h, policy, key, cost) and return at once. policy and key are copied before
 * this returns. Errors returned here (the call is then never queued): TK_E_INVALID (NULL or
 * empty policy, NULL key, key over 4,096 bytes, negative cost or cost > 2^53 - 1),
 * TK_E_BADHANDLE, TK_E_FORKED, and on the Redis door and the embedded engine TK_E_NOT_FOUND
 * (unknown policy) and TK_E_UNSUPPORTED (not a concurrency policy); on the service door those
 * two arrive as completions. Every other outcome is a completion: TK_OK with the decision and
 * the lease id or binding axis in message (above), or TK_E_UNAVAILABLE / TK_E_TIMEOUT /
 * TK_E_AUTH / TK_E_INTERNAL / TK_E_BADHANDLE (freed first). With lease_heartbeat = 1, an
 * allowed admission is in the handle's renewals before its completion is queued. No
 * explicit-clock twin: the store's clock decides.
 */
int tk_admit_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err);

/*
 * Queue a tk_release(h, policy, key, lease_id, dropped) and return at once; the strings are
 * copied before this returns, and the lease leaves the handle's renewals at once. dropped != 0
 * says the work failed (an adaptive limit shrinks). Errors returned here, never queued:
 * TK_E_INVALID (NULL or empty policy, NULL key, key over 4,096 bytes, NULL lease_id),
 * TK_E_BADHANDLE, TK_E_FORKED, and on the Redis door and the embedded engine TK_E_NOT_FOUND
 * and TK_E_UNSUPPORTED as for tk_admit_async. Completes with TK_OK or the store's error.
 */
int tk_release_async(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                     int dropped, uint64_t cookie, tk_error_t *err);

/* ---- HTTP headers (pure C: never start the Go core; fork-safe) ------------------------- */

/* Which RateLimit header fields tk_format_headers writes (docs/headers.md). */
typedef enum tk_header_style {
  TK_HEADERS_OFF = 0,    /* nothing, not even Retry-After */
  TK_HEADERS_IETF = 1,   /* RateLimit-Policy: "p";q=<limit>;w=<window s> and RateLimit: "p";r=<remaining>;t=<s> */
  TK_HEADERS_TRIPLE = 2, /* RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (seconds to reset) */
  TK_HEADERS_LEGACY = 3, /* X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (epoch seconds) */
  TK_HEADERS_ALL = 4     /* IETF, triple and legacy */
} tk_header_style_t;

/*
 * Writes the response headers for decision d of policy at now_ms (epoch ms; the reset and
 * retry times count from it) as "Name: value\r\n" lines into buf, NUL-terminated, and returns
 * the length the full text needs (without the NUL), like snprintf: when that is >= size the
 * text was cut (at a line boundary, never mid-line) and a larger buf is needed. A rejection
 * gets Retry-After (whole seconds, at least 1) unless style is TK_HEADERS_OFF; a synthesized
 * decision (TK_DECISION_SYNTHESIZED) gets no RateLimit field. The policy name is quoted as a
 * structured-field string. buf may be NULL when size is 0 (to measure). Returns -1 (writing
 * nothing) for a NULL d or policy, an unknown style, or a NULL buf with size > 0. Every
 * implementation of the bindings gives the same headers: contract/rate-limit-headers.json.
 */
int tk_format_headers(tk_header_style_t style, const char *policy, const tk_decision_t *d,
                      int64_t now_ms, char *buf, size_t size);

/* ---- Diagnostics ------------------------------------------------------------------------ */

/*
 * The number of goroutines the Go core is running now (Go's runtime.NumGoroutine), for leak
 * checks in tests and soak runs: a count that keeps growing across calls that have all
 * returned (or completed) is a leak. -1 when the core has not been started in this process
 * (no tk_open_* has loaded it yet), and in a forked child of a process that had started it.
 * Never starts the core, never blocks, thread-safe. The value is a snapshot: calls running
 * on other threads, connection pools and timers make it move, so compare counts taken when
 * the library is quiet.
 */
int64_t tk_debug_goroutines(void);

#ifdef __cplusplus
}
#endif

#endif /* THROTTLEKIT_H */
