/*
 * test_two_tier.c - two-tier policies through the C ABI, in one process (the fleet bound is
 * test_two_tier_fleet.c's): leased checks from local credits flagged TK_DECISION_LOCAL on the
 * Redis door and the memory door, synchronous and asynchronous; the units leased are exactly
 * what Redis counted (read through a plain policy on the same key); many threads spend exactly
 * what was leased; cached-deny answers locally after a denial; peek, forecast, refund and
 * tk_check_all refuse these policies; local_max_keys is validated.
 */
#include "tk_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>

static const char *leased_yaml =
    "limiters:\n"
    "  leased: { strategy: fixedWindow, limit: 100000, windowMs: 1h, prefix: fw, twoTier: { batch: 100 } }\n"
    "  deny: { strategy: fixedWindow, limit: 2, windowMs: 1h, prefix: dn, twoTier: { mode: cached-deny } }\n"
    "  plain: { strategy: fixedWindow, limit: 100000, windowMs: 1h, prefix: other }\n";

/* The same key space read as a plain policy: what L2 holds. */
static const char *plain_yaml =
    "limiters:\n"
    "  leased: { strategy: fixedWindow, limit: 100000, windowMs: 1h, prefix: fw }\n"
    "  deny: { strategy: fixedWindow, limit: 2, windowMs: 1h, prefix: dn }\n";

static void test_sequential(tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  for (int i = 0; i < 150; i++) {
    if (!EXPECT_OK(tk_check(h, "leased", "seq", 1, &d, &err))) return;
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.limit, 100000);
    EXPECT_EQ(d.remaining, 99 - i % 100);
    EXPECT_EQ(d.flags & TK_DECISION_LOCAL, i % 100 == 0 ? 0 : TK_DECISION_LOCAL);
  }
  EXPECT_STATUS(tk_peek(h, "leased", "seq", &d, &err), TK_E_UNSUPPORTED);
  EXPECT_CONTAINS(err.message, "does not support peek");
  tk_forecast_t f;
  EXPECT_STATUS(tk_forecast(h, "leased", "seq", 1, &f, &err), TK_E_UNSUPPORTED);
  EXPECT_STATUS(tk_refund(h, "leased", "seq", 1, &d, &err), TK_E_UNSUPPORTED);
  tk_check_item_t items[2] = {{"plain", "seq", 1}, {"leased", "seq", 1}};
  tk_decision_t out[2];
  int32_t all = -1;
  EXPECT_STATUS(tk_check_all(h, items, 2, out, &all, &err), TK_E_UNSUPPORTED);
  EXPECT_CONTAINS(err.message, "all-or-nothing");
}

typedef struct {
  tk_handle_t h;
  long allowed, local, failed;
} spender_t;

static void *spend(void *arg) {
  spender_t *s = arg;
  tk_decision_t d;
  tk_error_t err;
  for (int i = 0; i < 2000; i++) {
    if (tk_check(s->h, "leased", "threads", 1, &d, &err) != TK_OK) {
      s->failed++;
      continue;
    }
    s->allowed += d.allowed;
    s->local += (d.flags & TK_DECISION_LOCAL) != 0;
  }
  return NULL;
}

/* 8 threads x 2,000 checks: every one allowed, and Redis counted exactly the leases that
   served them: 16,000 units in batches of 100 is 160 leases, none wasted. */
static void test_threads(tk_handle_t h, tk_handle_t plain) {
  enum { THREADS = 8 };
  pthread_t t[THREADS];
  spender_t s[THREADS];
  for (int i = 0; i < THREADS; i++) {
    s[i] = (spender_t){.h = h};
    pthread_create(&t[i], NULL, spend, &s[i]);
  }
  long allowed = 0, local = 0, failed = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    allowed += s[i].allowed, local += s[i].local, failed += s[i].failed;
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(allowed, THREADS * 2000);
  CHECKF(local >= THREADS * 2000 - 160 * THREADS, "only %ld of %d checks were local", local, THREADS * 2000);
  tk_decision_t d;
  tk_error_t err;
  if (EXPECT_OK(tk_peek(plain, "leased", "threads", &d, &err))) EXPECT_EQ(d.remaining, 100000 - THREADS * 2000);
}

/* Collects n completions of h (cookies 0 .. n-1 in any order); returns how many were local. */
static long collect(tk_handle_t h, int fd, size_t n) {
  tk_completion_t done[256];
  size_t got = 0;
  long allowed = 0, local = 0;
  int64_t deadline = tk_t_mono_ms() + 10000;
  while (got < n && tk_t_mono_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    size_t k = 0;
    if (!EXPECT_OK(tk_poll(h, done, n - got, &k))) break;
    for (size_t i = 0; i < k; i++) {
      EXPECT_EQ(done[i].status, TK_OK);
      allowed += done[i].decision.allowed;
      local += (done[i].decision.flags & TK_DECISION_LOCAL) != 0;
    }
    got += k;
  }
  EXPECT_EQ(got, n);
  EXPECT_EQ(allowed, (long)n);
  return local;
}

/* 250 asynchronous checks at once: misses while a lease is in flight join it, so exactly 3
   leases serve them all; the 50 units left then answer 50 more locally, at once. */
static void test_async(tk_handle_t h, tk_handle_t plain) {
  tk_error_t err;
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return;
  for (uint64_t c = 0; c < 250; c++) EXPECT_OK(tk_check_async(h, "leased", "async", 1, c, &err));
  collect(h, fd, 250);
  for (uint64_t c = 0; c < 50; c++) EXPECT_OK(tk_check_async(h, "leased", "async", 1, c, &err));
  EXPECT_EQ(collect(h, fd, 50), 50);
  tk_decision_t d;
  if (plain && EXPECT_OK(tk_peek(plain, "leased", "async", &d, &err))) EXPECT_EQ(d.remaining, 100000 - 300);
}

/* After L2's denial, the key's checks stay local until the retry time. */
static void test_cached_deny(tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  for (int i = 0; i < 2; i++)
    if (EXPECT_OK(tk_check(h, "deny", "k", 1, &d, &err))) EXPECT_EQ(d.allowed, 1);
  if (EXPECT_OK(tk_check(h, "deny", "k", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.flags & TK_DECISION_LOCAL, 0);
  }
  for (int i = 0; i < 20; i++) {
    if (!EXPECT_OK(tk_check(h, "deny", "k", 1, &d, &err))) break;
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.limit, 2);
    EXPECT_EQ(d.remaining, 0);
    EXPECT_EQ(d.flags, TK_DECISION_LOCAL);
    CHECK(d.retry_after_ms > 0);
  }
}

static void run(tk_handle_t h, tk_handle_t plain) {
  test_sequential(h);
  test_threads(h, plain);
  test_async(h, plain);
  test_cached_deny(h);
}

int main(void) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = 5000;
  tk_handle_t h = 0, plain = 0;
  tk_error_t err;

  o.local_max_keys = -1;
  EXPECT_STATUS(tk_open_memory(leased_yaml, &o, &h, &err), TK_E_INVALID);
  EXPECT_CONTAINS(err.message, "local_max_keys");
  o.local_max_keys = 0;

  if (EXPECT_OK(tk_open_memory(leased_yaml, &o, &h, &err))) {
    test_sequential(h);
    test_async(h, 0);
    test_cached_deny(h);
    EXPECT_OK(tk_free(h));
  }

  const char *url = tk_t_redis_url("the two-tier test");
  if (url) {
    char ns[128];
    tk_t_namespace(ns, sizeof ns, "twotier");
    o.key_namespace = ns;
    if (EXPECT_OK(tk_open_redis(url, leased_yaml, &o, &h, &err)) &&
        EXPECT_OK(tk_open_redis(url, plain_yaml, &o, &plain, &err))) {
      run(h, plain);
      tk_decision_t d;
      /* The sequential test leased twice: Redis counted 200 of its 150 checks. */
      if (EXPECT_OK(tk_peek(plain, "leased", "seq", &d, &err))) EXPECT_EQ(d.remaining, 100000 - 200);
      if (EXPECT_OK(tk_peek(plain, "deny", "k", &d, &err))) EXPECT_EQ(d.remaining, 0);
      EXPECT_OK(tk_free(h));
      EXPECT_OK(tk_free(plain));
    }
  }
  return tk_t_finish();
}
