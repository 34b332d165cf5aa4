/*
 * test_overrides.c - per-key overrides through the C ABI: tk_set_override, tk_clear_override
 * and TK_DECISION_OVERRIDE, on the Redis door and on tk_open_memory.
 *
 *   - the policy file's overrides: unlimited and deny decide with the flag set and leave no
 *     state key in Redis; a field override ({ limit: 4 }) admits four;
 *   - a record set with tk_set_override beats the file's entry, is stored in its canonical
 *     form in the state key's record (read in Redis), expires after ttl_ms, and
 *     tk_clear_override restores the file's entry; tk_check_many, tk_check_all and
 *     tk_check_async honour records too;
 *   - bad input: NULL arguments, a bad spec, a negative ttl, a policy without an overrides
 *     block (TK_E_UNSUPPORTED), an unknown policy, a freed handle.
 */
#include "tk_test_net.h"

#include <poll.h>

static const char *policies =
    "limiters:\n"
    "  tiers:\n"
    "    strategy: fixedWindow\n"
    "    limit: 2\n"
    "    windowMs: 1h\n"
    "    overrides:\n"
    "      vip: unlimited\n"
    "      banned: deny\n"
    "      gold: { limit: 4 }\n"
    "  plain: { strategy: fixedWindow, limit: 2, windowMs: 1h }\n";

static const int64_t now = 1700000000000LL;

static void check_file_overrides(tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  for (int i = 0; i < 5; i++) {
    if (EXPECT_OK(tk_check_at(h, "tiers", "vip", 1, now, &d, &err))) {
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.flags, TK_DECISION_OVERRIDE);
      EXPECT_EQ(d.remaining, 2);
      EXPECT_EQ(d.reset_at_ms, now);
    }
    if (EXPECT_OK(tk_check_at(h, "tiers", "banned", 1, now, &d, &err))) {
      EXPECT_EQ(d.allowed, 0);
      EXPECT_EQ(d.flags, TK_DECISION_OVERRIDE);
      EXPECT_EQ(d.remaining, 0);
      EXPECT_EQ(d.retry_after_ms, 3600000);
    }
    if (EXPECT_OK(tk_check_at(h, "tiers", "gold", 1, now, &d, &err))) {
      EXPECT_EQ(d.allowed, i < 4);
      EXPECT_EQ(d.limit, 4);
      EXPECT_EQ(d.flags, TK_DECISION_OVERRIDE);
    }
  }
  if (EXPECT_OK(tk_check_at(h, "tiers", "someone", 1, now, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.flags, 0);
    EXPECT_EQ(d.remaining, 1);
  }
}

static void check_records(tk_handle_t h) {
  tk_decision_t d, ds[3];
  tk_error_t err;
  EXPECT_OK(tk_set_override(h, "tiers", "vip", "deny", 0, &err));
  if (EXPECT_OK(tk_check_at(h, "tiers", "vip", 1, now, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.flags, TK_DECISION_OVERRIDE);
  }
  EXPECT_OK(tk_set_override(h, "tiers", "r", "limit=1", 0, &err));
  const char *keys[3] = {"r", "vip", "r"};
  if (EXPECT_OK(tk_check_many_at(h, "tiers", keys, 3, 1, now, ds, &err))) {
    EXPECT_EQ(ds[0].allowed, 1);
    EXPECT_EQ(ds[0].limit, 1);
    EXPECT_EQ(ds[0].flags, TK_DECISION_OVERRIDE);
    EXPECT_EQ(ds[1].allowed, 0);
    EXPECT_EQ(ds[2].allowed, 0);
  }
  const tk_check_item_t items[2] = {{"plain", "x", 1}, {"tiers", "vip", 1}};
  int32_t all = -1;
  if (EXPECT_OK(tk_check_all(h, items, 2, ds, &all, &err))) {
    EXPECT_EQ(all, 0);
    EXPECT_EQ(ds[0].flags, 0);
    EXPECT_EQ(ds[1].flags, TK_DECISION_OVERRIDE);
    EXPECT_EQ(ds[1].allowed, 0);
  }
  if (EXPECT_OK(tk_peek(h, "plain", "x", &d, &err))) EXPECT_EQ(d.remaining, 2); /* none consumed */

  EXPECT_OK(tk_clear_override(h, "tiers", "vip", &err));
  EXPECT_OK(tk_clear_override(h, "tiers", "vip", &err)); /* none: still TK_OK */
  if (EXPECT_OK(tk_check_at(h, "tiers", "vip", 1, now, &d, &err))) EXPECT_EQ(d.allowed, 1);

  /* A record with a ttl expires. */
  EXPECT_OK(tk_set_override(h, "tiers", "short", "deny", 150, &err));
  if (EXPECT_OK(tk_check(h, "tiers", "short", 1, &d, &err))) EXPECT_EQ(d.allowed, 0);
  tk_t_sleep_ms(300);
  if (EXPECT_OK(tk_check(h, "tiers", "short", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.flags, 0);
  }

  /* The asynchronous path. */
  EXPECT_OK(tk_set_override(h, "tiers", "async", "deny", 0, &err));
  int fd = -1;
  if (!EXPECT_OK(tk_completion_fd(h, &fd, &err))) return;
  EXPECT_OK(tk_check_async(h, "tiers", "async", 1, 7, &err));
  tk_completion_t done[2];
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + 5000;
  while (got < 1 && tk_t_mono_ms() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 100);
    size_t n = 0;
    EXPECT_OK(tk_poll(h, done + got, 2 - got, &n));
    got += n;
  }
  if (EXPECT_EQ(got, 1)) {
    EXPECT_EQ(done[0].status, TK_OK);
    EXPECT_EQ(done[0].cookie, 7);
    EXPECT_EQ(done[0].decision.allowed, 0);
    EXPECT_EQ(done[0].decision.flags, TK_DECISION_OVERRIDE);
  }
}

static void check_bad_input(tk_handle_t h) {
  tk_error_t err;
  EXPECT_STATUS(tk_set_override(h, NULL, "k", "deny", 0, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "tiers", NULL, "deny", 0, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", NULL, 0, &err), TK_E_INVALID);
  EXPECT_ERR(err, TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", "deny", -1, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", "limit=0", 0, &err), TK_E_INVALID);
  EXPECT_CONTAINS(err.message, "limit");
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", "allow", 0, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", "burst=3", 0, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(h, "plain", "k", "deny", 0, &err), TK_E_UNSUPPORTED);
  EXPECT_CONTAINS(err.message, "overrides");
  EXPECT_STATUS(tk_clear_override(h, "plain", "k", &err), TK_E_UNSUPPORTED);
  EXPECT_STATUS(tk_set_override(h, "nope", "k", "deny", 0, &err), TK_E_NOT_FOUND);
  EXPECT_STATUS(tk_clear_override(h, NULL, "k", &err), TK_E_INVALID);
  EXPECT_STATUS(tk_clear_override(h, "tiers", NULL, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_set_override(0, "tiers", "k", "deny", 0, &err), TK_E_BADHANDLE);
}

static void freed(tk_handle_t h) {
  tk_error_t err;
  EXPECT_OK(tk_free(h));
  EXPECT_STATUS(tk_set_override(h, "tiers", "k", "deny", 0, &err), TK_E_BADHANDLE);
  EXPECT_ERR(err, TK_E_BADHANDLE);
  EXPECT_STATUS(tk_clear_override(h, "tiers", "k", &err), TK_E_BADHANDLE);
}

int main(void) {
  tk_error_t err;
  tk_handle_t m = 0;
  if (EXPECT_OK(tk_open_memory(policies, NULL, &m, &err))) {
    check_file_overrides(m);
    check_records(m);
    check_bad_input(m);
    freed(m);
  }
  const char *url = tk_t_redis_url("the override tests on the Redis door");
  if (url) {
    char ns[128], got[128], full[256];
    tk_t_namespace(ns, sizeof ns, "override");
    tk_options_t o;
    tk_options_init(&o);
    o.key_namespace = ns;
    o.timeout_ms = 5000;
    tk_handle_t h = 0;
    if (EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
      check_file_overrides(h);
      /* unlimited and deny never wrote a state key; gold's is there. */
      const char *absent[2] = {"vip", "banned"};
      for (int i = 0; i < 2; i++) {
        snprintf(full, sizeof full, "%s:tiers:%s", ns, absent[i]);
        if (EXPECT_EQ(tk_t_redis(url, got, sizeof got, "EXISTS", full, NULL), 0)) EXPECT_STREQ(got, ":0");
      }
      snprintf(full, sizeof full, "%s:tiers:gold", ns);
      if (EXPECT_EQ(tk_t_redis(url, got, sizeof got, "HGET", full, "c", NULL), 0)) EXPECT_STREQ(got, "4");
      /* The record's place and canonical form (docs/redis-keys.md). */
      EXPECT_OK(tk_set_override(h, "tiers", "gold", "windowMs=2h,limit=9", 0, &err));
      snprintf(full, sizeof full, "{%s:tiers:gold}:override", ns);
      if (EXPECT_EQ(tk_t_redis(url, got, sizeof got, "GET", full, NULL), 0)) EXPECT_STREQ(got, "limit=9,windowMs=7200000");
      check_records(h);
      check_bad_input(h);
      freed(h);
    }
  }
  return tk_t_finish();
}
