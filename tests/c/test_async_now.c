/*
 * test_async_now.c - tk_check_async_now: a check answered before the call returns is written
 * to out with *done = 1 and queues nothing; anything else completes once through the queue,
 * as tk_check_async's would.
 *
 *   - memory door: every check is done at once (allowed, then denied), the completion fd is
 *     never readable and tk_poll finds nothing;
 *   - Redis door, leased two-tier policy: the first check of a key waits for its lease (one
 *     completion with that cookie, or done at once when Redis answered before the call
 *     returned; never local), later ones are done with TK_DECISION_LOCAL;
 *     cached-deny: the denial after the remembered one is done locally; a plain policy is
 *     never done and always completes; under the handle's shadow switch a local denial is done
 *     at once as an admission flagged TK_DECISION_SHADOW, as every other path shades it;
 *   - bad input (NULL out, NULL done, NULL/empty policy, NULL key, long key, bad cost, unknown
 *     policy): an error, *done = 0, nothing queued; a freed handle and handle 0 are
 *     TK_E_BADHANDLE; in a forked child TK_E_FORKED.
 */
#include "tk_test.h"

#include <errno.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *policies =
    "limiters:\n"
    "  leased: { strategy: fixedWindow, limit: 100000, windowMs: 1h, prefix: an, twoTier: { mode: leased, batch: 10 } }\n"
    "  deny: { strategy: fixedWindow, limit: 1, windowMs: 1h, prefix: ad, twoTier: { mode: cached-deny } }\n"
    "  plain: { strategy: fixedWindow, limit: 100000, windowMs: 1h, prefix: ap }\n"
    "  tiny: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n";

static tk_error_t err;

static int readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int rc = poll(&p, 1, 0);
  return rc > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/* Waits up to bound_ms for one completion of h and returns how many came (0 or 1). */
static size_t wait_one(tk_handle_t h, int fd, tk_completion_t *c, int64_t bound_ms) {
  int64_t deadline = tk_t_mono_ms() + bound_ms;
  for (;;) {
    int64_t left = deadline - tk_t_mono_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, (int)left);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    size_t n = 0;
    if (!EXPECT_OK(tk_poll(h, c, 1, &n))) return 0;
    if (n) return n;
  }
}

/* Nothing waits in h's queue. */
static void expect_empty(tk_handle_t h, int fd) {
  tk_completion_t c[2];
  size_t n = 9;
  EXPECT_EQ(readable(fd), 0);
  EXPECT_OK(tk_poll(h, c, 2, &n));
  EXPECT_EQ(n, 0);
}

/* The decision of a check tk_check_async_now started that goes to Redis: its completion, or,
   when Redis answered before the call returned (a slow caller, ASan), the decision written at
   once; never a local one. 0 when none came. */
static int remote_outcome(tk_handle_t h, int fd, int32_t done, const tk_decision_t *d,
                          uint64_t cookie, tk_decision_t *got) {
  if (done) {
    *got = *d;
  } else {
    tk_completion_t c;
    if (!EXPECT_EQ(wait_one(h, fd, &c, 5000), 1)) return 0;
    EXPECT_EQ(c.cookie, cookie);
    if (!EXPECT_OK(c.status)) return 0;
    *got = c.decision;
  }
  EXPECT_EQ_CTX("a round trip's answer is not local", got->flags & TK_DECISION_LOCAL, 0);
  return 1;
}

static void test_memory(void) {
  tk_options_t o;
  tk_options_init(&o);
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_memory(policies, &o, &h, &err))) return;
  int fd = -1;
  EXPECT_OK(tk_completion_fd(h, &fd, &err));
  for (int i = 0; i < 5; i++) {
    tk_decision_t d;
    memset(&d, 0xAB, sizeof d);
    int32_t done = -1;
    tk_t_poison_err(&err);
    if (!EXPECT_OK(tk_check_async_now(h, "tiny", "m", 1, 100 + i, &d, &done, &err))) break;
    EXPECT_ERR(err, TK_OK);
    EXPECT_EQ(done, 1);
    EXPECT_EQ(d.allowed, i < 3);
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, i < 3 ? 2 - i : 0);
    EXPECT_EQ(d.window_ms, 3600000);
    if (!d.allowed) EXPECT_GT(d.retry_after_ms, 0);
  }
  /* a plain policy on the memory door is answered at once too */
  tk_decision_t d;
  int32_t done = 0;
  EXPECT_OK(tk_check_async_now(h, "plain", "m", 1, 7, &d, &done, &err));
  EXPECT_EQ(done, 1);
  EXPECT_EQ(d.allowed, 1);
  expect_empty(h, fd);
  /* tk_check_async on the same handle still completes through the queue */
  EXPECT_OK(tk_check_async(h, "plain", "m", 1, 8, &err));
  tk_completion_t c;
  if (EXPECT_EQ(wait_one(h, fd, &c, 2000), 1)) {
    EXPECT_EQ(c.cookie, 8);
    EXPECT_OK(c.status);
  }
  EXPECT_OK(tk_free(h));
}

static void test_input(tk_handle_t h, int fd) {
  tk_decision_t d;
  int32_t done;
  char long_key[4098];
  memset(long_key, 'k', sizeof long_key - 1);
  long_key[sizeof long_key - 1] = '\0';
  struct {
    const char *what, *policy, *key;
    int64_t cost;
    int null_out, null_done, want;
  } cases[] = {
      {"out NULL", "plain", "k", 1, 1, 0, TK_E_INVALID},
      {"done NULL", "plain", "k", 1, 0, 1, TK_E_INVALID},
      {"policy NULL", NULL, "k", 1, 0, 0, TK_E_INVALID},
      {"policy empty", "", "k", 1, 0, 0, TK_E_INVALID},
      {"key NULL", "plain", NULL, 1, 0, 0, TK_E_INVALID},
      {"key too long", "plain", long_key, 1, 0, 0, TK_E_INVALID},
      {"cost negative", "plain", "k", -1, 0, 0, TK_E_INVALID},
      {"cost 2^53", "plain", "k", (int64_t)1 << 53, 0, 0, TK_E_INVALID},
      {"unknown policy", "nope", "k", 1, 0, 0, TK_E_NOT_FOUND},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    done = 7;
    tk_t_poison_err(&err);
    int rc = tk_check_async_now(h, cases[i].policy, cases[i].key, cases[i].cost, 900 + i,
                                cases[i].null_out ? NULL : &d, cases[i].null_done ? NULL : &done,
                                &err);
    EXPECT_STATUS_CTX(cases[i].what, rc, cases[i].want);
    EXPECT_ERR_CTX(cases[i].what, err, cases[i].want);
    if (!cases[i].null_done) EXPECT_EQ_CTX(cases[i].what, done, 0);
  }
  expect_empty(h, fd);
  /* handle 0 and a handle never issued */
  done = 7;
  EXPECT_STATUS(tk_check_async_now(0, "plain", "k", 1, 1, &d, &done, &err), TK_E_BADHANDLE);
  EXPECT_EQ(done, 0);
  EXPECT_STATUS(tk_check_async_now(h + 1000, "plain", "k", 1, 1, &d, &done, &err),
                TK_E_BADHANDLE);
}

static void test_redis(const char *url) {
  char ns[64];
  tk_t_namespace(ns, sizeof ns, "now");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
    fprintf(stderr, "  tk_open_redis(%s): %s\n", url, err.message);
    return;
  }
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return;

  test_input(h, fd);

  /* leased: the first check waits for the lease of 10; the next 9 are spent locally, done at
     once; the 11th leases again */
  tk_decision_t d;
  tk_completion_t c;
  int32_t done;
  for (int i = 0; i < 25; i++) {
    done = -1;
    memset(&d, 0, sizeof d);
    if (!EXPECT_OK(tk_check_async_now(h, "leased", "k", 1, 1000 + i, &d, &done, &err))) break;
    if (i % 10 == 0) { /* a lease is a round trip */
      tk_decision_t got;
      if (remote_outcome(h, fd, done, &d, 1000 + (uint64_t)i, &got)) EXPECT_EQ(got.allowed, 1);
    } else {
      EXPECT_EQ_CTX("from the lease's credits", done, 1);
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.flags & TK_DECISION_LOCAL, TK_DECISION_LOCAL);
      EXPECT_EQ(d.remaining, 9 - i % 10);
      EXPECT_EQ(d.limit, 100000);
    }
    expect_empty(h, fd);
  }

  /* cached-deny: allowed through Redis, denied through Redis (remembered), then denied at once */
  for (int i = 0; i < 4; i++) {
    done = -1;
    if (!EXPECT_OK(tk_check_async_now(h, "deny", "k", 1, 2000 + i, &d, &done, &err))) break;
    if (i < 2) {
      tk_decision_t got;
      if (remote_outcome(h, fd, done, &d, 2000 + (uint64_t)i, &got)) EXPECT_EQ(got.allowed, i == 0);
    } else {
      EXPECT_EQ(done, 1);
      EXPECT_EQ(d.allowed, 0);
      EXPECT_EQ(d.flags & TK_DECISION_LOCAL, TK_DECISION_LOCAL);
      EXPECT_GT(d.retry_after_ms, 0);
    }
  }
  expect_empty(h, fd);

  /* a plain policy: never done, always one completion */
  for (int i = 0; i < 5; i++) {
    done = -1;
    if (!EXPECT_OK(tk_check_async_now(h, "plain", "k", 1, 3000 + i, &d, &done, &err))) break;
    tk_decision_t got;
    if (remote_outcome(h, fd, done, &d, 3000 + (uint64_t)i, &got)) {
      EXPECT_EQ(got.allowed, 1);
      EXPECT_EQ(got.remaining, 99999 - i);
    }
  }
  expect_empty(h, fd);

  /* freed: TK_E_BADHANDLE, nothing left behind */
  EXPECT_OK(tk_free(h));
  done = 7;
  EXPECT_STATUS(tk_check_async_now(h, "leased", "k", 1, 1, &d, &done, &err), TK_E_BADHANDLE);
  EXPECT_EQ(done, 0);
  size_t n = 9;
  EXPECT_STATUS(tk_poll(h, &c, 1, &n), TK_E_BADHANDLE);
  EXPECT_EQ(n, 0);
}

/* A shadow handle: the cached-deny policy's local denial is answered at once, shaded. */
static void test_redis_shadow(const char *url) {
  char ns[64];
  tk_t_namespace(ns, sizeof ns, "nowshadow");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  o.shadow = 1;
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) return;
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return;
  tk_decision_t d;
  int32_t done;
  for (int i = 0; i < 4; i++) {
    done = -1;
    memset(&d, 0, sizeof d);
    if (!EXPECT_OK(tk_check_async_now(h, "deny", "k", 1, 4000 + i, &d, &done, &err))) break;
    if (i < 2) {
      tk_decision_t got;
      if (remote_outcome(h, fd, done, &d, 4000 + (uint64_t)i, &got)) {
        EXPECT_EQ(got.allowed, 1);
        EXPECT_EQ(got.flags & TK_DECISION_SHADOW, i == 0 ? 0 : TK_DECISION_SHADOW);
      }
    } else {
      EXPECT_EQ(done, 1);
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.flags & (TK_DECISION_LOCAL | TK_DECISION_SHADOW), TK_DECISION_LOCAL | TK_DECISION_SHADOW);
      EXPECT_GT(d.retry_after_ms, 0);
    }
  }
  expect_empty(h, fd);
  EXPECT_OK(tk_free(h));
}

static void test_fork(void) {
  tk_options_t o;
  tk_options_init(&o);
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_memory(policies, &o, &h, &err))) return;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    tk_decision_t d;
    int32_t done = 7;
    tk_error_t e;
    int bad = tk_check_async_now(h, "plain", "k", 1, 1, &d, &done, &e) != TK_E_FORKED;
    bad |= (done != 0) << 1;
    bad |= (e.status != TK_E_FORKED) << 2;
    _exit(bad);
  }
  int status = 0;
  if (CHECK(pid > 0)) {
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "in a forked child tk_check_async_now misbehaved (status %#x)", status);
  }
  EXPECT_OK(tk_free(h));
}

int main(void) {
  test_memory();
  const char *url = tk_t_redis_url("the Redis-door tk_check_async_now tests");
  if (url) test_redis(url);
  if (url) test_redis_shadow(url);
  test_fork();
  return tk_t_finish();
}
