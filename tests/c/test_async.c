/*
 * test_async.c - asynchronous checks (tk_check_async, tk_completion_fd, tk_poll) and
 * tk_debug_goroutines.
 *
 *   - tk_debug_goroutines is -1 before any open (and starts nothing), > 0 after, and -1 in a
 *     forked child; the async functions before any open are TK_E_BADHANDLE;
 *   - input errors come back from tk_check_async itself and queue nothing (the fd stays
 *     unreadable, tk_poll finds nothing); tk_poll's and tk_completion_fd's own argument errors;
 *   - Redis door: cookies come back as given (0 and UINT64_MAX too), each exactly once; a
 *     fixedWindow burst of N async checks on one key admits exactly `limit`, with the same
 *     decisions tk_check gives on a twin key; the fd is readable while completions wait, stays
 *     readable after a partial tk_poll, and is not readable once drained; keys are copied at
 *     submission (the buffer is freed at once: ASan would see a use after free);
 *   - 10,000 calls in flight from one thread, drained through epoll on the fd; the goroutine
 *     count comes back down afterwards; four threads submitting while one drains;
 *   - a silent server: every call completes with TK_E_TIMEOUT / TK_E_UNAVAILABLE within the
 *     timeout plus slack; TK_FAIL_OPEN and TK_FAIL_CLOSED completions are synthesized; a dead
 *     port is TK_E_UNAVAILABLE;
 *   - tk_free with calls in flight: returns within the timeout, every call completes with
 *     TK_E_BADHANDLE (collected with tk_poll after tk_free), then tk_poll is TK_E_BADHANDLE;
 *     the fd is closed; later submissions are TK_E_BADHANDLE;
 *   - fork: the async functions return TK_E_FORKED in a child;
 *   - the service door (throttlekit-server started here): the same burst, an unknown policy
 *     completing with TK_E_NOT_FOUND, a non-UTF-8 key refused at submission, the fail mode
 *     with the server gone.
 *
 * Needs THROTTLEKIT_REDIS_URL for the Redis parts and the server binary ($THROTTLEKIT_SERVER,
 * else <repo>/build/bin/throttlekit-server) for the service door; each skips without (fails
 * when CI=true).
 */
#include "tk_test_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>

#define POW2_53 ((int64_t)1 << 53)
#define WINDOW_MS 3600000 /* the fixedWindow policies' windows: 1 h, epoch-aligned */
#define LIVE_TIMEOUT_MS 5000
#define DOWN_TIMEOUT_MS 300
#define DOWN_SLACK_MS 1200 /* a completion on a silent server arrives within timeout + this */
#define MANY 10000

static const char *policies =
    "limiters:\n"
    "  fw: { strategy: fixedWindow, limit: 5, windowMs: 1h }\n"
    "  big: { strategy: fixedWindow, limit: 1000000, windowMs: 1h }\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 1h }\n";

static tk_error_t err;

/* ---- Helpers ----------------------------------------------------------------------------- */

/* Whether fd is readable now (poll with a zero timeout): 1, 0, or -1 on error. */
static int readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int rc = poll(&p, 1, 0);
  if (rc < 0) return -1;
  return rc > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/* Collects completions of h into out until want have arrived or bound_ms passed, waiting on
   fd with poll(). Every wake-up that finds fd readable must find a completion (single
   poller). Returns how many arrived. */
static size_t collect(tk_handle_t h, int fd, tk_completion_t *out, size_t want, int64_t bound_ms) {
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + bound_ms;
  long empty_wakeups = 0;
  while (got < want) {
    int64_t left = deadline - tk_t_mono_ms();
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, (int)left);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    size_t n = 0;
    if (!EXPECT_OK(tk_poll(h, out + got, want - got, &n))) break;
    if (n == 0) empty_wakeups++;
    got += n;
  }
  CHECKF(empty_wakeups == 0, "the fd was readable %ld times with nothing to poll", empty_wakeups);
  return got;
}

/* Each cookie base .. base+n-1 exactly once among c[0..n). */
static void expect_cookies_once(const tk_completion_t *c, size_t n, uint64_t base, size_t want) {
  unsigned char *seen = calloc(want, 1);
  size_t dup = 0, stray = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t k = c[i].cookie - base;
    if (c[i].cookie < base || k >= want)
      stray++;
    else if (seen[k]++)
      dup++;
  }
  size_t missing = 0;
  for (size_t i = 0; i < want; i++) missing += !seen[i];
  free(seen);
  EXPECT_EQ(n, want);
  EXPECT_EQ(dup, 0);
  EXPECT_EQ(stray, 0);
  EXPECT_EQ(missing, 0);
}

static tk_handle_t open_redis(const char *url, const char *ns, int timeout_ms, int fail_mode) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  o.key_namespace = ns;
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
    fprintf(stderr, "  tk_open_redis(%s): %s\n", url, err.message);
    return 0;
  }
  return h;
}

static int completion_fd(tk_handle_t h) {
  int fd = -2;
  tk_t_poison_err(&err);
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return -1;
  EXPECT_ERR(err, TK_OK);
  CHECK(fd >= 0);
  int fl = fcntl(fd, F_GETFL);
  CHECKF(fl >= 0 && (fl & O_NONBLOCK), "the completion fd is not non-blocking (flags %#x)", fl);
  int fdfl = fcntl(fd, F_GETFD);
  CHECKF(fdfl >= 0 && (fdfl & FD_CLOEXEC), "the completion fd is not close-on-exec");
  int again = -2;
  EXPECT_OK(tk_completion_fd(h, &again, NULL));
  EXPECT_EQ(again, fd); /* one fd per handle */
  return fd;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The fixedWindow windows are epoch-aligned hours: a burst must not straddle a boundary. */
static void avoid_window_edge(void) {
  int64_t left = WINDOW_MS - tk_t_wall_ms() % WINDOW_MS;
  if (left < 15000) {
    printf("%lld ms to the next hour; waiting for it\n", (long long)left);
    tk_t_sleep_ms(left + 100);
  }
}

/* ---- Before any open ----------------------------------------------------------------------- */

static void test_before_open(void) {
  EXPECT_EQ(tk_debug_goroutines(), -1);
  int fd = -2;
  size_t n = 7;
  tk_completion_t c[2];
  EXPECT_STATUS(tk_check_async(12345, "fw", "k", 1, 1, &err), TK_E_BADHANDLE);
  EXPECT_ERR(err, TK_E_BADHANDLE);
  EXPECT_STATUS(tk_completion_fd(12345, &fd, &err), TK_E_BADHANDLE);
  EXPECT_EQ(fd, -1);
  EXPECT_STATUS(tk_poll(12345, c, 2, &n), TK_E_BADHANDLE);
  EXPECT_EQ(n, 0);
  EXPECT_STATUS(tk_check_async(1, NULL, "k", 1, 1, &err), TK_E_INVALID);
  /* None of that started the core. */
  EXPECT_EQ(tk_debug_goroutines(), -1);
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core"), 0);
}

/* ---- Input errors -------------------------------------------------------------------------- */

static void test_input_errors(tk_handle_t h, int is_redis) {
  int fd = completion_fd(h);
  char *long_key = malloc(4098);
  memset(long_key, 'k', 4097);
  long_key[4097] = '\0';
  tk_handle_t freed = 0;
  tk_options_t o;
  tk_options_init(&o);
  if (EXPECT_OK(tk_open_redis("redis://127.0.0.1:1/0", policies, &o, &freed, NULL)))
    EXPECT_OK(tk_free(freed));

#define SYNC_ERR(want, call)                                                                  \
  do {                                                                                        \
    tk_t_poison_err(&err);                                                                    \
    int rc_ = (call);                                                                         \
    if (!EXPECT_STATUS_CTX(#call, rc_, want)) fprintf(stderr, "  message: %s\n", err.message); \
    EXPECT_ERR_CTX(#call, err, want);                                                         \
  } while (0)
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, NULL, "k", 1, 1, &err));
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, "", "k", 1, 1, &err));
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, "fw", NULL, 1, 1, &err));
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, "fw", "k", -1, 1, &err));
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, "fw", "k", POW2_53, 1, &err));
  SYNC_ERR(TK_E_INVALID, tk_check_async(h, "fw", long_key, 1, 1, &err));
  SYNC_ERR(TK_E_BADHANDLE, tk_check_async(0, "fw", "k", 1, 1, &err));
  SYNC_ERR(TK_E_BADHANDLE, tk_check_async(h + 1000003, "fw", "k", 1, 1, &err));
  if (freed) SYNC_ERR(TK_E_BADHANDLE, tk_check_async(freed, "fw", "k", 1, 1, &err));
  if (is_redis) {
    SYNC_ERR(TK_E_NOT_FOUND, tk_check_async(h, "nope", "k", 1, 1, &err));
    SYNC_ERR(TK_E_UNSUPPORTED, tk_check_async(h, "llm", "k", 1, 1, &err));
  } else {
    SYNC_ERR(TK_E_INVALID, tk_check_async(h, "fw", "bad\xff\xfeutf8", 1, 1, &err));
  }
  /* err may be NULL */
  EXPECT_STATUS(tk_check_async(h, "fw", NULL, 1, 1, NULL), TK_E_INVALID);

  size_t n = 99;
  tk_completion_t c[4];
  EXPECT_STATUS(tk_poll(h, c, 4, NULL), TK_E_INVALID);
  EXPECT_STATUS(tk_poll(h, NULL, 4, &n), TK_E_INVALID);
  EXPECT_EQ(n, 0);
  EXPECT_OK(tk_poll(h, NULL, 0, &n));
  SYNC_ERR(TK_E_INVALID, tk_completion_fd(h, NULL, &err));
  SYNC_ERR(TK_E_BADHANDLE, tk_completion_fd(0, &fd, &err));
  if (freed) {
    EXPECT_STATUS(tk_poll(freed, c, 4, &n), TK_E_BADHANDLE);
    int f2 = 0;
    SYNC_ERR(TK_E_BADHANDLE, tk_completion_fd(freed, &f2, &err));
    EXPECT_EQ(f2, -1);
  }
#undef SYNC_ERR

  /* Nothing was queued: nothing completes. */
  tk_t_sleep_ms(50);
  if (fd >= 0) EXPECT_EQ(readable(fd), 0);
  n = 99;
  EXPECT_OK(tk_poll(h, c, 4, &n));
  EXPECT_EQ(n, 0);
  free(long_key);
}

/* ---- Redis door: semantics ------------------------------------------------------------------ */

static void test_burst_and_cookies(const char *url) {
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "async");
  tk_handle_t h = open_redis(url, ns, LIVE_TIMEOUT_MS, TK_FAIL_ERROR);
  if (!h) return;
  test_input_errors(h, 1);
  int fd = completion_fd(h);
  if (fd < 0) goto out;
  avoid_window_edge();

  /* 12 async checks on one key, 12 sync ones on a twin key. */
  enum { N = 12, LIMIT = 5 };
  tk_completion_t c[N];
  uint64_t base = 0xC0FFEE0000ULL;
  int64_t t0 = tk_t_mono_ms();
  for (int i = 0; i < N; i++) EXPECT_OK(tk_check_async(h, "fw", "burst-a", 1, base + (uint64_t)i, &err));
  size_t got = collect(h, fd, c, N, LIVE_TIMEOUT_MS + 2000);
  printf("redis: %d async checks completed in %lld ms\n", N, (long long)(tk_t_mono_ms() - t0));
  expect_cookies_once(c, got, base, N);
  EXPECT_EQ(readable(fd), 0); /* drained: not readable */

  tk_decision_t s[N];
  for (int i = 0; i < N; i++) EXPECT_OK(tk_check(h, "fw", "burst-b", 1, &s[i], &err));
  int64_t ra[N], rs[N];
  int admitted_a = 0, admitted_s = 0;
  for (size_t i = 0; i < got; i++) {
    EXPECT_STATUS(c[i].status, TK_OK);
    EXPECT_EQ(c[i].reserved0, 0);
    EXPECT_STREQ(c[i].message, "");
    EXPECT_EQ(c[i].decision.limit, LIMIT);
    EXPECT_EQ(c[i].decision.flags, 0);
    EXPECT_EQ(c[i].decision.reset_at_ms, s[0].reset_at_ms); /* the same epoch-aligned window */
    if (!c[i].decision.allowed) CHECK(c[i].decision.retry_after_ms > 0);
    admitted_a += c[i].decision.allowed;
    ra[i] = c[i].decision.remaining;
  }
  for (int i = 0; i < N; i++) {
    admitted_s += s[i].allowed;
    rs[i] = s[i].remaining;
  }
  EXPECT_EQ(admitted_a, LIMIT);
  EXPECT_EQ(admitted_s, LIMIT);
  if (got == N) {
    qsort(ra, N, sizeof ra[0], cmp_i64);
    qsort(rs, N, sizeof rs[0], cmp_i64);
    int same = 1;
    for (int i = 0; i < N; i++) same &= ra[i] == rs[i];
    CHECKF(same, "the async burst's remaining values differ from tk_check's");
  }
  /* The key is spent: a sync check agrees with the async ones. */
  tk_decision_t d;
  if (EXPECT_OK(tk_check(h, "fw", "burst-a", 1, &d, &err))) EXPECT_EQ(d.allowed, 0);

  /* Cookies are opaque 64-bit values: 0 and UINT64_MAX come back too. */
  uint64_t odd[3] = {0, UINT64_MAX, 0x8000000000000000ULL};
  for (int i = 0; i < 3; i++) EXPECT_OK(tk_check_async(h, "api", "odd", 1, odd[i], NULL));
  got = collect(h, fd, c, 3, LIVE_TIMEOUT_MS + 2000);
  EXPECT_EQ(got, 3);
  int found[3] = {0, 0, 0};
  for (size_t i = 0; i < got; i++)
    for (int j = 0; j < 3; j++) found[j] += c[i].cookie == odd[j];
  for (int j = 0; j < 3; j++) EXPECT_EQ(found[j], 1);

  /* Readable while completions wait, still readable after a partial poll. */
  for (int i = 0; i < 3; i++) EXPECT_OK(tk_check_async(h, "big", "partial", 1, 500 + (uint64_t)i, NULL));
  int64_t deadline = tk_t_mono_ms() + LIVE_TIMEOUT_MS;
  size_t n = 0, total = 0;
  /* Wait for all three (a completion can only be observed by polling; sleep, not poll). */
  while (tk_t_mono_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) tk_t_sleep_ms(200); /* give the others time to land */
    if (readable(fd) == 1) break;
  }
  EXPECT_EQ(readable(fd), 1);
  if (EXPECT_OK(tk_poll(h, c, 1, &n))) EXPECT_EQ(n, 1);
  total += n;
  if (total < 3) {
    EXPECT_EQ(readable(fd), 1);
  }
  total += collect(h, fd, c + 1, 2, LIVE_TIMEOUT_MS);
  EXPECT_EQ(total, 3);
  EXPECT_EQ(readable(fd), 0);
  n = 9;
  EXPECT_OK(tk_poll(h, c, 3, &n));
  EXPECT_EQ(n, 0);

  /* The key is copied at submission: the buffer is gone before the check runs. */
  char *key = malloc(16);
  snprintf(key, 16, "copied");
  EXPECT_OK(tk_check_async(h, "fw", key, 1, 77, NULL));
  memset(key, 'X', 15);
  free(key);
  got = collect(h, fd, c, 1, LIVE_TIMEOUT_MS + 2000);
  if (EXPECT_EQ(got, 1) && EXPECT_OK(c[0].status)) EXPECT_EQ(c[0].decision.remaining, LIMIT - 1);
  if (EXPECT_OK(tk_check(h, "fw", "copied", 1, &d, &err))) EXPECT_EQ(d.remaining, LIMIT - 2);
  EXPECT_EQ(readable(fd), 0);
out:
  EXPECT_OK(tk_free(h));
}

/* ---- 10,000 in flight ----------------------------------------------------------------------- */

static void test_many_in_flight(const char *url) {
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "async-many");
  tk_handle_t h = open_redis(url, ns, 15000, TK_FAIL_ERROR);
  if (!h) return;
  int fd = completion_fd(h);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 42};
  if (fd < 0 || !CHECK(ep >= 0) || !CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)) goto out;

  /* A warm-up, so that the baseline counts the connection pool's goroutines. */
  tk_decision_t d;
  EXPECT_OK(tk_check(h, "big", "warm", 1, &d, &err));
  int64_t baseline = tk_debug_goroutines();
  EXPECT_GT(baseline, 0);

  tk_completion_t *c = calloc(MANY, sizeof *c);
  uint64_t base = 1000000;
  int64_t t0 = tk_t_mono_ms();
  int submitted_ok = 1;
  for (int i = 0; i < MANY; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", i % 100);
    submitted_ok &= tk_check_async(h, "big", key, 1, base + (uint64_t)i, &err) == TK_OK;
  }
  CHECK(submitted_ok);
  int64_t t_submit = tk_t_mono_ms() - t0;
  int64_t peak = tk_debug_goroutines();

  /* Drain: edge-triggered epoll, tk_poll in batches of 256 until it returns fewer. */
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + 60000;
  while (got < MANY && tk_t_mono_ms() < deadline) {
    struct epoll_event out_ev;
    int rc = epoll_wait(ep, &out_ev, 1, 1000);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    EXPECT_EQ(out_ev.data.u64, 42);
    size_t n;
    do {
      n = 0;
      size_t room = MANY - got < 256 ? MANY - got : 256;
      if (!EXPECT_OK(tk_poll(h, c + got, room, &n))) break;
      got += n;
    } while (n == 256);
  }
  int64_t t_all = tk_t_mono_ms() - t0;
  printf("redis: %d async checks from one thread: submitted in %lld ms, all completed in %lld ms "
         "(goroutines: %lld before, %lld at the peak)\n",
         MANY, (long long)t_submit, (long long)t_all, (long long)baseline, (long long)peak);
  expect_cookies_once(c, got, base, MANY);
  size_t not_ok = 0, admitted = 0;
  for (size_t i = 0; i < got; i++) {
    not_ok += c[i].status != TK_OK;
    admitted += c[i].status == TK_OK && c[i].decision.allowed;
  }
  EXPECT_EQ(not_ok, 0);
  EXPECT_EQ(admitted, MANY);
  EXPECT_EQ(readable(fd), 0);
  /* Each key saw 100 checks. */
  if (EXPECT_OK(tk_peek(h, "big", "k7", &d, &err))) EXPECT_EQ(d.remaining, 1000000 - 100);

  /* The goroutines are gone once everything completed. */
  int64_t after = tk_debug_goroutines();
  for (int i = 0; i < 100 && after > baseline + 10; i++) {
    tk_t_sleep_ms(20);
    after = tk_debug_goroutines();
  }
  CHECKF(after <= baseline + 10, "goroutines: %lld before, %lld after 10,000 completed",
         (long long)baseline, (long long)after);
  free(c);
out:
  if (ep >= 0) {
    if (fd >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(ep);
  }
  EXPECT_OK(tk_free(h));
}

/* Four threads submit while the main thread drains. */
enum { THREADS = 4, PER_THREAD = 1000 };
typedef struct {
  tk_handle_t h;
  int index;
  int failures;
} submitter_t;

static void *submitter(void *arg) {
  submitter_t *s = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    char key[32];
    snprintf(key, sizeof key, "t%d-%d", s->index, i % 10);
    if (tk_check_async(s->h, "big", key, 1, (uint64_t)(s->index * PER_THREAD + i), NULL) != TK_OK)
      s->failures++;
  }
  return NULL;
}

static void test_threads(const char *url) {
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "async-threads");
  tk_handle_t h = open_redis(url, ns, 15000, TK_FAIL_ERROR);
  if (!h) return;
  int fd = completion_fd(h);
  if (fd >= 0) {
    pthread_t t[THREADS];
    submitter_t s[THREADS];
    for (int i = 0; i < THREADS; i++) {
      s[i] = (submitter_t){h, i, 0};
      CHECK(pthread_create(&t[i], NULL, submitter, &s[i]) == 0);
    }
    tk_completion_t *c = calloc(THREADS * PER_THREAD, sizeof *c);
    size_t got = collect(h, fd, c, THREADS * PER_THREAD, 60000);
    for (int i = 0; i < THREADS; i++) {
      pthread_join(t[i], NULL);
      EXPECT_EQ(s[i].failures, 0);
    }
    expect_cookies_once(c, got, 0, THREADS * PER_THREAD);
    size_t ok = 0;
    for (size_t i = 0; i < got; i++) ok += c[i].status == TK_OK && c[i].decision.allowed;
    EXPECT_EQ(ok, THREADS * PER_THREAD);
    EXPECT_EQ(readable(fd), 0);
    free(c);
  }
  EXPECT_OK(tk_free(h));
}

/* ---- Unreachable backends -------------------------------------------------------------------- */

static void expect_down(const char *what, tk_handle_t h, int fail_mode, int64_t bound_ms) {
  enum { N = 40 };
  int fd = completion_fd(h);
  if (fd < 0) return;
  tk_completion_t c[N];
  int64_t t0 = tk_t_mono_ms();
  for (int i = 0; i < N; i++) EXPECT_OK(tk_check_async(h, "fw", "down", 1, 9000 + (uint64_t)i, &err));
  size_t got = collect(h, fd, c, N, bound_ms + 3000);
  int64_t ms = tk_t_mono_ms() - t0;
  printf("%s: %d async checks completed in %lld ms (timeout %d ms)\n", what, N, (long long)ms,
         DOWN_TIMEOUT_MS);
  CHECKF(ms <= bound_ms, "[%s] completions took %lld ms, want <= %lld", what, (long long)ms,
         (long long)bound_ms);
  expect_cookies_once(c, got, 9000, N);
  for (size_t i = 0; i < got; i++) {
    if (fail_mode == TK_FAIL_ERROR) {
      EXPECT_STATUS2(c[i].status, TK_E_TIMEOUT, TK_E_UNAVAILABLE);
      CHECKF(c[i].message[0] != '\0', "[%s] an error completion without a message", what);
      EXPECT_EQ(c[i].decision.allowed, 0);
      EXPECT_EQ(c[i].decision.limit, 0);
    } else if (EXPECT_OK(c[i].status)) {
      EXPECT_EQ(c[i].decision.allowed, fail_mode == TK_FAIL_OPEN);
      EXPECT_EQ(c[i].decision.flags, TK_DECISION_SYNTHESIZED);
      EXPECT_EQ(c[i].decision.limit, 5);
      EXPECT_EQ(c[i].decision.remaining, fail_mode == TK_FAIL_OPEN ? 5 : 0);
      EXPECT_STREQ(c[i].message, "");
    }
  }
  EXPECT_EQ(readable(fd), 0);
}

static void test_unreachable(void) {
  tk_t_silent_t silent;
  if (!CHECK(tk_t_silent_start(&silent) == 0)) return;
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", silent.port);
  int modes[3] = {TK_FAIL_ERROR, TK_FAIL_OPEN, TK_FAIL_CLOSED};
  const char *names[3] = {"silent server, fail error", "silent server, fail open",
                          "silent server, fail closed"};
  for (int m = 0; m < 3; m++) {
    tk_handle_t h = open_redis(url, NULL, DOWN_TIMEOUT_MS, modes[m]);
    if (!h) continue;
    expect_down(names[m], h, modes[m], DOWN_TIMEOUT_MS + DOWN_SLACK_MS);
    EXPECT_OK(tk_free(h));
  }

  /* tk_free with calls in flight on a silent server (timeout 2 s): they complete with
     TK_E_BADHANDLE at once, tk_free returns within the timeout, the leftovers are collected
     after tk_free, then the handle is gone. */
  enum { N = 100 };
  int64_t goroutines_before = tk_debug_goroutines();
  tk_handle_t h = open_redis(url, NULL, 2000, TK_FAIL_OPEN);
  if (h) {
    int fd = completion_fd(h);
    for (int i = 0; i < N; i++) EXPECT_OK(tk_check_async(h, "fw", "freed", 1, (uint64_t)i, NULL));
    tk_t_sleep_ms(50);
    int64_t t0 = tk_t_mono_ms();
    EXPECT_OK(tk_free(h));
    int64_t ms = tk_t_mono_ms() - t0;
    printf("tk_free with %d calls in flight on a silent server: %lld ms\n", N, (long long)ms);
    EXPECT_LE(ms, 2000 + DOWN_SLACK_MS);
    if (fd >= 0) {
      errno = 0;
      CHECKF(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "the completion fd is still open after tk_free");
    }
    EXPECT_STATUS(tk_check_async(h, "fw", "freed", 1, 1, &err), TK_E_BADHANDLE);
    int fd2 = 0;
    EXPECT_STATUS(tk_completion_fd(h, &fd2, &err), TK_E_BADHANDLE);
    EXPECT_STATUS(tk_free(h), TK_E_BADHANDLE);
    tk_completion_t c[N + 1];
    size_t got = 0, n = 0;
    /* In pieces, to see it keep answering until the last one. */
    while (got < N && tk_poll(h, c + got, 30, &n) == TK_OK && n > 0) got += n;
    expect_cookies_once(c, got, 0, N);
    for (size_t i = 0; i < got; i++) {
      EXPECT_STATUS(c[i].status, TK_E_BADHANDLE);
      CHECKF(strstr(c[i].message, "freed") != NULL, "message: %s", c[i].message);
      EXPECT_EQ(c[i].decision.allowed, 0);
    }
    n = 5;
    EXPECT_STATUS(tk_poll(h, c, N, &n), TK_E_BADHANDLE);
    EXPECT_EQ(n, 0);
    /* tk_free waited for the checks it cancelled: their goroutines are gone. */
    int64_t after = tk_debug_goroutines();
    for (int i = 0; i < 50 && after > goroutines_before + 5; i++) {
      tk_t_sleep_ms(20);
      after = tk_debug_goroutines();
    }
    CHECKF(after <= goroutines_before + 5, "goroutines: %lld before the handle, %lld after tk_free",
           (long long)goroutines_before, (long long)after);
  }

  /* tk_free with calls in flight, never drained afterwards: no crash, no leak report. */
  h = open_redis(url, NULL, 2000, TK_FAIL_ERROR);
  if (h) {
    for (int i = 0; i < 20; i++) EXPECT_OK(tk_check_async(h, "fw", "abandoned", 1, (uint64_t)i, NULL));
    EXPECT_OK(tk_free(h));
  }
  tk_t_silent_stop(&silent);

  /* A dead port: refused, TK_E_UNAVAILABLE quickly. */
  int port = tk_t_dead_port();
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
  h = open_redis(url, NULL, DOWN_TIMEOUT_MS, TK_FAIL_ERROR);
  if (h) {
    int fd = completion_fd(h);
    tk_completion_t c[4];
    for (int i = 0; i < 4; i++) EXPECT_OK(tk_check_async(h, "fw", "dead", 1, (uint64_t)i, NULL));
    size_t got = fd >= 0 ? collect(h, fd, c, 4, DOWN_TIMEOUT_MS + DOWN_SLACK_MS) : 0;
    expect_cookies_once(c, got, 0, 4);
    for (size_t i = 0; i < got; i++) EXPECT_STATUS2(c[i].status, TK_E_UNAVAILABLE, TK_E_TIMEOUT);
    EXPECT_OK(tk_free(h));
  }
}

/* tk_free on a handle whose completions all arrived but were never polled. */
static void test_free_after_completion(const char *url) {
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "async-free");
  tk_handle_t h = open_redis(url, ns, LIVE_TIMEOUT_MS, TK_FAIL_ERROR);
  if (!h) return;
  int fd = completion_fd(h);
  for (int i = 0; i < 5; i++) EXPECT_OK(tk_check_async(h, "fw", "f", 1, 40 + (uint64_t)i, NULL));
  int64_t deadline = tk_t_mono_ms() + LIVE_TIMEOUT_MS;
  while (fd >= 0 && readable(fd) != 1 && tk_t_mono_ms() < deadline) tk_t_sleep_ms(5);
  tk_t_sleep_ms(300);
  EXPECT_OK(tk_free(h));
  tk_completion_t c[8];
  size_t n = 0;
  if (EXPECT_OK(tk_poll(h, c, 8, &n))) {
    expect_cookies_once(c, n, 40, 5);
    for (size_t i = 0; i < n; i++) EXPECT_STATUS2(c[i].status, TK_OK, TK_E_BADHANDLE);
  }
  EXPECT_STATUS(tk_poll(h, c, 8, &n), TK_E_BADHANDLE);
}

/* ---- Fork ---------------------------------------------------------------------------------- */

static void test_fork(tk_handle_t h) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int bad = 0;
    int fd = 0;
    size_t n = 3;
    tk_completion_t c[1];
    bad |= tk_check_async(h, "fw", "k", 1, 1, NULL) != TK_E_FORKED;
    bad |= (tk_completion_fd(h, &fd, NULL) != TK_E_FORKED) << 1;
    bad |= (tk_poll(h, c, 1, &n) != TK_E_FORKED || n != 0) << 2;
    bad |= (tk_debug_goroutines() != -1) << 3;
    _exit(bad);
  }
  int status = 0;
  if (!CHECK(pid > 0)) return;
  waitpid(pid, &status, 0);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "in a forked child the async functions misbehaved (status %#x)", status);
}

/* ---- The service door --------------------------------------------------------------------- */

static tk_t_server_t server;

static void stop_server(void) { tk_t_server_kill(&server); }

static void cleanup(void) { tk_t_server_cleanup(&server); }

/* Starts the server on a free port and waits for its ready file; its address into addr. 0
   when it could not (recorded, with the server's log). */
static int start_server(char *addr, size_t size) {
  if (!tk_t_server_start(&server, "async", policies, addr, size)) return 0;
  printf("service: throttlekit-server (pid %ld) listening on %s\n", (long)server.pid, addr);
  return 1;
}

static tk_handle_t open_service(const char *addr, int timeout_ms, int fail_mode) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_service(addr, &o, &h, &err))) {
    fprintf(stderr, "  tk_open_service(%s): %s\n", addr, err.message);
    return 0;
  }
  return h;
}

static void test_service(void) {
  char addr[64];
  if (!start_server(addr, sizeof addr)) return;
  tk_handle_t h = open_service(addr, LIVE_TIMEOUT_MS, TK_FAIL_ERROR);
  tk_handle_t open_h = open_service(addr, DOWN_TIMEOUT_MS, TK_FAIL_OPEN);
  if (h) {
    test_input_errors(h, 0);
    int fd = completion_fd(h);
    avoid_window_edge();
    enum { N = 12 };
    tk_completion_t c[N + 2];
    for (int i = 0; i < N; i++) EXPECT_OK(tk_check_async(h, "fw", "svc-burst", 1, 300 + (uint64_t)i, &err));
    size_t got = fd >= 0 ? collect(h, fd, c, N, LIVE_TIMEOUT_MS + 2000) : 0;
    expect_cookies_once(c, got, 300, N);
    int admitted = 0;
    for (size_t i = 0; i < got; i++) {
      if (EXPECT_OK(c[i].status)) {
        EXPECT_EQ(c[i].decision.limit, 5);
        EXPECT_EQ(c[i].decision.flags, 0);
        admitted += c[i].decision.allowed;
      }
    }
    EXPECT_EQ(admitted, 5);
    if (fd >= 0) EXPECT_EQ(readable(fd), 0);

    /* The server knows the policies: an unknown one completes with TK_E_NOT_FOUND, a meter
       with TK_E_UNSUPPORTED. */
    EXPECT_OK(tk_check_async(h, "nope", "k", 1, 1, &err));
    EXPECT_OK(tk_check_async(h, "llm", "k", 1, 2, &err));
    got = fd >= 0 ? collect(h, fd, c, 2, LIVE_TIMEOUT_MS + 2000) : 0;
    EXPECT_EQ(got, 2);
    for (size_t i = 0; i < got; i++) {
      EXPECT_STATUS(c[i].status, c[i].cookie == 1 ? TK_E_NOT_FOUND : TK_E_UNSUPPORTED);
      CHECKF(c[i].message[0] != '\0', "an error completion without a message");
    }
  }
  stop_server();
  /* The server is gone: the library's fail mode (limit 0: the policies are the server's). */
  if (open_h) {
    int fd = completion_fd(open_h);
    tk_completion_t c[10];
    int64_t t0 = tk_t_mono_ms();
    for (int i = 0; i < 10; i++) EXPECT_OK(tk_check_async(open_h, "fw", "gone", 1, (uint64_t)i, NULL));
    size_t got = fd >= 0 ? collect(open_h, fd, c, 10, DOWN_TIMEOUT_MS + DOWN_SLACK_MS + 2000) : 0;
    EXPECT_LE(tk_t_mono_ms() - t0, DOWN_TIMEOUT_MS + DOWN_SLACK_MS);
    expect_cookies_once(c, got, 0, 10);
    for (size_t i = 0; i < got; i++)
      if (EXPECT_OK(c[i].status)) {
        EXPECT_EQ(c[i].decision.allowed, 1);
        EXPECT_EQ(c[i].decision.flags, TK_DECISION_SYNTHESIZED);
        EXPECT_EQ(c[i].decision.limit, 0);
      }
    EXPECT_OK(tk_free(open_h));
  }
  if (h) EXPECT_OK(tk_free(h));
}

int main(void) {
  atexit(cleanup);
  test_before_open(); /* first: nothing may have started the core yet */

  const char *url = tk_t_redis_url("the Redis-door async tests");
  tk_handle_t any = 0;
  tk_options_t o;
  tk_options_init(&o);
  if (EXPECT_OK(tk_open_redis("redis://127.0.0.1:1/0", policies, &o, &any, &err))) {
    EXPECT_GT(tk_debug_goroutines(), 0);
    test_fork(any);
    EXPECT_OK(tk_free(any));
  }
  if (url) {
    test_burst_and_cookies(url);
    test_many_in_flight(url);
    test_threads(url);
    test_free_after_completion(url);
  }
  test_unreachable();
  test_service();
  return tk_t_finish();
}
