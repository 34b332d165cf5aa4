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
  TK_DECISION_SYNTHESIZED = 1 /* made by the fail mode, not by the limiter */
};

/*
 * Options for tk_open_*. Initialise with tk_options_init, then set what you need. The struct
 * only ever grows by appending fields: the library reads struct_size bytes, so a program built
 * against an older header keeps working (missing fields take their defaults), and a newer
 * header's extra fields are refused (TK_E_INVALID) unless they are zero. Strings are copied
 * during tk_open_*; the caller may free them afterwards.
 */
typedef struct tk_options {
  uint32_t struct_size;          /* sizeof(tk_options_t); tk_options_init sets it */
  int32_t timeout_ms;            /* per call, connecting included; 0 = default 500; < 0 invalid */
  int32_t fail_mode;             /* tk_fail_mode_t; default TK_FAIL_ERROR */
  int32_t reserved0;             /* must be 0 */
  const char *key_namespace;     /* Redis door: "ns" makes keys "ns:<prefix>:<key>"; NULL = none */
  const char *tls_ca_file;       /* PEM CA bundle to trust: for rediss:// on the Redis door, and
                                    TLS for the service door; NULL = the system's */
  const char *tls_cert_file;     /* client certificate (mutual TLS), either door; NULL = none */
  const char *tls_key_file;      /* its private key; given together with tls_cert_file */
  const char *auth_token;        /* service door: sent as "authorization: Bearer <token>" */
  int32_t auto_pipeline;         /* 0 = default (on): coalesce concurrent calls; -1 = off.
                                    (This version sends each call on its own; both behave alike.) */
  int32_t reserved1;             /* must be 0 */
} tk_options_t;

/* The outcome of a check, peek or debit. */
typedef struct tk_decision {
  int32_t allowed;               /* 1 admitted, 0 denied */
  int32_t flags;                 /* TK_DECISION_SYNTHESIZED when made by the fail mode */
  int64_t limit;                 /* the effective ceiling (burst for gcra, capacity for tokenBucket) */
  int64_t remaining;             /* units left after this call, never negative */
  int64_t reset_at_ms;           /* epoch ms when fully replenished; 0 when synthesized */
  int64_t retry_after_ms;        /* how long to wait before a retry can pass; 0 when allowed */
  int64_t reserved[4];           /* zero today; room for new attributes without an ABI break */
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
 * Close a handle. Calls already running on it finish normally; calls that start afterwards
 * get TK_E_BADHANDLE; tk_free returns once the running calls are done. A second tk_free of
 * the same handle, or a handle never issued, returns TK_E_BADHANDLE.
 */
int tk_free(tk_handle_t h);

/* ---- Decisions -------------------------------------------------------------------------- */

/*
 * Consume cost units of policy for key, at the backend's clock. cost 0 means 1; a negative
 * cost, or one above 2^53 - 1, is TK_E_INVALID. key is 0 to 4,096 bytes, NUL-terminated; on
 * the Redis door any other bytes are fine, on the service door it must be valid UTF-8.
 * Errors: TK_E_NOT_FOUND (unknown policy), TK_E_UNSUPPORTED (a token-budget policy),
 * TK_E_UNAVAILABLE / TK_E_TIMEOUT (unless the fail mode synthesizes a decision), ...
 */
int tk_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_decision_t *out, tk_error_t *err);

/*
 * tk_check for n keys at one single instant: out receives n decisions, in the order of keys
 * (duplicates apply in order). All or nothing: on an error no decision is valid. n == 0 is
 * TK_OK (keys and out may then be NULL).
 */
int tk_check_many(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                  int64_t cost, tk_decision_t *out, tk_error_t *err);

/* Whether a check of cost 1 would pass now, with what remains now (before that check
   consumes anything): consumes nothing. Works on token budgets too (the budget left). */
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

#ifdef __cplusplus
}
#endif

#endif /* THROTTLEKIT_H */
