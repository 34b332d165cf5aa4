/*
 * test_quota.c - the quota strategy (spec quota.md) through the C ABI's Redis door.
 *
 * Nothing in the C API is quota-specific: a policy file names the strategy. These checks run
 * worked examples of the spec through tk_check_at, tk_peek_at and tk_forecast_at, with every
 * decision field and the state left in Redis (HASH s = period start, c = count, upstream's
 * layout); a check on the Redis clock (tk_check) that must reset at the next UTC midnight; a
 * bad quota that fails to open with TK_E_CONFIG naming the field; and Debit on a quota, which
 * is TK_E_UNSUPPORTED. TTLs run in real time, so every timeline keeps its key alive for far
 * longer than the test takes.
 */
#include "tk_test_net.h"

#include <time.h>

static const char *policies =
    "limiters:\n"
    "  monthly: { strategy: quota, limit: 5, resetCadence: calendar-month }\n"
    "  nightly: { strategy: quota, limit: 2, resetCadence: calendar-day, offsetMinutes: -300 }\n"
    "  shifted: { strategy: quota, limit: 10, resetCadence: fixed, period: 1h, anchor: 1700000000000 }\n"
    "  daily: { strategy: quota, limit: 3, resetCadence: calendar-day }\n"
    "  trailing: { strategy: quota, limit: 3, resetCadence: rolling, periodMs: 1h, buckets: 2 }\n";

static void expect_decision(const char *ctx, const tk_decision_t *d, int allowed, int64_t limit,
                            int64_t remaining, int64_t reset_at, int64_t retry) {
  EXPECT_EQ_CTX(ctx, d->allowed, allowed);
  EXPECT_EQ_CTX(ctx, d->flags, 0);
  EXPECT_EQ_CTX(ctx, d->limit, limit);
  EXPECT_EQ_CTX(ctx, d->remaining, remaining);
  EXPECT_EQ_CTX(ctx, d->reset_at_ms, reset_at);
  EXPECT_EQ_CTX(ctx, d->retry_after_ms, retry);
}

/* The stored period start and count of key under policy prefix p, compared as text. */
static void expect_state(const char *url, const char *ns, const char *p, const char *key,
                         const char *s, const char *c) {
  char full[256], got[64];
  snprintf(full, sizeof full, "%s:%s:%s", ns, p, key);
  if (EXPECT_STATUS(tk_t_redis(url, got, sizeof got, "HGET", full, "s", NULL), 0))
    CHECKF(strcmp(got, s) == 0, "%s: s = %s, want %s", full, got, s);
  if (EXPECT_STATUS(tk_t_redis(url, got, sizeof got, "HGET", full, "c", NULL), 0))
    CHECKF(strcmp(got, c) == 0, "%s: c = %s, want %s", full, got, c);
}

static tk_handle_t open_ns(const char *url, char *ns, size_t size) {
  tk_t_namespace(ns, size, "quota");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) fprintf(stderr, "  open: %s\n", err.message);
  return h;
}

/* quota.md example 4: a calendar day at UTC-5 on the US daylight-saving day, with a denial. */
static void test_day_at_offset(const char *url, tk_handle_t h, const char *ns) {
  tk_decision_t d;
  tk_error_t err;
  if (EXPECT_OK(tk_check_at(h, "nightly", "k", 1, 1710045000000, &d, &err)))
    expect_decision("day A", &d, 1, 2, 1, 1710046800000, 0);
  expect_state(url, ns, "nightly", "k", "1709960400000", "1");
  if (EXPECT_OK(tk_check_at(h, "nightly", "k", 1, 1710045900000, &d, &err)))
    expect_decision("day B", &d, 1, 2, 0, 1710046800000, 0);
  if (EXPECT_OK(tk_check_at(h, "nightly", "k", 1, 1710046200000, &d, &err)))
    expect_decision("day C", &d, 0, 2, 0, 1710046800000, 600000);
  expect_state(url, ns, "nightly", "k", "1709960400000", "2");
  if (EXPECT_OK(tk_check_at(h, "nightly", "k", 1, 1710046800000, &d, &err)))
    expect_decision("day D", &d, 1, 2, 1, 1710133200000, 0);
  expect_state(url, ns, "nightly", "k", "1710046800000", "1");
}

/* quota.md examples 3 and 6: fixed periods from an anchor (before it too), then peek, a cost
   above the limit and forecast on a month. */
static void test_fixed_peek_forecast(const char *url, tk_handle_t h, const char *ns) {
  tk_decision_t d;
  tk_forecast_t f;
  tk_error_t err;
  if (EXPECT_OK(tk_check_at(h, "shifted", "k", 4, 1700005000000, &d, &err)))
    expect_decision("fixed A", &d, 1, 10, 6, 1700007200000, 0);
  if (EXPECT_OK(tk_check_at(h, "shifted", "k", 7, 1700007199999, &d, &err)))
    expect_decision("fixed B", &d, 0, 10, 6, 1700007200000, 1);
  if (EXPECT_OK(tk_check_at(h, "shifted", "k", 7, 1700007200000, &d, &err)))
    expect_decision("fixed C", &d, 1, 10, 3, 1700010800000, 0);
  expect_state(url, ns, "shifted", "k", "1700007200000", "7");
  if (EXPECT_OK(tk_check_at(h, "shifted", "early", 1, 1699999000000, &d, &err)))
    expect_decision("before the anchor", &d, 1, 10, 9, 1700000000000, 0);
  expect_state(url, ns, "shifted", "early", "1699996400000", "1");

  const int64_t n = 1752573600000, end = 1754006400000;
  if (EXPECT_OK(tk_peek_at(h, "monthly", "k", n, &d, &err))) expect_decision("peek cold", &d, 1, 5, 5, end, 0);
  if (EXPECT_OK(tk_check_at(h, "monthly", "k", 6, n, &d, &err)))
    expect_decision("cost above the limit", &d, 0, 5, 5, end, 1432800000);
  if (EXPECT_OK(tk_check_at(h, "monthly", "k", 5, n, &d, &err))) expect_decision("spend all", &d, 1, 5, 0, end, 0);
  expect_state(url, ns, "monthly", "k", "1751328000000", "5");
  if (EXPECT_OK(tk_peek_at(h, "monthly", "k", n + 1000, &d, &err)))
    expect_decision("peek spent", &d, 0, 5, 0, end, 1432799000);
  if (EXPECT_OK(tk_forecast_at(h, "monthly", "k", 2, n, &f, &err))) {
    EXPECT_EQ(f.spendable_now, 0);
    EXPECT_EQ(f.next_replenish_at_ms, end);
    EXPECT_EQ(f.full_at_ms, end);
  }
  if (EXPECT_OK(tk_forecast_at(h, "monthly", "fresh", 2, n, &f, &err))) EXPECT_EQ(f.spendable_now, 2);
}

/* A rolling quota is a slidingWindow: its ring of buckets, not the s/c hash. */
static void test_rolling(const char *url, tk_handle_t h, const char *ns) {
  tk_decision_t d;
  tk_error_t err;
  /* w = 1,800,000 ms; c = 944,444 (1,700,000,000,000 / w, floored); its slot is c mod 3 = 2. */
  if (EXPECT_OK(tk_check_at(h, "trailing", "k", 2, 1700000000000, &d, &err)))
    expect_decision("rolling", &d, 1, 3, 1, 1700004600000, 0); /* (c + 1)·w + W */
  char full[256], got[64];
  snprintf(full, sizeof full, "%s:trailing:k", ns);
  if (EXPECT_STATUS(tk_t_redis(url, got, sizeof got, "HGET", full, "2", NULL), 0))
    CHECKF(strcmp(got, "944444:2") == 0, "ring slot 2 = %s", got);
}

/* On the Redis clock (ARGV now 0), a calendar day ends at the next UTC midnight. */
static void test_server_clock(tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  time_t before = time(NULL);
  int rc = tk_check(h, "daily", "k", 1, &d, &err);
  time_t after = time(NULL);
  if (!EXPECT_OK(rc)) return;
  int64_t m1 = ((int64_t)before / 86400 + 1) * 86400000, m2 = ((int64_t)after / 86400 + 1) * 86400000;
  CHECKF(d.reset_at_ms == m1 || d.reset_at_ms == m2, "reset_at %lld, want the next UTC midnight %lld",
         (long long)d.reset_at_ms, (long long)m1);
  EXPECT_EQ(d.allowed, 1);
  EXPECT_EQ(d.remaining, 2);
}

static void test_errors(const char *url, tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  EXPECT_STATUS(tk_debit(h, "monthly", "k", 1, &d, &err), TK_E_UNSUPPORTED);
  tk_handle_t bad = 0;
  EXPECT_STATUS(tk_open_redis(url, "limiters:\n  q: { strategy: quota, limit: 5, resetCadence: calendar-day, offsetMinutes: 900 }\n",
                              NULL, &bad, &err),
                TK_E_CONFIG);
  CHECKF(strstr(err.message, "offsetMinutes") != NULL, "message: %s", err.message);
  EXPECT_EQ(bad, 0);
  EXPECT_STATUS(tk_open_redis(url, "limiters:\n  q: { strategy: quota, limit: 5, resetCadence: monthly }\n", NULL, &bad, &err),
                TK_E_CONFIG);
  CHECKF(strstr(err.message, "resetCadence") != NULL, "message: %s", err.message);
}

int main(void) {
  const char *url = tk_t_redis_url("the quota tests");
  if (url) {
    char ns[128];
    tk_handle_t h = open_ns(url, ns, sizeof ns);
    if (h) {
      test_day_at_offset(url, h, ns);
      test_fixed_peek_forecast(url, h, ns);
      test_rolling(url, h, ns);
      test_server_clock(h);
      test_errors(url, h);
      EXPECT_OK(tk_free(h));
    }
  }
  return tk_t_finish();
}
