/*
 * test_check_all.c - tk_check_all on the Redis door: several limits at one instant, all
 * consumed or none.
 *
 *   - a per-IP and a per-account fixed window: all consumed while both allow; when the second
 *     denies, the first keeps its count (read in Redis), and out says which denied;
 *   - at an explicit instant (tk_check_all_at), mixed strategies and a repeated key;
 *   - bad input names the item; n == 0; all_allowed may be NULL;
 *   - tk_check_all_async: a completion per item, cookies in order, all or nothing, bad input
 *     returned at once;
 *   - races: 16 threads, each call two limits where the second denies every other call: the
 *     first limit's count in Redis equals the number of calls that were all allowed.
 */
#include "tk_test_net.h"

#include <poll.h>
#include <pthread.h>

static const char *policies =
    "limiters:\n"
    "  ip: { strategy: fixedWindow, limit: 1000000, windowMs: 1h }\n"
    "  account: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
    "  pair: { strategy: fixedWindow, limit: 1, windowMs: 1h }\n"
    "  api: { strategy: gcra, limit: 10, period: 1m, burst: 4 }\n";

static tk_handle_t open_ns(const char *url, char *ns, size_t size) {
  tk_t_namespace(ns, size, "all");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) fprintf(stderr, "  open: %s\n", err.message);
  return h;
}

/* The count c of a fixed window's key, or -1 when the key is absent. */
static long long count_of(const char *url, const char *ns, const char *policy, const char *key) {
  char full[256], got[64];
  snprintf(full, sizeof full, "%s:%s:%s", ns, policy, key);
  if (tk_t_redis(url, got, sizeof got, "HGET", full, "c", NULL) != 0 || !*got) return -1;
  return atoll(got);
}

static void test_both_limits(const char *url, tk_handle_t h, const char *ns) {
  tk_decision_t ds[2];
  tk_error_t err;
  const tk_check_item_t items[2] = {{"ip", "10.0.0.1", 1}, {"account", "alice", 1}};
  for (int i = 0; i < 3; i++) {
    int32_t all = -1;
    if (!EXPECT_OK(tk_check_all(h, items, 2, ds, &all, &err))) return;
    EXPECT_EQ(all, 1);
    EXPECT_EQ(ds[0].allowed, 1);
    EXPECT_EQ(ds[1].allowed, 1);
    EXPECT_EQ(ds[1].remaining, 2 - i);
  }
  int32_t all = -1;
  if (!EXPECT_OK(tk_check_all(h, items, 2, ds, &all, &err))) return;
  EXPECT_EQ(all, 0);
  EXPECT_EQ(ds[0].allowed, 1); /* would have passed, but was not consumed */
  EXPECT_EQ(ds[1].allowed, 0);
  CHECK(ds[1].retry_after_ms > 0);
  EXPECT_EQ(count_of(url, ns, "ip", "10.0.0.1"), 3);
  EXPECT_EQ(count_of(url, ns, "account", "alice"), 3);
}

static void test_at_an_instant(tk_handle_t h) {
  tk_decision_t ds[3];
  tk_error_t err;
  int64_t now = 1700000000000LL;
  /* gcra burst 4: cost 2 twice on one key at one instant, then a fixed window. */
  const tk_check_item_t items[3] = {{"api", "g", 2}, {"api", "g", 2}, {"account", "bob", 3}};
  int32_t all = -1;
  if (!EXPECT_OK(tk_check_all_at(h, items, 3, now, ds, &all, &err))) return;
  EXPECT_EQ(all, 1);
  EXPECT_EQ(ds[0].remaining, 2);
  EXPECT_EQ(ds[1].remaining, 0);
  EXPECT_EQ(ds[2].remaining, 0);
  /* Nothing is left of either: both deny, and nothing changes. */
  if (!EXPECT_OK(tk_check_all_at(h, items, 3, now, ds, &all, &err))) return;
  EXPECT_EQ(all, 0);
  EXPECT_EQ(ds[0].allowed, 0);
  EXPECT_EQ(ds[2].allowed, 0);
  tk_decision_t d;
  if (EXPECT_OK(tk_peek_at(h, "api", "g", now + 1, &d, &err))) EXPECT_EQ(d.remaining, 0);
}

static void test_bad_input(tk_handle_t h) {
  tk_decision_t ds[2];
  tk_error_t err;
  int32_t all = -1;
  const tk_check_item_t unknown[2] = {{"ip", "k", 1}, {"nope", "k", 1}};
  EXPECT_STATUS(tk_check_all(h, unknown, 2, ds, &all, &err), TK_E_NOT_FOUND);
  CHECKF(strstr(err.message, "items[1]") != NULL, "message: %s", err.message);
  const tk_check_item_t null_key[2] = {{"ip", "k", 1}, {"ip", NULL, 1}};
  EXPECT_STATUS(tk_check_all(h, null_key, 2, ds, &all, &err), TK_E_INVALID);
  CHECKF(strstr(err.message, "items[1]: key is NULL") != NULL, "message: %s", err.message);
  const tk_check_item_t negative[1] = {{"ip", "k", -1}};
  EXPECT_STATUS(tk_check_all(h, negative, 1, ds, &all, &err), TK_E_INVALID);
  const tk_check_item_t one[1] = {{"ip", "k", 1}};
  EXPECT_STATUS(tk_check_all(h, NULL, 1, ds, &all, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_check_all(h, one, 1, NULL, &all, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_check_all_at(h, one, 1, 0, ds, &all, &err), TK_E_INVALID);
  all = -1;
  EXPECT_OK(tk_check_all(h, NULL, 0, NULL, &all, &err));
  EXPECT_EQ(all, 1);
  EXPECT_OK(tk_check_all(h, one, 1, ds, NULL, &err));
  EXPECT_STATUS(tk_check_all(0, one, 1, ds, &all, &err), TK_E_BADHANDLE);
}

/* Waits for n completions on h's queue, into out; returns how many came within 5 s. */
static size_t poll_n(tk_handle_t h, tk_completion_t *out, size_t n) {
  tk_error_t err;
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return 0;
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + 5000;
  while (got < n && tk_t_mono_ms() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 100);
    size_t k = 0;
    EXPECT_OK(tk_poll(h, out + got, n - got, &k));
    got += k;
  }
  return got;
}

/* tk_check_all_async: one completion per item, cookies in item order, all or nothing. */
static void test_async(const char *url, tk_handle_t h, const char *ns) {
  tk_error_t err;
  tk_completion_t c[4];
  const tk_check_item_t items[2] = {{"ip", "10.0.0.9", 1}, {"account", "carol", 2}};
  for (int round = 0; round < 2; round++) {
    if (!EXPECT_OK(tk_check_all_async(h, items, 2, 100 + 10 * round, &err))) return;
    if (EXPECT_EQ(poll_n(h, c, 2), 2)) {
      EXPECT_EQ(c[0].cookie, 100 + 10 * round);
      EXPECT_EQ(c[1].cookie, 101 + 10 * round);
      EXPECT_EQ(c[0].status, TK_OK);
      EXPECT_EQ(c[1].status, TK_OK);
      EXPECT_EQ(c[0].decision.allowed, 1);
      EXPECT_EQ(c[1].decision.allowed, round == 0); /* account 3: 2 then 2 more denied */
    }
  }
  EXPECT_EQ(count_of(url, ns, "ip", "10.0.0.9"), 1); /* the refused round consumed nothing */
  EXPECT_EQ(count_of(url, ns, "account", "carol"), 2);
  /* Its own mistakes come back at once, never queued. */
  const tk_check_item_t unknown[2] = {{"ip", "k", 1}, {"nope", "k", 1}};
  EXPECT_STATUS(tk_check_all_async(h, unknown, 2, 7, &err), TK_E_NOT_FOUND);
  CHECKF(strstr(err.message, "items[1]") != NULL, "message: %s", err.message);
  EXPECT_STATUS(tk_check_all_async(h, NULL, 2, 7, &err), TK_E_INVALID);
  EXPECT_OK(tk_check_all_async(h, NULL, 0, 7, &err));
  size_t k = 9;
  EXPECT_OK(tk_poll(h, c, 4, &k));
  EXPECT_EQ(k, 0);
}

enum { THREADS = 16, CALLS = 40 };

typedef struct {
  tk_handle_t h;
  int id;
  long all_allowed;
  long failed;
} racer_t;

/* Each call: the shared "ip" limit, then "pair" on a key used by two consecutive calls
   (limit 1): the second of each pair denies, so half the calls must consume nothing. */
static void *racer(void *arg) {
  racer_t *r = arg;
  for (int i = 0; i < CALLS; i++) {
    char key[64];
    snprintf(key, sizeof key, "t%d-%d", r->id, i / 2);
    const tk_check_item_t items[2] = {{"ip", "shared", 1}, {"pair", key, 1}};
    tk_decision_t ds[2];
    tk_error_t err;
    int32_t all = 0;
    if (tk_check_all(r->h, items, 2, ds, &all, &err) != TK_OK) {
      r->failed++;
      continue;
    }
    r->all_allowed += all;
  }
  return NULL;
}

static void test_races(const char *url, tk_handle_t h, const char *ns) {
  pthread_t th[THREADS];
  racer_t r[THREADS];
  for (int i = 0; i < THREADS; i++) {
    r[i] = (racer_t){.h = h, .id = i};
    CHECK(pthread_create(&th[i], NULL, racer, &r[i]) == 0);
  }
  long all = 0, failed = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    all += r[i].all_allowed;
    failed += r[i].failed;
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(all, THREADS * CALLS / 2);
  EXPECT_EQ(count_of(url, ns, "ip", "shared"), all);
}

int main(void) {
  const char *url = tk_t_redis_url("the tk_check_all tests");
  if (url) {
    char ns[128];
    tk_handle_t h = open_ns(url, ns, sizeof ns);
    if (h) {
      test_both_limits(url, h, ns);
      test_at_an_instant(h);
      test_bad_input(h);
      test_async(url, h, ns);
      test_races(url, h, ns);
      EXPECT_OK(tk_free(h));
    }
  }
  return tk_t_finish();
}
