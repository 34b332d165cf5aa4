/*
 * The private boundary between the shim (libthrottlekit.so) and the Go core
 * (libthrottlekit-core.so, built from export.go and internal/cabi). Only the shim calls these; the shim has
 * already checked every argument it can check without the core (see throttlekit.c), and
 * passes options normalised to the full, current tk_options_t.
 */
#ifndef THROTTLEKIT_CORE_H
#define THROTTLEKIT_CORE_H

#include <stdint.h>

#include "throttlekit.h"

/* A semaphore with one waiter, on a futex word: the count of posts not yet taken, plus
   TK_CORE_SLEEPING while the waiting thread sleeps (or is about to) in FUTEX_WAIT. A post adds
   one and calls FUTEX_WAKE only when the flag was set; the waiter clears the flag when it takes
   a post. Its own rather than sem_t so that the core can post it from Go with an atomic add
   and a raw system call: no cgo call (see internal/cabi/wait.go's postDone). A post may reach the
   word after its waiter returned (the thread may reuse the memory): a spurious FUTEX_WAKE at
   worst, which every waiter tolerates. */
#define TK_CORE_SLEEPING 0x80000000u

/* How the core hands a check back to a caller's thread when the check could not finish before
   tkcore_check returned (it returned TK_CORE_PENDING): the thread waits on signal, which the
   core posts once per event. A TK_CORE_LEAD event lends the thread to the auto-pipeline: it must
   call lead(turn) (that sends a batch, its own check among them), then wait again. The
   TK_CORE_DONE event comes last: out/err are written and status is the call's return value;
   the core touches the struct no more after posting it. */
typedef struct tk_core_wait {
  uint32_t signal; /* the semaphore above, 0 to start */
  int32_t event;  /* TK_CORE_LEAD or TK_CORE_DONE, written before each post */
  int32_t status; /* with TK_CORE_DONE */
  uintptr_t turn; /* with TK_CORE_LEAD */
  int32_t queue;  /* set by the core: the check waited for Redis on a handle that takes
                     submitted checks (see submit) */
  int32_t relay;  /* with TK_CORE_DONE: the thread must call relay(wait) once awake */
  struct tk_core_wait *link; /* the waits this thread relays the wake-up to (see relay) */
} tk_core_wait_t;

/* A tk_check handed to the core without entering Go (submit): the caller's thread fills it
   in, submits it and waits on wait.signal for TK_CORE_DONE (never TK_CORE_LEAD). The struct, the
   strings and out/err must stay valid until then; next belongs to the core's queue. */
typedef struct tk_core_request {
  struct tk_core_request *next;
  tk_handle_t handle;
  const char *policy, *key;
  int64_t cost, now_ms;
  tk_decision_t *out;
  tk_error_t *err;
  int64_t queued_ns; /* CLOCK_MONOTONIC when submitted: the time spent queued counts
                        against the call's timeout */
  tk_core_wait_t wait;
} tk_core_request_t;

enum { TK_CORE_PENDING = 1000, TK_CORE_LEAD = 1, TK_CORE_DONE = 2 };

/* now_ms == 0 means "the backend's clock" in every call below. */
typedef struct tk_core {
  int (*abi_version)(void);
  int (*open_redis)(const char *url, const char *policies_yaml, const tk_options_t *opts,
                    tk_handle_t *out, tk_error_t *err);
  int (*open_service)(const char *target, const tk_options_t *opts, tk_handle_t *out,
                      tk_error_t *err);
  int (*free_handle)(tk_handle_t h);
  int (*open_memory)(const char *policies_yaml, const tk_options_t *opts, tk_handle_t *out,
                     tk_error_t *err);
  int (*check)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
               int64_t now_ms, tk_decision_t *out, tk_error_t *err, tk_core_wait_t *wait);
  void (*lead)(uintptr_t turn);
  int (*check_many)(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                    int64_t cost, int64_t now_ms, tk_decision_t *out, tk_error_t *err);
  int (*peek)(tk_handle_t h, const char *policy, const char *key, int64_t now_ms,
              tk_decision_t *out, tk_error_t *err);
  int (*forecast)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                  int64_t now_ms, tk_forecast_t *out, tk_error_t *err);
  int (*debit)(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
               int64_t now_ms, tk_decision_t *out, tk_error_t *err);
  int64_t (*debug_goroutines)(void);
  int (*reset)(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);
  int (*refund)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_decision_t *out, tk_error_t *err);
  int (*check_all)(tk_handle_t h, const tk_check_item_t *items, size_t n, int64_t now_ms,
                   tk_decision_t *out, int32_t *all_allowed, tk_error_t *err);
  /* Asynchronous checks (internal/cabi/async.go). tk_poll has no err: its statuses need no words. */
  int (*check_async)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                     uint64_t cookie, tk_error_t *err);
  int (*completion_fd)(tk_handle_t h, int *fd_out, tk_error_t *err);
  int (*poll)(tk_handle_t h, tk_completion_t *out, size_t max, size_t *n_out);
  int (*check_all_async)(tk_handle_t h, const tk_check_item_t *items, size_t n, uint64_t cookie,
                         tk_error_t *err);
  /* Plain C, not Go: queues r for the core (internal/cabi/queue.c). A thread that called into Go
     keeps the P it used until the runtime's monitor takes it back, asleep or not; with more
     waiting threads than Ps, each call then waited for a P (measured: 0.67x the Go client's
     throughput from 16 threads). Submitted checks never enter Go from the caller's thread:
     the handle's stream takes them at the end of its batch in flight, or, when it has none
     out, a goroutine woken through an eventfd does. Only for a handle whose check set
     wait.queue, and only once check has returned for it on some thread. */
  void (*submit)(tk_core_request_t *r);
  /* Plain C: wakes the waits w's thread was handed (w->link) and any posted since. */
  void (*relay)(tk_core_wait_t *w);
  /* Concurrency admission (internal/cabi/admission.go). */
  int (*admit)(tk_handle_t h, const char *policy, const char *key, int64_t cost, int64_t now_ms,
               tk_admission_t *out, tk_error_t *err);
  int (*release)(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                 int dropped, int64_t now_ms, tk_error_t *err);
  int (*heartbeat)(tk_handle_t h, const char *policy, const char *key,
                   const char *const *lease_ids, size_t n, int64_t now_ms, size_t *reclaimed,
                   size_t *n_reclaimed, tk_error_t *err);
  /* Asynchronous admission (internal/cabi/admission_async.go): completed through poll. */
  int (*admit_async)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                     uint64_t cookie, tk_error_t *err);
  int (*release_async)(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                       int dropped, uint64_t cookie, tk_error_t *err);
  /* Per-key override records (internal/cabi/overrides.go). */
  int (*set_override)(tk_handle_t h, const char *policy, const char *key, const char *spec,
                      int64_t ttl_ms, tk_error_t *err);
  int (*clear_override)(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);
  /* tk_check_async, answering at once what is decided before it returns (async.go); with
     want > 0 (local_spend asked for it), a leased key's local answer also hands up to want of
     its credits to the key's slot. */
  int (*check_async_now)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                         uint64_t cookie, tk_decision_t *out, int32_t *done, tk_error_t *err,
                         int64_t want);
  /* A check answered from the key's slot without entering Go (internal/cabi/credits.c): 1 with
     out written. Else 0, and *want the units to ask check_async_now for (0: the key is not hot). */
  int (*local_spend)(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                     tk_decision_t *out, int64_t *want);
} tk_core_t;

/* Bumped whenever an entry point's signature or meaning changes: a shim refuses a core built
   from other sources instead of calling it with the wrong arguments. */
#define TK_CORE_ABI 17

/* The input limits the shim checks before calling the core, the core's own (policy.MaxKeyBytes,
   policy.MaxSafeInteger): the core fails to compile if they differ (internal/cabi/limits.go). */
#define TK_MAX_KEY_BYTES 4096
#define TK_MAX_AMOUNT 9007199254740991LL /* 2^53 - 1: exact in a double */

/* The core's exported entry points, resolved with dlsym. */
#define TK_CORE_SYMBOLS(X)                   \
  X(abi_version, "tkcore_abi_version")       \
  X(open_redis, "tkcore_open_redis")         \
  X(open_service, "tkcore_open_service")     \
  X(free_handle, "tkcore_free")              \
  X(open_memory, "tkcore_open_memory")       \
  X(check, "tkcore_check")                   \
  X(lead, "tkcore_lead")                     \
  X(check_many, "tkcore_check_many")         \
  X(peek, "tkcore_peek")                     \
  X(forecast, "tkcore_forecast")             \
  X(debit, "tkcore_debit")                   \
  X(debug_goroutines, "tkcore_debug_goroutines") \
  X(check_all, "tkcore_check_all")           \
  X(reset, "tkcore_reset")                   \
  X(refund, "tkcore_refund")                 \
  X(check_async, "tkcore_check_async")       \
  X(completion_fd, "tkcore_completion_fd")   \
  X(poll, "tkcore_poll")                     \
  X(check_all_async, "tkcore_check_all_async") \
  X(submit, "tkcore_submit")                 \
  X(relay, "tkcore_relay")                   \
  X(admit, "tkcore_admit")                   \
  X(release, "tkcore_release")               \
  X(heartbeat, "tkcore_heartbeat")           \
  X(admit_async, "tkcore_admit_async")       \
  X(release_async, "tkcore_release_async")   \
  X(set_override, "tkcore_set_override")     \
  X(clear_override, "tkcore_clear_override") \
  X(check_async_now, "tkcore_check_async_now") \
  X(local_spend, "tkcore_local_spend")

#endif
