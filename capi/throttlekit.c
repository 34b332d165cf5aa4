/*
 * libthrottlekit: the C face of ThrottleKit.
 *
 * This shim is plain C. It answers what needs no Go (versions, strings, argument checks,
 * the fork guard) itself, and loads the Go core (libthrottlekit-core.so) on the first
 * tk_open_* of a process, so that merely loading the library never starts the Go runtime and a
 * process that forks before opening anything keeps working in its children.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "throttlekit.h"

#define TK_STR2(x) #x
#define TK_STR(x) TK_STR2(x)
#define TK_VERSION_STRING \
  TK_STR(TK_VERSION_MAJOR) "." TK_STR(TK_VERSION_MINOR) "." TK_STR(TK_VERSION_PATCH)

#define TK_CORE_FILE "libthrottlekit-core.so"

/* ---- Errors --------------------------------------------------------------------------- */

static int fail(tk_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(tk_error_t *err, int status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}

const char *tk_version(void) { return TK_VERSION_STRING; }

const char *tk_strerror(int status) {
  switch (status) {
  case TK_OK: return "success";
  case TK_E_INVALID: return "invalid argument";
  case TK_E_BADHANDLE: return "invalid handle (0, never issued, or already freed)";
  case TK_E_NOT_FOUND: return "unknown policy";
  case TK_E_UNSUPPORTED: return "operation not supported for this policy or door";
  case TK_E_UNAVAILABLE: return "backend unavailable";
  case TK_E_TIMEOUT: return "timed out";
  case TK_E_CONFIG: return "invalid policy configuration";
  case TK_E_FORKED: return "called in a forked child of a process that had used the library";
  case TK_E_INTERNAL: return "internal error";
  case TK_E_AUTH: return "authentication failed";
  default: return "unknown status";
  }
}

void tk_options_init(tk_options_t *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
  opts->struct_size = (uint32_t)sizeof *opts;
}

/* ---- The Go core and the fork guard ----------------------------------------------------- */

static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;
static tk_core_t core;
static atomic_int core_ready;   /* core holds valid entry points */
static atomic_int core_started; /* a tk_open_* ran in this process (or in the parent) */
static atomic_int forked_child; /* this process is a child forked after core_started */

static void on_fork_child(void) {
  if (atomic_load(&core_started)) atomic_store(&forked_child, 1);
}

/* Registered when the library loads, so that no fork, not even one racing the first open,
   escapes the guard. */
__attribute__((constructor)) static void install_fork_guard(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

/* From the first tk_open_* on, the Go runtime may run in this process (c-abi.md: "successful
   or not"), so its forked children must not call in. */
static void mark_started(void) { atomic_store(&core_started, 1); }

static int check_fork(tk_error_t *err) {
  if (atomic_load_explicit(&forked_child, memory_order_relaxed))
    return fail(err, TK_E_FORKED,
                "libthrottlekit was used before this process was forked; the Go core cannot "
                "run in a forked child: open handles after fork, in the child");
  return TK_OK;
}

/* The directory this shim was loaded from, with a trailing '/', or "" when unknown. */
static void shim_dir(char *dir, size_t size) {
  Dl_info info;
  dir[0] = '\0';
  if (dladdr((void *)&tk_version, &info) && info.dli_fname) {
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash && (size_t)(slash - info.dli_fname + 1) < size) {
      memcpy(dir, info.dli_fname, (size_t)(slash - info.dli_fname + 1));
      dir[slash - info.dli_fname + 1] = '\0';
    }
  }
}

/* Loads the core once per process; the caller holds core_lock. */
static int load_core(tk_error_t *err) {
  char path[PATH_MAX];
  const char *env = getenv("THROTTLEKIT_CORE");
  if (env && *env) {
    snprintf(path, sizeof path, "%s", env);
  } else {
    char dir[PATH_MAX];
    shim_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s%s", dir, TK_CORE_FILE);
  }

  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return fail(err, TK_E_INTERNAL,
                "cannot load the ThrottleKit core %s (set THROTTLEKIT_CORE to its path): %s",
                path, dlerror());
  tk_core_t loaded;
#define TK_RESOLVE(field, name)                                                        \
  *(void **)(&loaded.field) = dlsym(lib, name);                                        \
  if (!loaded.field) {                                                                 \
    dlclose(lib);                                                                      \
    return fail(err, TK_E_INTERNAL, "the ThrottleKit core %s lacks %s: a version mismatch", \
                path, name);                                                           \
  }
  TK_CORE_SYMBOLS(TK_RESOLVE)
#undef TK_RESOLVE
  if (loaded.abi_version() != TK_CORE_ABI) {
    int found = loaded.abi_version();
    dlclose(lib);
    return fail(err, TK_E_INTERNAL,
                "the ThrottleKit core %s speaks ABI %d, this libthrottlekit needs %d: install "
                "the two libraries from the same build",
                path, found, TK_CORE_ABI);
  }
  core = loaded;
  atomic_store(&core_ready, 1);
  return TK_OK;
}

static int start_core(tk_error_t *err) {
  if (atomic_load(&core_ready)) return TK_OK;
  pthread_mutex_lock(&core_lock);
  int rc = atomic_load(&core_ready) ? TK_OK : load_core(err);
  pthread_mutex_unlock(&core_lock);
  return rc;
}

/* The core, if a handle could exist at all: before any open, no handle is valid. */
static int core_for(tk_handle_t h, tk_error_t *err) {
  if (h == 0) return fail(err, TK_E_BADHANDLE, "handle 0 is never valid");
  if (!atomic_load_explicit(&core_ready, memory_order_acquire))
    return fail(err, TK_E_BADHANDLE, "handle %llu was never issued in this process",
                (unsigned long long)h);
  return TK_OK;
}

/* ---- Argument checks ------------------------------------------------------------------- */

static int check_policy_key(const char *policy, const char *key, tk_error_t *err) {
  if (!policy) return fail(err, TK_E_INVALID, "policy is NULL");
  if (!*policy) return fail(err, TK_E_INVALID, "policy name is empty");
  if (!key) return fail(err, TK_E_INVALID, "key is NULL");
  if (strnlen(key, TK_MAX_KEY_BYTES + 1) > TK_MAX_KEY_BYTES)
    return fail(err, TK_E_INVALID, "key is longer than %d bytes", TK_MAX_KEY_BYTES);
  return TK_OK;
}

static int check_amount(const char *name, int64_t n, tk_error_t *err) {
  if (n < 0) return fail(err, TK_E_INVALID, "%s must not be negative, got %lld", name, (long long)n);
  if (n > TK_MAX_AMOUNT)
    return fail(err, TK_E_INVALID, "%s must be at most 2^53-1, got %lld", name, (long long)n);
  return TK_OK;
}

static int check_now(int64_t now_ms, tk_error_t *err) {
  if (now_ms <= 0)
    return fail(err, TK_E_INVALID, "now_ms must be > 0 (epoch milliseconds), got %lld",
                (long long)now_ms);
  if (now_ms > TK_MAX_AMOUNT)
    return fail(err, TK_E_INVALID, "now_ms must be at most 2^53-1, got %lld", (long long)now_ms);
  return TK_OK;
}

/* The sizes an older or current header's tk_options_t can have: each ends after a field. A
   size inside a field (half a pointer) is refused rather than read. */
static const size_t option_sizes[] = {
    offsetof(tk_options_t, timeout_ms),    offsetof(tk_options_t, fail_mode),
    offsetof(tk_options_t, local_max_keys), offsetof(tk_options_t, key_namespace),
    offsetof(tk_options_t, tls_ca_file),   offsetof(tk_options_t, tls_cert_file),
    offsetof(tk_options_t, tls_key_file),  offsetof(tk_options_t, auth_token),
    offsetof(tk_options_t, auto_pipeline), offsetof(tk_options_t, shadow),
    offsetof(tk_options_t, lease_ttl_ms),  offsetof(tk_options_t, lease_heartbeat),
    sizeof(tk_options_t),
};

/* The largest struct_size accepted. A newer header's tk_options_t may be larger than ours,
   and its tail is read to see that it is zero; a size beyond this cannot be a tk_options_t
   (an uninitialised or corrupted struct_size) and is refused before anything past our own
   sizeof is read, since those bytes may not be mapped. */
#define TK_MAX_OPTIONS_SIZE 4096

/* Copies the caller's options (of whatever header version) into the current layout. */
static int normalize_options(const tk_options_t *in, tk_options_t *out, tk_error_t *err) {
  tk_options_init(out);
  if (!in) return TK_OK;
  size_t n = in->struct_size;
  if (n < offsetof(tk_options_t, timeout_ms))
    return fail(err, TK_E_INVALID,
                "options struct_size is %zu: initialise options with tk_options_init", n);
  if (n > TK_MAX_OPTIONS_SIZE)
    return fail(err, TK_E_INVALID,
                "options struct_size %zu is larger than %d bytes, the most a tk_options_t can "
                "be: initialise options with tk_options_init",
                n, TK_MAX_OPTIONS_SIZE);
  if (n < sizeof *out) {
    size_t i = 0;
    while (option_sizes[i] != n && option_sizes[i] != sizeof *out) i++;
    if (option_sizes[i] != n)
      return fail(err, TK_E_INVALID,
                  "options struct_size %zu ends inside a field: initialise options with "
                  "tk_options_init", n);
  }
  if (n > sizeof *out) {
    const unsigned char *extra = (const unsigned char *)in + sizeof *out;
    for (size_t i = 0; i < n - sizeof *out; i++)
      if (extra[i])
        return fail(err, TK_E_INVALID,
                    "options from a newer header (struct_size %zu, this library knows %zu)", n,
                    sizeof *out);
    n = sizeof *out;
  }
  memcpy(out, in, n);
  out->struct_size = (uint32_t)sizeof *out;
  if (out->timeout_ms < 0)
    return fail(err, TK_E_INVALID, "timeout_ms must be >= 0 (0 = default 500), got %d",
                out->timeout_ms);
  if (out->fail_mode < TK_FAIL_ERROR || out->fail_mode > TK_FAIL_CLOSED)
    return fail(err, TK_E_INVALID, "fail_mode must be TK_FAIL_ERROR, TK_FAIL_OPEN or TK_FAIL_CLOSED, got %d",
                out->fail_mode);
  if (out->auto_pipeline != 0 && out->auto_pipeline != -1 && out->auto_pipeline != 1)
    return fail(err, TK_E_INVALID, "auto_pipeline must be 0 (default, on), 1 (on) or -1 (off), got %d",
                out->auto_pipeline);
  if (out->local_max_keys < 0)
    return fail(err, TK_E_INVALID, "local_max_keys must be >= 0 (0 = default 100000), got %d",
                out->local_max_keys);
  if (out->shadow != 0 && out->shadow != 1)
    return fail(err, TK_E_INVALID, "shadow must be 0 (off) or 1 (on), got %d", out->shadow);
  if (out->lease_ttl_ms < 0)
    return fail(err, TK_E_INVALID, "lease_ttl_ms must be >= 0 (0 = default 2000), got %d",
                out->lease_ttl_ms);
  if (out->lease_heartbeat != 0 && out->lease_heartbeat != 1)
    return fail(err, TK_E_INVALID, "lease_heartbeat must be 0 (off) or 1 (on), got %d",
                out->lease_heartbeat);
  return TK_OK;
}

/* ---- The API --------------------------------------------------------------------------- */

int tk_open_redis(const char *redis_url, const char *policies_yaml, const tk_options_t *opts,
                  tk_handle_t *out, tk_error_t *err) {
  tk_options_t o;
  int rc;
  if ((rc = check_fork(err))) return rc;
  mark_started();
  if (!redis_url) return fail(err, TK_E_INVALID, "redis_url is NULL");
  if (!policies_yaml) return fail(err, TK_E_INVALID, "policies_yaml is NULL");
  if (!out) return fail(err, TK_E_INVALID, "out is NULL");
  *out = 0;
  if ((rc = normalize_options(opts, &o, err))) return rc;
  if ((rc = start_core(err))) return rc;
  return core.open_redis(redis_url, policies_yaml, &o, out, err);
}

int tk_open_service(const char *target, const tk_options_t *opts, tk_handle_t *out,
                    tk_error_t *err) {
  tk_options_t o;
  int rc;
  if ((rc = check_fork(err))) return rc;
  mark_started();
  if (!target) return fail(err, TK_E_INVALID, "target is NULL");
  if (!out) return fail(err, TK_E_INVALID, "out is NULL");
  *out = 0;
  if ((rc = normalize_options(opts, &o, err))) return rc;
  if ((rc = start_core(err))) return rc;
  return core.open_service(target, &o, out, err);
}

int tk_open_memory(const char *policies_yaml, const tk_options_t *opts, tk_handle_t *out,
                   tk_error_t *err) {
  tk_options_t o;
  int rc;
  if ((rc = check_fork(err))) return rc;
  mark_started();
  if (!policies_yaml) return fail(err, TK_E_INVALID, "policies_yaml is NULL");
  if (!out) return fail(err, TK_E_INVALID, "out is NULL");
  *out = 0;
  if ((rc = normalize_options(opts, &o, err))) return rc;
  if ((rc = start_core(err))) return rc;
  return core.open_memory(policies_yaml, &o, out, err);
}

int tk_free(tk_handle_t h) {
  int rc;
  if ((rc = check_fork(NULL))) return rc;
  if ((rc = core_for(h, NULL))) return rc;
  return core.free_handle(h);
}

/* What every one-key call checks before the core, in the status table's order: the fork, the
   output pointer (when the call has one), the policy and key, the amount (when amount_name is
   not NULL), then the handle. */
static int check_one_key(tk_handle_t h, const char *policy, const char *key, int needs_out,
                         const void *out, const char *amount_name, int64_t amount,
                         tk_error_t *err) {
  int rc;
  if ((rc = check_fork(err))) return rc;
  if (needs_out && !out) return fail(err, TK_E_INVALID, "out is NULL");
  if ((rc = check_policy_key(policy, key, err))) return rc;
  if (amount_name && (rc = check_amount(amount_name, amount, err))) return rc;
  return core_for(h, err);
}

/* Waits for a post of the core on signal and takes it (see TK_CORE_SLEEPING in core.h). A
   signal handler's EINTR, a changed word's EAGAIN and a late post's spurious wake-up all end
   the same way: look at the word again. */
static void wait_signal(uint32_t *signal) {
  _Atomic uint32_t *word = (_Atomic uint32_t *)signal;
  uint32_t v = atomic_load(word);
  for (;;) {
    if (v & ~TK_CORE_SLEEPING) {
      if (atomic_compare_exchange_weak(word, &v, (v - 1) & ~TK_CORE_SLEEPING)) return;
      continue;
    }
    if (!(v & TK_CORE_SLEEPING)) {
      if (!atomic_compare_exchange_weak(word, &v, v | TK_CORE_SLEEPING)) continue;
      v |= TK_CORE_SLEEPING;
    }
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
    v = atomic_load(word);
  }
}

/* tk_checks running in this process: a call that finds none running is alone. */
static atomic_int checks_running;

/* The handle this thread last checked, when that check waited for Redis on a handle that
   takes submitted checks: the thread's next check on it, among others, is submitted. */
static __thread tk_handle_t submit_handle;

/* A check made by entering the core: it may be answered at once (a lone call sends and reads
   its own), or queued for a pipeline; then this thread waits for it here, off the Go runtime,
   and may be lent to send a batch (see tk_core_wait_t). */
static int entered_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                         int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  tk_core_wait_t wait = {.signal = 0};
  int rc = core.check(h, policy, key, cost, now_ms, out, err, &wait);
  submit_handle = wait.queue ? h : 0;
  while (rc == TK_CORE_PENDING) {
    wait_signal(&wait.signal);
    if (wait.event == TK_CORE_LEAD) {
      core.lead(wait.turn);
    } else {
      if (wait.relay) core.relay(&wait);
      rc = wait.status;
    }
  }
  return rc;
}

/* A check handed to the core's queue without entering Go (see submit in core.h). */
static int submitted_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                           int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  tk_core_request_t r = {.handle = h, .policy = policy, .key = key, .cost = cost,
                         .now_ms = now_ms, .out = out, .err = err,
                         .queued_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec};
  core.submit(&r);
  wait_signal(&r.wait.signal);
  if (r.wait.relay) core.relay(&r.wait);
  submit_handle = r.wait.queue ? h : 0;
  return r.wait.status;
}

static int check_impl(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                      int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, "cost", cost, err);
  if (rc) return rc;
  /* A lone call enters the core, which may let it send and read its own call. Among others,
     a call on a handle known to take submitted checks is submitted. */
  int crowd = atomic_fetch_add(&checks_running, 1) > 0;
  if (crowd && submit_handle == h)
    rc = submitted_check(h, policy, key, cost, now_ms, out, err);
  else
    rc = entered_check(h, policy, key, cost, now_ms, out, err);
  atomic_fetch_sub(&checks_running, 1);
  return rc;
}

int tk_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_decision_t *out, tk_error_t *err) {
  return check_impl(h, policy, key, cost, 0, out, err);
}

int tk_check_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return check_impl(h, policy, key, cost, now_ms, out, err);
}

static int check_many_impl(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                           int64_t cost, int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc;
  if ((rc = check_fork(err))) return rc;
  if (n > 0 && !keys) return fail(err, TK_E_INVALID, "keys is NULL but n is %zu", n);
  if (n > 0 && !out) return fail(err, TK_E_INVALID, "out is NULL but n is %zu", n);
  if ((rc = check_policy_key(policy, "", err)) || (rc = check_amount("cost", cost, err)))
    return rc;
  for (size_t i = 0; i < n; i++) {
    if (!keys[i]) return fail(err, TK_E_INVALID, "keys[%zu] is NULL", i);
    if (strnlen(keys[i], TK_MAX_KEY_BYTES + 1) > TK_MAX_KEY_BYTES)
      return fail(err, TK_E_INVALID, "keys[%zu] is longer than %d bytes", i, TK_MAX_KEY_BYTES);
  }
  if ((rc = core_for(h, err))) return rc;
  return core.check_many(h, policy, keys, n, cost, now_ms, out, err);
}

int tk_check_many(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                  int64_t cost, tk_decision_t *out, tk_error_t *err) {
  return check_many_impl(h, policy, keys, n, cost, 0, out, err);
}

int tk_check_many_at(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                     int64_t cost, int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return check_many_impl(h, policy, keys, n, cost, now_ms, out, err);
}

static int check_items(const tk_check_item_t *items, size_t n, tk_error_t *err) {
  if (n > 0 && !items) return fail(err, TK_E_INVALID, "items is NULL but n is %zu", n);
  for (size_t i = 0; i < n; i++) {
    const tk_check_item_t *it = &items[i];
    if (!it->policy) return fail(err, TK_E_INVALID, "items[%zu]: policy is NULL", i);
    if (!*it->policy) return fail(err, TK_E_INVALID, "items[%zu]: policy name is empty", i);
    if (!it->key) return fail(err, TK_E_INVALID, "items[%zu]: key is NULL", i);
    if (strnlen(it->key, TK_MAX_KEY_BYTES + 1) > TK_MAX_KEY_BYTES)
      return fail(err, TK_E_INVALID, "items[%zu]: key is longer than %d bytes", i, TK_MAX_KEY_BYTES);
    if (it->cost < 0 || it->cost > TK_MAX_AMOUNT)
      return fail(err, TK_E_INVALID, "items[%zu]: cost must be 0 to 2^53-1, got %lld", i, (long long)it->cost);
  }
  return TK_OK;
}

int tk_check_all_async(tk_handle_t h, const tk_check_item_t *items, size_t n, uint64_t cookie,
                       tk_error_t *err) {
  int rc;
  if ((rc = check_fork(err))) return rc;
  if ((rc = check_items(items, n, err))) return rc;
  if ((rc = core_for(h, err))) return rc;
  return core.check_all_async(h, items, n, cookie, err);
}

static int check_all_impl(tk_handle_t h, const tk_check_item_t *items, size_t n, int64_t now_ms,
                          tk_decision_t *out, int32_t *all_allowed, tk_error_t *err) {
  int rc;
  if ((rc = check_fork(err))) return rc;
  if (n > 0 && !out) return fail(err, TK_E_INVALID, "out is NULL but n is %zu", n);
  if ((rc = check_items(items, n, err))) return rc;
  if ((rc = core_for(h, err))) return rc;
  int32_t all = 1;
  rc = core.check_all(h, items, n, now_ms, out, &all, err);
  if (rc == TK_OK && all_allowed) *all_allowed = all;
  return rc;
}

int tk_check_all(tk_handle_t h, const tk_check_item_t *items, size_t n, tk_decision_t *out,
                 int32_t *all_allowed, tk_error_t *err) {
  return check_all_impl(h, items, n, 0, out, all_allowed, err);
}

int tk_check_all_at(tk_handle_t h, const tk_check_item_t *items, size_t n, int64_t now_ms,
                    tk_decision_t *out, int32_t *all_allowed, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return check_all_impl(h, items, n, now_ms, out, all_allowed, err);
}

static int peek_impl(tk_handle_t h, const char *policy, const char *key, int64_t now_ms,
                     tk_decision_t *out, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, NULL, 0, err);
  if (rc) return rc;
  return core.peek(h, policy, key, now_ms, out, err);
}

int tk_peek(tk_handle_t h, const char *policy, const char *key, tk_decision_t *out,
            tk_error_t *err) {
  return peek_impl(h, policy, key, 0, out, err);
}

int tk_peek_at(tk_handle_t h, const char *policy, const char *key, int64_t now_ms,
               tk_decision_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return peek_impl(h, policy, key, now_ms, out, err);
}

static int forecast_impl(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                         int64_t now_ms, tk_forecast_t *out, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, "cost", cost, err);
  if (rc) return rc;
  return core.forecast(h, policy, key, cost, now_ms, out, err);
}

int tk_forecast(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_forecast_t *out, tk_error_t *err) {
  return forecast_impl(h, policy, key, cost, 0, out, err);
}

int tk_forecast_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   int64_t now_ms, tk_forecast_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return forecast_impl(h, policy, key, cost, now_ms, out, err);
}

int tk_reset(tk_handle_t h, const char *policy, const char *key, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, NULL, 0, err);
  if (rc) return rc;
  return core.reset(h, policy, key, err);
}

int tk_refund(tk_handle_t h, const char *policy, const char *key, int64_t cost, tk_decision_t *out,
              tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, "cost", cost, err);
  if (rc) return rc;
  return core.refund(h, policy, key, cost, out, err);
}

int tk_set_override(tk_handle_t h, const char *policy, const char *key, const char *spec,
                    int64_t ttl_ms, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, NULL, 0, err);
  if (rc) return rc;
  if (!spec) return fail(err, TK_E_INVALID, "spec is NULL");
  if (strlen(spec) > TK_MAX_KEY_BYTES)
    return fail(err, TK_E_INVALID, "spec is longer than 4096 bytes");
  if (ttl_ms < 0 || ttl_ms > TK_MAX_AMOUNT)
    return fail(err, TK_E_INVALID, "ttl_ms must be 0 (no expiry) or a number of milliseconds up to 2^53 - 1");
  return core.set_override(h, policy, key, spec, ttl_ms, err);
}

int tk_clear_override(tk_handle_t h, const char *policy, const char *key, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, NULL, 0, err);
  if (rc) return rc;
  return core.clear_override(h, policy, key, err);
}

static int debit_impl(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
                      int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, "tokens", tokens, err);
  if (rc) return rc;
  return core.debit(h, policy, key, tokens, now_ms, out, err);
}

int tk_debit(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
             tk_decision_t *out, tk_error_t *err) {
  return debit_impl(h, policy, key, tokens, 0, out, err);
}

int tk_debit_at(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return debit_impl(h, policy, key, tokens, now_ms, out, err);
}

/* ---- Asynchronous checks ----------------------------------------------------------------- */

int tk_check_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, "cost", cost, err);
  if (rc) return rc;
  return core.check_async(h, policy, key, cost, cookie, err);
}

int tk_check_async_now(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                       uint64_t cookie, tk_decision_t *out, int32_t *done, tk_error_t *err) {
  int rc;
  if (done) *done = 0;
  if ((rc = check_fork(err))) return rc;
  if (!done) return fail(err, TK_E_INVALID, "done is NULL");
  if ((rc = check_one_key(h, policy, key, 1, out, "cost", cost, err))) return rc;
  int64_t want;
  if (core.local_spend(h, policy, key, cost, out, &want)) {
    *done = 1;
    if (err) {
      err->status = TK_OK;
      err->message[0] = '\0';
    }
    return TK_OK;
  }
  return core.check_async_now(h, policy, key, cost, cookie, out, done, err, want);
}

int tk_completion_fd(tk_handle_t h, int *fd_out, tk_error_t *err) {
  int rc;
  if ((rc = check_fork(err))) return rc;
  if (!fd_out) return fail(err, TK_E_INVALID, "fd_out is NULL");
  *fd_out = -1;
  if ((rc = core_for(h, err))) return rc;
  return core.completion_fd(h, fd_out, err);
}

int tk_poll(tk_handle_t h, tk_completion_t *out, size_t max, size_t *n_out) {
  int rc;
  if (n_out) *n_out = 0;
  if ((rc = check_fork(NULL))) return rc;
  if (!n_out) return TK_E_INVALID;
  if (max > 0 && !out) return TK_E_INVALID;
  if ((rc = core_for(h, NULL))) return rc;
  return core.poll(h, out, max, n_out);
}

/* ---- Diagnostics ----------------------------------------------------------------------- */

int64_t tk_debug_goroutines(void) {
  /* Never starts the core, and never enters it from a forked child. */
  if (atomic_load(&forked_child)) return -1;
  if (!atomic_load_explicit(&core_ready, memory_order_acquire)) return -1;
  return core.debug_goroutines();
}

/* ---- Concurrency admission ------------------------------------------------------------- */

static int admit_impl(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                      int64_t now_ms, tk_admission_t *out, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 1, out, "cost", cost, err);
  if (rc) return rc;
  return core.admit(h, policy, key, cost, now_ms, out, err);
}

int tk_admit(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_admission_t *out, tk_error_t *err) {
  return admit_impl(h, policy, key, cost, 0, out, err);
}

int tk_admit_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_admission_t *out, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return admit_impl(h, policy, key, cost, now_ms, out, err);
}

static int release_impl(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                        int dropped, int64_t now_ms, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, NULL, 0, err);
  if (rc) return rc;
  if (!lease_id) return fail(err, TK_E_INVALID, "lease_id is NULL");
  return core.release(h, policy, key, lease_id, dropped != 0, now_ms, err);
}

int tk_release(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
               int dropped, tk_error_t *err) {
  return release_impl(h, policy, key, lease_id, dropped, 0, err);
}

int tk_release_at(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                  int dropped, int64_t now_ms, tk_error_t *err) {
  int rc = check_fork(err);
  if (rc || (rc = check_now(now_ms, err))) return rc;
  return release_impl(h, policy, key, lease_id, dropped, now_ms, err);
}

static int heartbeat_impl(tk_handle_t h, const char *policy, const char *key,
                          const char *const *lease_ids, size_t n, int64_t now_ms,
                          size_t *reclaimed, size_t *n_reclaimed, tk_error_t *err) {
  int rc;
  if (n_reclaimed) *n_reclaimed = 0;
  if ((rc = check_fork(err))) return rc;
  if (!n_reclaimed) return fail(err, TK_E_INVALID, "n_reclaimed is NULL");
  if (n > 0 && !lease_ids) return fail(err, TK_E_INVALID, "lease_ids is NULL but n is %zu", n);
  if (n > 0 && !reclaimed) return fail(err, TK_E_INVALID, "reclaimed is NULL but n is %zu", n);
  if ((rc = check_policy_key(policy, key, err))) return rc;
  for (size_t i = 0; i < n; i++)
    if (!lease_ids[i]) return fail(err, TK_E_INVALID, "lease_ids[%zu] is NULL", i);
  if ((rc = core_for(h, err))) return rc;
  return core.heartbeat(h, policy, key, lease_ids, n, now_ms, reclaimed, n_reclaimed, err);
}

int tk_heartbeat(tk_handle_t h, const char *policy, const char *key, const char *const *lease_ids,
                 size_t n, size_t *reclaimed, size_t *n_reclaimed, tk_error_t *err) {
  return heartbeat_impl(h, policy, key, lease_ids, n, 0, reclaimed, n_reclaimed, err);
}

int tk_heartbeat_at(tk_handle_t h, const char *policy, const char *key,
                    const char *const *lease_ids, size_t n, int64_t now_ms, size_t *reclaimed,
                    size_t *n_reclaimed, tk_error_t *err) {
  int rc;
  if (n_reclaimed) *n_reclaimed = 0;
  if ((rc = check_fork(err)) || (rc = check_now(now_ms, err))) return rc;
  return heartbeat_impl(h, policy, key, lease_ids, n, now_ms, reclaimed, n_reclaimed, err);
}

/* ---- Asynchronous admission ------------------------------------------------------------ */

int tk_admit_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, "cost", cost, err);
  if (rc) return rc;
  return core.admit_async(h, policy, key, cost, cookie, err);
}

int tk_release_async(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                     int dropped, uint64_t cookie, tk_error_t *err) {
  int rc = check_one_key(h, policy, key, 0, NULL, NULL, 0, err);
  if (rc) return rc;
  if (!lease_id) return fail(err, TK_E_INVALID, "lease_id is NULL");
  return core.release_async(h, policy, key, lease_id, dropped != 0, cookie, err);
}
