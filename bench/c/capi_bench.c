/*
 * capi_bench: one measurement of libthrottlekit from C, printed as calls per second (all
 * threads together) on the first line and, for check and check-nopipe, the per-call latency
 * of tk_check on a second line: "latency_ns p50=<ns> p99=<ns> samples=<n>". bench/capi/main.go
 * runs it beside the Go client, in turns, and prints the ratios; the PHP and Ruby benches read
 * the same two lines.
 *
 *   capi_bench <redis-url>|memory check|check-nopipe|leased|boundary|admit|admit-async <threads>
 *              <seconds>
 *
 * check:    tk_check of a generous gcra policy over 1,000 keys (every call a script call in
 *           Redis), auto-pipelining on (the default).
 * check-nopipe: the same with opts.auto_pipeline = -1 (each call its own round trip).
 * leased:   tk_check of the same gcra policy fronted by a leased two-tier block (batch 1,000):
 *           per key one script call per 1,000 checks, the others spent from the handle's
 *           local credits (TK_DECISION_LOCAL).
 * boundary: tk_check of an unknown policy, which fails inside the core without I/O: the cost
 *           of crossing C -> Go -> C. Not timed per call (the clock would be a large part of it).
 * admit:    tk_admit then tk_release of a slot of a pinned concurrency policy (never full):
 *           one "call" is the pair, timed as one.
 * admit-async: the same pair through the completion queue, as an event loop (nginx) makes it:
 *           one thread keeps <threads> pairs in flight (tk_admit_async; on its completion,
 *           tk_release_async of the lease; on that one's, the next admit), waiting on the
 *           completion fd with poll(). A pair is timed from its admit's submission to its
 *           release's completion.
 * "memory" instead of a URL opens the embedded engine (tk_open_memory): the same calls with
 * no network.
 *
 * Each check is timed with clock_gettime(CLOCK_MONOTONIC) into the thread's own slice of one
 * array allocated before the threads start (MAX_SAMPLES in all; a thread that fills its slice
 * wraps around, keeping its latest calls).
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "throttlekit.h"

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-capi }\n"
    "  leased:\n"
    "    strategy: gcra\n"
    "    limit: 1000000\n"
    "    period: 1s\n"
    "    burst: 1000000\n"
    "    prefix: bench-capi-leased\n"
    "    twoTier: { mode: leased, batch: 1000 }\n"
    "  slots: { concurrency: { minLimit: 100000, maxLimit: 100000 }, prefix: bench-capi-slots }\n";

static tk_handle_t handle;
static int boundary;
static int admit; /* admit mode: tk_admit + tk_release per call */
static const char *check_policy = "api"; /* the policy of the check modes */
static double seconds;
static atomic_long total_calls;
static atomic_int failures;

#define MAX_SAMPLES (4L << 20)
static uint32_t *samples;   /* threads slices of per_thread latencies, in ns */
static long per_thread;     /* MAX_SAMPLES / threads */
static long recorded[1024]; /* samples kept by each thread */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg) {
  long id = (long)(size_t)arg, calls = 0;
  char key[32] = "user-0";
  tk_decision_t d;
  tk_error_t err;
  const char *policy = boundary ? "no-such-policy" : check_policy;
  int want = boundary ? TK_E_NOT_FOUND : TK_OK;
  uint32_t *lat = boundary ? NULL : samples + id * per_thread;
  double end = now_s() + seconds;
  while (now_s() < end) {
    for (int i = 0; i < 64; i++, calls++) {
      int64_t start = 0;
      if (!boundary) {
        snprintf(key, sizeof key, "user-%ld", (id * 7919 + calls) % 1000);
        start = now_ns();
      }
      if (admit) {
        tk_admission_t a;
        if (tk_admit(handle, "slots", key, 1, &a, &err) != TK_OK || !a.decision.allowed ||
            tk_release(handle, "slots", key, a.lease_id, 0, &err) != TK_OK) {
          fprintf(stderr, "capi_bench: admit: %s\n", a.decision.allowed ? err.message : "refused");
          atomic_store(&failures, 1);
          return NULL;
        }
      } else if (tk_check(handle, policy, key, 1, &d, &err) != want || (!boundary && !d.allowed)) {
        fprintf(stderr, "capi_bench: unexpected status %d: %s\n", err.status, err.message);
        atomic_store(&failures, 1);
        return NULL;
      }
      if (!boundary) {
        int64_t ns = now_ns() - start;
        lat[calls % per_thread] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
      }
    }
  }
  recorded[id] = calls < per_thread ? calls : per_thread;
  atomic_fetch_add(&total_calls, calls);
  return NULL;
}

/* The admit-async mode: completions with even cookies are admits, odd ones releases; a cookie
   / 2 is the pair's slot. */
static int async_admit(int slot, int64_t *started) {
  char key[32];
  tk_error_t err;
  snprintf(key, sizeof key, "user-%d", slot % 1000);
  started[slot] = now_ns();
  if (tk_admit_async(handle, "slots", key, 1, (uint64_t)slot * 2, &err) != TK_OK) {
    fprintf(stderr, "capi_bench: tk_admit_async: %s\n", err.message);
    return -1;
  }
  return 0;
}

static int run_admit_async(int depth) {
  tk_error_t err;
  int fd;
  int64_t *started = calloc((size_t)depth, sizeof *started);
  if (!started || tk_completion_fd(handle, &fd, &err) != TK_OK) {
    fprintf(stderr, "capi_bench: admit-async: no completion fd\n");
    return -1;
  }
  long calls = 0, in_flight = 0;
  double end = now_s() + seconds;
  for (int i = 0; i < depth; i++, in_flight++)
    if (async_admit(i, started)) return -1;
  tk_completion_t batch[64];
  while (in_flight > 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    size_t n = 0;
    do {
      if (tk_poll(handle, batch, 64, &n) != TK_OK) return -1;
      for (size_t i = 0; i < n; i++) {
        tk_completion_t *c = &batch[i];
        int slot = (int)(c->cookie / 2);
        char key[32];
        snprintf(key, sizeof key, "user-%d", slot % 1000);
        if (c->status != TK_OK || (c->cookie % 2 == 0 && !c->decision.allowed)) {
          fprintf(stderr, "capi_bench: admit-async: status %d: %s\n", c->status, c->message);
          return -1;
        }
        if (c->cookie % 2 == 0) {
          if (tk_release_async(handle, "slots", key, c->message, 0, c->cookie + 1, &err) != TK_OK) {
            fprintf(stderr, "capi_bench: tk_release_async: %s\n", err.message);
            return -1;
          }
          continue;
        }
        int64_t ns = now_ns() - started[slot];
        samples[calls % per_thread] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
        calls++;
        if (now_s() < end) {
          if (async_admit(slot, started)) return -1;
        } else {
          in_flight--;
        }
      }
    } while (n == 64);
  }
  recorded[0] = calls < per_thread ? calls : per_thread;
  atomic_store(&total_calls, calls);
  free(started);
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* print_latency gathers the threads' samples at the front of the array, sorts them and prints
 * p50 and p99 (nearest rank below, as the Go benches read them). */
static void print_latency(int threads) {
  long n = 0;
  for (long t = 0; t < threads; t++) {
    memmove(samples + n, samples + t * per_thread, (size_t)recorded[t] * sizeof *samples);
    n += recorded[t];
  }
  if (n == 0) return;
  qsort(samples, (size_t)n, sizeof *samples, cmp_u32);
  printf("latency_ns p50=%u p99=%u samples=%ld\n", samples[(long)(0.50 * (double)(n - 1))],
         samples[(long)(0.99 * (double)(n - 1))], n);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: capi_bench <redis-url>|memory check|check-nopipe|leased|boundary|admit|"
                    "admit-async <threads> <seconds>\n");
    return 2;
  }
  boundary = strcmp(argv[2], "boundary") == 0;
  admit = strcmp(argv[2], "admit") == 0;
  int admit_async = strcmp(argv[2], "admit-async") == 0;
  if (strcmp(argv[2], "leased") == 0) check_policy = "leased";
  int threads = atoi(argv[3]);
  seconds = atof(argv[4]);
  if (threads < 1 || threads > 1024 || seconds <= 0) return 2;

  tk_options_t opts;
  tk_error_t err;
  tk_options_init(&opts);
  opts.timeout_ms = 2000;
  if (strcmp(argv[2], "check-nopipe") == 0) opts.auto_pipeline = -1;
  int rc = strcmp(argv[1], "memory") == 0 ? tk_open_memory(policies, &opts, &handle, &err)
                                           : tk_open_redis(argv[1], policies, &opts, &handle, &err);
  if (rc != TK_OK) {
    fprintf(stderr, "capi_bench: open: %s\n", err.message);
    return 1;
  }
  per_thread = admit_async ? MAX_SAMPLES : MAX_SAMPLES / threads;
  if (!boundary && !(samples = malloc((size_t)MAX_SAMPLES * sizeof *samples))) {
    fprintf(stderr, "capi_bench: out of memory\n");
    return 1;
  }
  if (!boundary) memset(samples, 0, (size_t)MAX_SAMPLES * sizeof *samples); /* fault the pages in now */
  pthread_t tids[1024];
  double start = now_s();
  if (admit_async) {
    if (run_admit_async(threads)) atomic_store(&failures, 1);
    threads = 1; /* one thread's samples */
  } else {
    for (long i = 0; i < threads; i++) pthread_create(&tids[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  }
  double elapsed = now_s() - start;
  tk_free(handle);
  if (atomic_load(&failures)) return 1;
  long calls = atomic_load(&total_calls);
  printf("%.0f\n", (double)calls / elapsed);
  if (!boundary) print_latency(threads);
  free(samples);
  return 0;
}
