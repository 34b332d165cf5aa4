/*
 * capi_bench: one measurement of libthrottlekit from C, printed as calls per second (all
 * threads together). bench/capi/main.go runs it beside the Go client, in turns, and prints the
 * ratios.
 *
 *   capi_bench <redis-url> check|check-nopipe|boundary <threads> <seconds>
 *
 * check:    tk_check of a generous gcra policy over 1,000 keys (every call a script call in
 *           Redis), auto-pipelining on (the default).
 * check-nopipe: the same with opts.auto_pipeline = -1 (each call its own round trip).
 * boundary: tk_check of an unknown policy, which fails inside the core without I/O: the cost
 *           of crossing C -> Go -> C.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "throttlekit.h"

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000, prefix: bench-capi }\n";

static tk_handle_t handle;
static int boundary;
static double seconds;
static atomic_long total_calls;
static atomic_int failures;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
  long id = (long)(size_t)arg, calls = 0;
  char key[32] = "user-0";
  tk_decision_t d;
  tk_error_t err;
  const char *policy = boundary ? "no-such-policy" : "api";
  int want = boundary ? TK_E_NOT_FOUND : TK_OK;
  double end = now_s() + seconds;
  while (now_s() < end) {
    for (int i = 0; i < 64; i++, calls++) {
      if (!boundary) snprintf(key, sizeof key, "user-%ld", (id * 7919 + calls) % 1000);
      if (tk_check(handle, policy, key, 1, &d, &err) != want || (!boundary && !d.allowed)) {
        fprintf(stderr, "capi_bench: unexpected status %d: %s\n", err.status, err.message);
        atomic_store(&failures, 1);
        return NULL;
      }
    }
  }
  atomic_fetch_add(&total_calls, calls);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: capi_bench <redis-url> check|check-nopipe|boundary <threads> <seconds>\n");
    return 2;
  }
  boundary = strcmp(argv[2], "boundary") == 0;
  int threads = atoi(argv[3]);
  seconds = atof(argv[4]);
  if (threads < 1 || threads > 1024 || seconds <= 0) return 2;

  tk_options_t opts;
  tk_error_t err;
  tk_options_init(&opts);
  opts.timeout_ms = 2000;
  if (strcmp(argv[2], "check-nopipe") == 0) opts.auto_pipeline = -1;
  if (tk_open_redis(argv[1], policies, &opts, &handle, &err) != TK_OK) {
    fprintf(stderr, "capi_bench: open: %s\n", err.message);
    return 1;
  }
  pthread_t tids[1024];
  double start = now_s();
  for (long i = 0; i < threads; i++) pthread_create(&tids[i], NULL, worker, (void *)(size_t)i);
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double elapsed = now_s() - start;
  tk_free(handle);
  if (atomic_load(&failures)) return 1;
  long calls = atomic_load(&total_calls);
  printf("%.0f\n", (double)calls / elapsed);
  return 0;
}
