/*
 * test_memory.c - tk_open_memory: the embedded engine behind the whole API, nothing running.
 *
 *   - every call: check (a gcra burst), check_many, check_all, peek, forecast, debit, and the
 *     `_at` twins at an explicit instant, with every decision field;
 *   - tk_refund (its decision is a peek's right after, never beyond full) and tk_reset;
 *   - asynchronous checks complete through the completion fd;
 *   - two handles are two stores; a freed handle is TK_E_BADHANDLE;
 *   - bad input: NULL policies, a bad policy file (TK_E_CONFIG naming the field).
 */
#include "tk_test.h"

#include <poll.h>

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1m, burst: 5 }\n"
    "  day: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 1h }\n";

static tk_handle_t open_memory(void) {
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_memory(policies, NULL, &h, &err))) fprintf(stderr, "  open: %s\n", err.message);
  return h;
}

static void test_calls(tk_handle_t h) {
  tk_decision_t d, ds[3];
  tk_forecast_t f;
  tk_error_t err;
  for (int i = 0; i < 5; i++) {
    if (EXPECT_OK(tk_check(h, "api", "k", 1, &d, &err))) {
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.remaining, 4 - i);
    }
  }
  if (EXPECT_OK(tk_check(h, "api", "k", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    CHECK(d.retry_after_ms > 0 && d.retry_after_ms <= 12000);
  }
  const char *keys[3] = {"a", "a", "a"};
  if (EXPECT_OK(tk_check_many(h, "day", keys, 3, 1, ds, &err))) {
    EXPECT_EQ(ds[0].allowed, 1);
    EXPECT_EQ(ds[1].allowed, 1);
    EXPECT_EQ(ds[2].allowed, 0);
  }
  const tk_check_item_t items[2] = {{"api", "fresh", 1}, {"day", "a", 1}};
  int32_t all = -1;
  if (EXPECT_OK(tk_check_all(h, items, 2, ds, &all, &err))) {
    EXPECT_EQ(all, 0);
    EXPECT_EQ(ds[0].allowed, 1);
  }
  if (EXPECT_OK(tk_peek(h, "api", "fresh", &d, &err))) EXPECT_EQ(d.remaining, 5);
  if (EXPECT_OK(tk_forecast(h, "api", "fresh", 2, &f, &err))) EXPECT_EQ(f.spendable_now, 2);
  if (EXPECT_OK(tk_debit(h, "llm", "u", 40, &d, &err))) EXPECT_EQ(d.remaining, 60);

  /* Explicit instants: a fixed window resets at the next hour. */
  int64_t now = 1700000000000LL; /* 22:13:20 UTC */
  int64_t hour = now - now % 3600000;
  for (int i = 0; i < 3; i++) {
    if (EXPECT_OK(tk_check_at(h, "day", "at", 1, now, &d, &err))) {
      EXPECT_EQ(d.allowed, i < 2);
      EXPECT_EQ(d.reset_at_ms, hour + 3600000);
    }
  }
  if (EXPECT_OK(tk_check_at(h, "day", "at", 1, hour + 3600000, &d, &err))) EXPECT_EQ(d.allowed, 1);
  if (EXPECT_OK(tk_peek_at(h, "day", "at", hour + 3600000, &d, &err))) EXPECT_EQ(d.remaining, 1);
}

/* tk_refund gives units back (its decision is the peek right after); tk_reset forgets. */
static void test_refund_reset(tk_handle_t h) {
  tk_decision_t d, peek;
  tk_error_t err;
  EXPECT_OK(tk_check(h, "day", "r", 2, &d, &err));
  if (EXPECT_OK(tk_refund(h, "day", "r", 1, &d, &err))) {
    EXPECT_OK(tk_peek(h, "day", "r", &peek, &err));
    EXPECT_EQ(d.allowed, peek.allowed);
    EXPECT_EQ(d.limit, peek.limit);
    EXPECT_EQ(d.remaining, 1);
    EXPECT_EQ(d.reset_at_ms, peek.reset_at_ms);
    EXPECT_EQ(d.retry_after_ms, peek.retry_after_ms);
  }
  if (EXPECT_OK(tk_refund(h, "day", "r", 50, &d, &err))) EXPECT_EQ(d.remaining, 2); /* never beyond full */
  if (EXPECT_OK(tk_debit(h, "llm", "r", 30, &d, &err)) && EXPECT_OK(tk_refund(h, "llm", "r", 10, &d, &err)))
    EXPECT_EQ(d.remaining, 80);
  EXPECT_OK(tk_check(h, "day", "r", 2, &d, &err));
  EXPECT_OK(tk_reset(h, "day", "r", &err));
  if (EXPECT_OK(tk_peek(h, "day", "r", &d, &err))) EXPECT_EQ(d.remaining, 2);
  EXPECT_OK(tk_reset(h, "day", "never", &err));
  EXPECT_STATUS(tk_refund(h, "day", "r", -1, &d, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_refund(h, "day", "r", 1, NULL, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_refund(h, "nope", "r", 1, &d, &err), TK_E_NOT_FOUND);
  EXPECT_STATUS(tk_reset(h, "nope", "r", &err), TK_E_NOT_FOUND);
  EXPECT_STATUS(tk_reset(h, "day", NULL, &err), TK_E_INVALID);
}

static void test_async(tk_handle_t h) {
  tk_error_t err;
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return;
  for (uint64_t c = 1; c <= 3; c++) EXPECT_OK(tk_check_async(h, "api", "async", 1, c, &err));
  tk_completion_t done[8];
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + 5000;
  while (got < 3 && tk_t_mono_ms() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 100);
    size_t n = 0;
    EXPECT_OK(tk_poll(h, done + got, 8 - got, &n));
    got += n;
  }
  EXPECT_EQ(got, 3);
  for (size_t i = 0; i < got; i++) {
    EXPECT_EQ(done[i].status, TK_OK);
    EXPECT_EQ(done[i].decision.allowed, 1);
  }
}

static void test_handles(void) {
  tk_handle_t a = open_memory(), b = open_memory();
  if (!a || !b) return;
  tk_decision_t d;
  tk_error_t err;
  EXPECT_OK(tk_check(a, "day", "k", 2, &d, &err));
  if (EXPECT_OK(tk_peek(b, "day", "k", &d, &err))) EXPECT_EQ(d.remaining, 2); /* b is another store */
  EXPECT_OK(tk_free(a));
  EXPECT_STATUS(tk_check(a, "day", "k", 1, &d, &err), TK_E_BADHANDLE);
  EXPECT_OK(tk_free(b));
}

/* tk_options_t.shadow: every denial admitted, flagged; a denying tk_check_all item refuses
   no other. */
static void test_shadow_switch(void) {
  tk_options_t o;
  tk_options_init(&o);
  o.shadow = 1;
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_memory(policies, &o, &h, &err))) return;
  tk_decision_t d, ds[2];
  EXPECT_OK(tk_check(h, "day", "s", 2, &d, &err));
  if (EXPECT_OK(tk_check(h, "day", "s", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.flags, TK_DECISION_SHADOW);
    EXPECT_EQ(d.remaining, 0);
  }
  const tk_check_item_t items[2] = {{"day", "s", 1}, {"day", "s2", 1}};
  int32_t all = -1;
  if (EXPECT_OK(tk_check_all(h, items, 2, ds, &all, &err))) {
    EXPECT_EQ(all, 1);
    EXPECT_EQ(ds[0].flags, TK_DECISION_SHADOW);
  }
  if (EXPECT_OK(tk_peek(h, "day", "s2", &d, &err))) EXPECT_EQ(d.remaining, 1);
  EXPECT_OK(tk_free(h));
}

static void test_bad_input(void) {
  tk_handle_t h = 0;
  tk_error_t err;
  EXPECT_STATUS(tk_open_memory(NULL, NULL, &h, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_open_memory(policies, NULL, NULL, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_open_memory("limiters:\n  a: { strategy: gcra, limit: -1, period: 1s }\n", NULL, &h, &err), TK_E_CONFIG);
  CHECKF(strstr(err.message, "limiters[a].limit") != NULL, "message: %s", err.message);
  EXPECT_EQ(h, 0);
}

int main(void) {
  tk_handle_t h = open_memory();
  if (h) {
    test_calls(h);
    test_refund_reset(h);
    test_async(h);
    EXPECT_OK(tk_free(h));
  }
  test_handles();
  test_shadow_switch();
  test_bad_input();
  return tk_t_finish();
}
