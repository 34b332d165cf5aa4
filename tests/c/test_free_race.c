/*
 * test_free_race.c - tk_free while other threads are inside calls on the same handle.
 *
 * c-abi.md: calls already running finish normally, calls that start afterwards get
 * TK_E_BADHANDLE, and tk_free returns once the running ones are done.
 *
 * (1) Fast calls: 8 threads loop over check / check_many / peek / forecast / check_at against
 *     the real Redis while the main thread frees the handle, over many rounds. Every call ends
 *     TK_OK or TK_E_BADHANDLE; once a thread saw TK_E_BADHANDLE it sees nothing else; calls
 *     that ended before tk_free began were TK_OK; calls that began after tk_free returned are
 *     TK_E_BADHANDLE; another handle used meanwhile is unaffected.
 * (2) Slow calls: a handle on a silent server with timeout_ms 400. 8 threads are certainly
 *     inside a call when tk_free starts; tk_free returns only after every one of them returned
 *     (TK_E_TIMEOUT, their normal status), and each thread's next call gets TK_E_BADHANDLE.
 * (3) Concurrent tk_free of one handle: exactly one TK_OK.
 * (4) A freed handle releases its connections: 100 open / check / free cycles leave the
 *     number of open file descriptors where it was.
 */
#include "tk_test_net.h"

#define THREADS 8
#define ROUNDS 12
#define MAX_RECORDS 20000
#define SLOW_TIMEOUT_MS 400
#define SLACK_US 50000 /* between a call's return inside the library and the thread's clock read */

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000 }\n"
    "  fw: { strategy: fixedWindow, limit: 1000000, windowMs: 60000 }\n";

typedef struct {
  int64_t start_us, end_us;
  int rc;
} record_t;

typedef struct {
  tk_handle_t h;
  int index;
  atomic_int *calls_done;
  atomic_int *stop;
  record_t *rec;
  int n;
} fast_arg_t;

static int one_call(tk_handle_t h, int which, int index) {
  tk_decision_t d, ds[3];
  tk_forecast_t f;
  tk_error_t err;
  char key[32];
  snprintf(key, sizeof key, "t%d", index);
  const char *keys[3] = {key, "shared", key};
  switch (which % 5) {
  case 0: return tk_check(h, "api", key, 1, &d, &err);
  case 1: return tk_check_many(h, "fw", keys, 3, 1, ds, &err);
  case 2: return tk_peek(h, "api", key, &d, &err);
  case 3: return tk_forecast(h, "fw", key, 1, &f, &err);
  default: return tk_check_at(h, "fw", key, 1, tk_t_wall_ms(), &d, &err);
  }
}

static void *fast_worker(void *p) {
  fast_arg_t *a = p;
  int bad_in_a_row = 0;
  while (a->n < MAX_RECORDS && bad_in_a_row < 3) {
    record_t *r = &a->rec[a->n];
    r->start_us = tk_t_mono_us();
    r->rc = one_call(a->h, a->n + a->index, a->index);
    r->end_us = tk_t_mono_us();
    a->n++;
    atomic_fetch_add(a->calls_done, 1);
    /* After the free, a few more calls to see them refused; then stop. */
    if (r->rc == TK_E_BADHANDLE) bad_in_a_row++;
    if (atomic_load(a->stop)) bad_in_a_row++;
  }
  return NULL;
}

/* A bystander: a second handle used throughout must never notice the other's free. */
typedef struct {
  tk_handle_t h;
  atomic_int *stop;
  long calls, failures;
} bystander_t;

static void *bystander(void *p) {
  bystander_t *b = p;
  while (!atomic_load(b->stop)) {
    tk_decision_t d;
    tk_error_t err;
    if (tk_check(b->h, "api", "bystander", 1, &d, &err) != TK_OK) b->failures++;
    b->calls++;
  }
  return NULL;
}

static void test_fast(const char *url) {
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "free-race");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  tk_error_t err;
  tk_handle_t other = 0;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &other, &err))) return;
  atomic_int stop_bystander = 0;
  bystander_t by = {other, &stop_bystander, 0, 0};
  pthread_t byth;
  CHECK(pthread_create(&byth, NULL, bystander, &by) == 0);

  long total_ok = 0, total_bad = 0, overlapping = 0;
  record_t *recs = calloc((size_t)THREADS * MAX_RECORDS, sizeof *recs);
  for (int round = 0; round < ROUNDS; round++) {
    tk_handle_t h = 0;
    if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) break;
    atomic_int calls_done = 0, stop = 0;
    fast_arg_t args[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
      args[i] = (fast_arg_t){h, i, &calls_done, &stop, recs + (size_t)i * MAX_RECORDS, 0};
      CHECK(pthread_create(&th[i], NULL, fast_worker, &args[i]) == 0);
    }
    /* Free mid-stream: once the threads are well into their loops (varying per round). */
    while (atomic_load(&calls_done) < THREADS * (4 + round * 3)) tk_t_sleep_ms(1);
    int64_t free_start = tk_t_mono_us();
    int rc = tk_free(h);
    int64_t free_end = tk_t_mono_us();
    atomic_store(&stop, 1);
    EXPECT_OK(rc);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

    long bad_status = 0, late_ok = 0, early_bad = 0, unrefused = 0, ok_after_bad = 0;
    for (int i = 0; i < THREADS; i++) {
      int seen_bad = 0;
      for (int j = 0; j < args[i].n; j++) {
        const record_t *r = &args[i].rec[j];
        if (r->rc != TK_OK && r->rc != TK_E_BADHANDLE) {
          if (!bad_status++)
            fprintf(stderr, "round %d thread %d call %d: %s\n", round, i, j,
                    tk_t_status_name(r->rc));
        }
        if (r->rc == TK_OK) {
          total_ok++;
          if (seen_bad) ok_after_bad++;
          if (r->start_us > free_end) late_ok++; /* began after tk_free returned */
        } else if (r->rc == TK_E_BADHANDLE) {
          total_bad++;
          seen_bad = 1;
          if (r->end_us < free_start) early_bad++; /* ended before tk_free began */
        }
        if (r->start_us < free_start && r->end_us > free_start) overlapping++;
      }
      if (!seen_bad) unrefused++;
    }
    EXPECT_EQ(bad_status, 0);
    EXPECT_EQ(late_ok, 0);
    EXPECT_EQ(early_bad, 0);
    EXPECT_EQ(ok_after_bad, 0);
    EXPECT_EQ(unrefused, 0); /* every thread went on until refused */
    /* The freed handle stays dead, and a second free says so. */
    tk_decision_t d;
    EXPECT_STATUS(tk_check(h, "api", "k", 1, &d, &err), TK_E_BADHANDLE);
    EXPECT_ERR(err, TK_E_BADHANDLE);
    EXPECT_STATUS(tk_free(h), TK_E_BADHANDLE);
  }
  atomic_store(&stop_bystander, 1);
  pthread_join(byth, NULL);
  free(recs);
  CHECKF(total_ok > 0 && total_bad > 0, "%ld OK, %ld refused", total_ok, total_bad);
  EXPECT_EQ(by.failures, 0);
  CHECK(by.calls > 0);
  EXPECT_OK(tk_free(other));
  printf("fast free race: %d rounds, %ld calls TK_OK, %ld TK_E_BADHANDLE, %ld overlapping "
         "tk_free's start; bystander %ld calls\n",
         ROUNDS, total_ok, total_bad, overlapping, by.calls);
}

/* ---- (2) slow calls --------------------------------------------------------------------- */

typedef struct {
  tk_handle_t h;
  atomic_int *entered;
  record_t first, second;
} slow_arg_t;

static void *slow_worker(void *p) {
  slow_arg_t *a = p;
  tk_decision_t d;
  tk_error_t err;
  atomic_fetch_add(a->entered, 1);
  a->first.start_us = tk_t_mono_us();
  a->first.rc = tk_check(a->h, "api", "slow", 1, &d, &err);
  a->first.end_us = tk_t_mono_us();
  /* tk_free began while the first call ran: this one starts after it, so it is refused. */
  a->second.start_us = tk_t_mono_us();
  a->second.rc = tk_check(a->h, "api", "slow", 1, &d, &err);
  a->second.end_us = tk_t_mono_us();
  return NULL;
}

static void test_slow(const tk_t_silent_t *s, int fail_mode) {
  char url[128];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", s->port);
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = SLOW_TIMEOUT_MS;
  o.fail_mode = fail_mode;
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) return;
  atomic_int entered = 0;
  slow_arg_t args[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    memset(&args[i], 0, sizeof args[i]);
    args[i].h = h;
    args[i].entered = &entered;
    CHECK(pthread_create(&th[i], NULL, slow_worker, &args[i]) == 0);
  }
  while (atomic_load(&entered) < THREADS) tk_t_sleep_ms(1);
  tk_t_sleep_ms(150); /* now every thread is inside its call, waiting on the silent server */
  int64_t free_start = tk_t_mono_us();
  int rc = tk_free(h);
  int64_t free_end = tk_t_mono_us();
  EXPECT_OK(rc);
  /* Anything started after tk_free returned is refused. */
  tk_decision_t d;
  EXPECT_STATUS(tk_check(h, "api", "slow", 1, &d, &err), TK_E_BADHANDLE);
  EXPECT_ERR(err, TK_E_BADHANDLE);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

  int64_t last_end = 0;
  const int want_first = fail_mode == TK_FAIL_ERROR ? TK_E_TIMEOUT : TK_OK;
  for (int i = 0; i < THREADS; i++) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "slow thread %d, in-flight call", i);
    EXPECT_STATUS_CTX(ctx, args[i].first.rc, want_first);
    CHECKF(args[i].first.start_us < free_start, "thread %d began its call after tk_free", i);
    CHECKF(args[i].first.end_us - args[i].first.start_us >= (SLOW_TIMEOUT_MS - 30) * 1000,
           "thread %d: the in-flight call lasted only %lld us", i,
           (long long)(args[i].first.end_us - args[i].first.start_us));
    if (args[i].first.end_us > last_end) last_end = args[i].first.end_us;
    snprintf(ctx, sizeof ctx, "slow thread %d, call after tk_free", i);
    EXPECT_STATUS_CTX(ctx, args[i].second.rc, TK_E_BADHANDLE);
    CHECKF(args[i].second.end_us - args[i].second.start_us < 100000,
           "thread %d: the refused call took %lld us", i,
           (long long)(args[i].second.end_us - args[i].second.start_us));
  }
  /* tk_free waited for the running calls: it returned after the last of them returned
     (up to the moment between the library's return and the thread reading its clock). */
  CHECKF(free_end + SLACK_US >= last_end,
         "tk_free returned %lld us before the last in-flight call ended",
         (long long)(last_end - free_end));
  CHECKF(free_end - free_start >= 100000, "tk_free took only %lld us while calls were running",
         (long long)(free_end - free_start));
  printf("slow free race (%s): tk_free took %lld ms; last in-flight call ended %lld ms after "
         "tk_free began\n",
         fail_mode == TK_FAIL_ERROR ? "fail-error" : "fail-open",
         (long long)(free_end - free_start) / 1000, (long long)(last_end - free_start) / 1000);
}

/* ---- (3) concurrent tk_free ---------------------------------------------------------------- */

typedef struct {
  tk_handle_t h;
  pthread_barrier_t *go;
  int rc;
} freer_t;

static void *freer(void *p) {
  freer_t *f = p;
  pthread_barrier_wait(f->go);
  f->rc = tk_free(f->h);
  return NULL;
}

static void test_double_free(const char *url) {
  for (int round = 0; round < 20; round++) {
    tk_handle_t h = 0;
    tk_error_t err;
    if (!EXPECT_OK(tk_open_redis(url, policies, NULL, &h, &err))) return;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 4);
    freer_t f[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      f[i] = (freer_t){h, &go, 99};
      CHECK(pthread_create(&th[i], NULL, freer, &f[i]) == 0);
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
      pthread_join(th[i], NULL);
      ok += f[i].rc == TK_OK;
      bad += f[i].rc == TK_E_BADHANDLE;
    }
    pthread_barrier_destroy(&go);
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(bad, 3);
  }
}

/* ---- (4) no descriptor leak ------------------------------------------------------------------- */

static void cycle(const char *url, int n) {
  const char *keys[4] = {"a", "b", "a", "c"};
  for (int i = 0; i < n; i++) {
    tk_handle_t h = 0;
    tk_error_t err;
    tk_decision_t d, ds[4];
    if (!EXPECT_OK(tk_open_redis(url, policies, NULL, &h, &err))) return;
    EXPECT_OK(tk_check(h, "api", "fd-cycle", 1, &d, &err));
    EXPECT_OK(tk_check_many(h, "fw", keys, 4, 1, ds, &err));
    EXPECT_OK(tk_free(h));
  }
}

static void test_no_fd_leak(const char *url) {
  cycle(url, 3); /* the runtime's own descriptors (netpoller) exist from here on */
  int before = tk_t_fd_count();
  cycle(url, 100);
  tk_t_sleep_ms(50);
  int after = tk_t_fd_count();
  CHECKF(before > 0 && after <= before + 2, "open descriptors: %d before 100 open/free cycles, "
         "%d after", before, after);
}

int main(void) {
  tk_t_silent_t silent;
  if (CHECK(tk_t_silent_start(&silent) == 0)) {
    test_slow(&silent, TK_FAIL_ERROR);
    test_slow(&silent, TK_FAIL_OPEN);
    tk_t_silent_stop(&silent);
  }
  /* Concurrent frees need no Redis (open does not dial). */
  test_double_free("redis://127.0.0.1:6379/0");
  const char *url = tk_t_redis_url("the fast free race (real Redis)");
  if (url) {
    test_fast(url);
    test_no_fd_leak(url);
  }
  return tk_t_finish();
}
