/*
 * test_threads.c - one handle shared by 16 threads.
 *
 * 16 pthreads race 20,000 tk_check_at calls of cost 1, all at one fixed now, against a
 * fixedWindow of limit 1,000: exactly 1,000 are admitted, 19,000 denied, and no call fails.
 * The threads start together (a barrier) so that the calls really overlap.
 *
 * First, in this fresh process, 8 threads make the process's first tk_open_redis at once:
 * the lazy loading of the Go core races itself, and every open must succeed with its own
 * handle.
 */
#include "tk_test.h"

#include <pthread.h>

#define THREADS 16
#define CALLS 20000
#define LIMIT 1000

static tk_handle_t handle;
/* One instant, 1 ms into a minute window: the key's TTL (what is left of the window) is then
   59,999 ms of real time, far longer than the race. */
static const int64_t fixed_now = 1700000040001;
static pthread_barrier_t start;
static char key[160];

typedef struct {
  long allowed, denied, errors, bad_fields;
  int first_error;
  char first_message[256];
} tally_t;

static void *worker(void *arg) {
  tally_t *t = arg;
  pthread_barrier_wait(&start);
  for (int i = 0; i < CALLS / THREADS; i++) {
    tk_decision_t d;
    tk_error_t err;
    int rc = tk_check_at(handle, "fw", key, 1, fixed_now, &d, &err);
    if (rc != TK_OK) {
      if (!t->errors++) {
        t->first_error = rc;
        snprintf(t->first_message, sizeof t->first_message, "%s", err.message);
      }
      continue;
    }
    d.allowed ? t->allowed++ : t->denied++;
    /* Every decision of this window must report the window's limit and end; a denial says 0. */
    if (d.limit != LIMIT || d.remaining < 0 || d.remaining >= LIMIT ||
        (!d.allowed && (d.remaining != 0 || d.retry_after_ms <= 0)) || (d.allowed && d.retry_after_ms))
      t->bad_fields++;
  }
  return NULL;
}

/* ---- The first open, from 8 threads at once ------------------------------------------------ */

#define OPENERS 8
static pthread_barrier_t open_gate;
static const char *open_url;
static tk_options_t open_opts;

typedef struct {
  tk_handle_t h;
  int rc;
  char message[256];
} opened_t;

static void *opener(void *p) {
  opened_t *o = p;
  tk_error_t err;
  pthread_barrier_wait(&open_gate);
  o->rc = tk_open_redis(open_url,
                        "limiters:\n  fw: { strategy: fixedWindow, limit: 1000, windowMs: 60000 }\n",
                        &open_opts, &o->h, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  return NULL;
}

/* Returns one of the handles (the others are freed), or 0. */
static tk_handle_t racing_first_open(const char *url, const tk_options_t *opts) {
  CHECKF(tk_t_is_mapped("libthrottlekit-core.so") == 0, "the core is loaded before any open");
  open_url = url;
  open_opts = *opts;
  pthread_barrier_init(&open_gate, NULL, OPENERS);
  pthread_t th[OPENERS];
  opened_t o[OPENERS];
  memset(o, 0, sizeof o);
  for (int i = 0; i < OPENERS; i++) CHECK(pthread_create(&th[i], NULL, opener, &o[i]) == 0);
  for (int i = 0; i < OPENERS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&open_gate);
  tk_handle_t keep = 0;
  for (int i = 0; i < OPENERS; i++) {
    char ctx[32];
    snprintf(ctx, sizeof ctx, "opener %d", i);
    if (!EXPECT_STATUS_CTX(ctx, o[i].rc, TK_OK)) {
      fprintf(stderr, "  %s\n", o[i].message);
      continue;
    }
    for (int j = 0; j < i; j++) CHECKF(o[i].h != o[j].h, "openers %d and %d got one handle", i, j);
    if (!keep)
      keep = o[i].h;
    else
      EXPECT_OK(tk_free(o[i].h));
  }
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 1);
  return keep;
}

int main(void) {
  const char *url = tk_t_redis_url("the 16-thread race");
  if (!url) return tk_t_finish();
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "threads");
  snprintf(key, sizeof key, "race");
  tk_options_t opts;
  tk_options_init(&opts);
  opts.key_namespace = ns;
  opts.timeout_ms = 5000; /* generous: 16 threads on a small machine, maybe under ASan */
  tk_error_t err;
  handle = racing_first_open(url, &opts);
  if (!handle) return tk_t_finish();

  pthread_t th[THREADS];
  tally_t tally[THREADS];
  memset(tally, 0, sizeof tally);
  pthread_barrier_init(&start, NULL, THREADS);
  int64_t t0 = tk_t_mono_ms();
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, worker, &tally[i]) == 0);
  long allowed = 0, denied = 0, errors = 0, bad = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    allowed += tally[i].allowed;
    denied += tally[i].denied;
    errors += tally[i].errors;
    bad += tally[i].bad_fields;
    if (tally[i].errors)
      fprintf(stderr, "thread %d: %ld errors, first %s: %s\n", i, tally[i].errors,
              tk_t_status_name(tally[i].first_error), tally[i].first_message);
  }
  int64_t elapsed = tk_t_mono_ms() - t0;
  pthread_barrier_destroy(&start);
  EXPECT_EQ(allowed, LIMIT);
  EXPECT_EQ(denied, CALLS - LIMIT);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(allowed + denied + errors, CALLS);

  /* The window's state agrees: a peek at the same instant sees it full. */
  tk_decision_t d;
  if (EXPECT_OK(tk_peek_at(handle, "fw", key, fixed_now, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.remaining, 0);
    EXPECT_EQ(d.limit, LIMIT);
  }
  EXPECT_OK(tk_free(handle));
  printf("16 threads: %ld admitted, %ld denied, %ld errors in %lld ms\n", allowed, denied, errors,
         (long long)elapsed);
  return tk_t_finish();
}
