/*
 * test_admission.c - concurrency admission through the C ABI on the Redis door, at explicit
 * clocks (admission.md §3-§4, §9; c-abi.md "Functions added in 0.2"):
 *   - a pinned policy (3/3): three admissions with the decisions §3 gives, 32-hex lease ids
 *     and deadlines now + 2 s, then a refusal naming the concurrency axis with no lease;
 *   - release frees a slot; twice, an unknown id or "" is TK_OK; a second handle (another
 *     process, as far as Redis can tell) releases a lease the first admitted;
 *   - heartbeat renews live leases and reports the indexes of the others; a lease not renewed
 *     is reclaimed once its deadline passes; n = 0 is valid;
 *   - a unified policy (gcra burst 5 x concurrency 2) combines the axes, and its rate axis
 *     refuses with binding_axis "rate" once the burst is spent, giving the slot back;
 *   - statuses: NULL and bad arguments, an unknown policy, a rate limiter, now_ms <= 0;
 *   - tk_options_t.lease_ttl_ms and lease_heartbeat, on the store's clock: a lease of a
 *     handle that renews its leases outlives its TTL until released; one of a handle that
 *     does not, or of a freed handle, expires.
 * The guard lives in Redis under the namespace (a hash holding the leases).
 */
#include "tk_test_net.h"

static const char *policies =
    "limiters:\n"
    "  cc: { concurrency: { minLimit: 3, maxLimit: 3 } }\n"
    "  unified: { strategy: gcra, limit: 5, period: 1h, burst: 5, concurrency: { minLimit: 2, maxLimit: 2 } }\n"
    "  api: { strategy: gcra, limit: 5, period: 1s }\n"
    "  single: { concurrency: { minLimit: 1, maxLimit: 1 } }\n";

static const int64_t t0 = 1700000000000;
static char ns[128];
static tk_error_t err;

#define ST(want, call)                                                                        \
  do {                                                                                        \
    int rc_ = (call);                                                                         \
    EXPECT_STATUS_CTX(#call, rc_, want);                                                      \
    if (rc_ != (want)) fprintf(stderr, "    message: %s\n", err.message);                     \
  } while (0)

static tk_handle_t open_handle_with(const char *url, int32_t lease_ttl_ms, int32_t lease_heartbeat) {
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  o.lease_ttl_ms = lease_ttl_ms;
  o.lease_heartbeat = lease_heartbeat;
  tk_handle_t h = 0;
  ST(TK_OK, tk_open_redis(url, policies, &o, &h, &err));
  return h;
}

static tk_handle_t open_handle(const char *url) { return open_handle_with(url, 0, 0); }

static int is_lease_id(const char *s) {
  if (strlen(s) != 32) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static void expect_admitted(const tk_admission_t *a, int64_t limit, int64_t remaining,
                            int64_t reset_at, int64_t expires_at) {
  EXPECT_EQ(a->decision.allowed, 1);
  EXPECT_EQ(a->decision.limit, limit);
  EXPECT_EQ(a->decision.remaining, remaining);
  EXPECT_EQ(a->decision.reset_at_ms, reset_at);
  EXPECT_EQ(a->decision.retry_after_ms, 0);
  CHECKF(is_lease_id(a->lease_id), "lease id \"%s\"", a->lease_id);
  EXPECT_EQ(a->lease_expires_at_ms, expires_at);
  EXPECT_STREQ(a->binding_axis, "");
  EXPECT_EQ(a->policy_denied, 0);
}

static void test_pinned(tk_handle_t h, tk_handle_t other, const char *url) {
  tk_admission_t a[3], r;
  for (int i = 0; i < 3; i++) {
    ST(TK_OK, tk_admit_at(h, "cc", "k", 1, t0, &a[i], &err));
    expect_admitted(&a[i], 3, 2 - i, t0, t0 + 2000);
  }
  CHECK(strcmp(a[0].lease_id, a[1].lease_id) != 0 && strcmp(a[1].lease_id, a[2].lease_id) != 0);
  memset(&r, 0x5a, sizeof r);
  ST(TK_OK, tk_admit_at(h, "cc", "other-key", 0, t0, &r, &err)); /* scope policy: one guard */
  EXPECT_EQ(r.decision.allowed, 0);
  EXPECT_EQ(r.decision.limit, 3);
  EXPECT_EQ(r.decision.remaining, 0);
  EXPECT_EQ(r.decision.reset_at_ms, t0);
  EXPECT_EQ(r.decision.retry_after_ms, 1);
  EXPECT_STREQ(r.lease_id, "");
  EXPECT_EQ(r.lease_expires_at_ms, 0);
  EXPECT_STREQ(r.binding_axis, "concurrency");
  EXPECT_EQ(r.reserved[0], 0);

  /* The guard's Redis key is not the policy's plain prefix (see the end of this test). */
  char key[200], reply[64];
  snprintf(key, sizeof key, "%s:cc", ns);

  /* The other handle releases a[0]; a second release, an unknown id and "" are TK_OK. */
  ST(TK_OK, tk_release_at(other, "cc", "k", a[0].lease_id, 0, t0 + 40, &err));
  ST(TK_OK, tk_release_at(h, "cc", "k", a[0].lease_id, 0, t0 + 40, &err));
  ST(TK_OK, tk_release_at(h, "cc", "k", "0123456789abcdef0123456789abcdef", 1, t0 + 40, &err));
  ST(TK_OK, tk_release(h, "cc", "k", "", 0, &err));
  ST(TK_OK, tk_admit_at(h, "cc", "k", 1, t0 + 40, &a[0], &err));
  expect_admitted(&a[0], 3, 0, t0 + 40, t0 + 2040);
  ST(TK_OK, tk_admit_at(h, "cc", "k", 1, t0 + 40, &r, &err));
  EXPECT_EQ(r.decision.allowed, 0);
  EXPECT_EQ(r.decision.retry_after_ms, 40); /* the last release's RTT */

  /* At +1900: a[1] renewed to +3900; "nope" is reported at index 1. */
  const char *ids[] = {a[1].lease_id, "nope"};
  size_t reclaimed[2] = {99, 99}, n_reclaimed = 99;
  ST(TK_OK, tk_heartbeat_at(h, "cc", "k", ids, 2, t0 + 1900, reclaimed, &n_reclaimed, &err));
  EXPECT_EQ(n_reclaimed, 1);
  EXPECT_EQ(reclaimed[0], 1);
  ST(TK_OK, tk_heartbeat_at(h, "cc", "k", NULL, 0, t0 + 1900, NULL, &n_reclaimed, &err));
  EXPECT_EQ(n_reclaimed, 0);

  /* At +2000 a[2] (admitted at t0, never renewed) is past its deadline: the next admit
     reclaims it, while a[1] and a[0] hold on. */
  ST(TK_OK, tk_admit_at(h, "cc", "k", 1, t0 + 2000, &r, &err));
  EXPECT_EQ(r.decision.allowed, 1);
  EXPECT_EQ(r.decision.remaining, 0);
  const char *all[] = {a[0].lease_id, a[1].lease_id, a[2].lease_id, r.lease_id};
  ST(TK_OK, tk_heartbeat_at(h, "cc", "k", all, 4, t0 + 2000, reclaimed, &n_reclaimed, &err));
  EXPECT_EQ(n_reclaimed, 1);
  EXPECT_EQ(reclaimed[0], 2);

  if (CHECKF(tk_t_redis(url, reply, sizeof reply, "EXISTS", key, NULL) == 0, "EXISTS %s", key))
    EXPECT_STREQ(reply, ":0"); /* the guard's key carries a suffix no strategy key can take */
  for (int i = 0; i < 2; i++) ST(TK_OK, tk_release_at(h, "cc", "k", all[i], 0, t0 + 2100, &err));
  ST(TK_OK, tk_release_at(h, "cc", "k", all[3], 0, t0 + 2100, &err));
}

static void test_unified(tk_handle_t h) {
  tk_admission_t a, b, r;
  /* gcra 5/h: T = 720,000 ms. */
  ST(TK_OK, tk_admit_at(h, "unified", "u", 1, t0, &a, &err));
  expect_admitted(&a, 2, 1, t0 + 720000, t0 + 2000);
  ST(TK_OK, tk_admit_at(h, "unified", "u", 1, t0, &b, &err));
  expect_admitted(&b, 2, 0, t0 + 1440000, t0 + 2000);
  ST(TK_OK, tk_admit_at(h, "unified", "u", 1, t0, &r, &err));
  EXPECT_EQ(r.decision.allowed, 0);
  EXPECT_STREQ(r.binding_axis, "concurrency");
  /* Three more pass the rate axis (burst 5), one at a time; the sixth is refused by it. */
  for (int i = 0; i < 4; i++) {
    ST(TK_OK, tk_release_at(h, "unified", "u", a.lease_id, 0, t0 + 1, &err));
    ST(TK_OK, tk_admit_at(h, "unified", "u", 1, t0 + 1, &a, &err));
    if (i < 3) {
      EXPECT_EQ(a.decision.allowed, 1);
      continue;
    }
    EXPECT_EQ(a.decision.allowed, 0);
    EXPECT_STREQ(a.binding_axis, "rate");
    EXPECT_STREQ(a.lease_id, "");
    EXPECT_EQ(a.decision.limit, 2);
    EXPECT_EQ(a.decision.remaining, 0);
    EXPECT_GT(a.decision.retry_after_ms, 0);
  }
  /* The refused rate axis gave its slot back: b holds one, one is free. */
  ST(TK_OK, tk_admit_at(h, "unified", "v", 1, t0 + 1, &r, &err));
  EXPECT_EQ(r.decision.allowed, 1);
}

static void test_statuses(tk_handle_t h) {
  tk_admission_t a;
  size_t reclaimed[1], n_reclaimed = 7;
  const char *ids[] = {NULL};
  ST(TK_E_INVALID, tk_admit(h, "cc", "k", 1, NULL, &err));
  ST(TK_E_INVALID, tk_admit(h, NULL, "k", 1, &a, &err));
  ST(TK_E_INVALID, tk_admit(h, "", "k", 1, &a, &err));
  ST(TK_E_INVALID, tk_admit(h, "cc", NULL, 1, &a, &err));
  ST(TK_E_INVALID, tk_admit(h, "cc", "k", -1, &a, &err));
  ST(TK_E_INVALID, tk_admit_at(h, "cc", "k", 1, 0, &a, &err));
  ST(TK_E_INVALID, tk_release(h, "cc", "k", NULL, 0, &err));
  ST(TK_E_INVALID, tk_release_at(h, "cc", "k", "x", 0, -5, &err));
  ST(TK_E_INVALID, tk_heartbeat(h, "cc", "k", NULL, 1, reclaimed, &n_reclaimed, &err));
  EXPECT_EQ(n_reclaimed, 0);
  ST(TK_E_INVALID, tk_heartbeat(h, "cc", "k", ids, 1, reclaimed, &n_reclaimed, &err));
  ST(TK_E_INVALID, tk_heartbeat(h, "cc", "k", NULL, 0, NULL, NULL, &err));
  ST(TK_E_NOT_FOUND, tk_admit(h, "nope", "k", 1, &a, &err));
  EXPECT_CONTAINS(err.message, "nope");
  ST(TK_E_NOT_FOUND, tk_release(h, "nope", "k", "x", 0, &err));
  ST(TK_E_UNSUPPORTED, tk_admit(h, "api", "k", 1, &a, &err));
  EXPECT_CONTAINS(err.message, "does not support admit");
  ST(TK_E_UNSUPPORTED, tk_heartbeat(h, "api", "k", NULL, 0, NULL, &n_reclaimed, &err));
  tk_decision_t d;
  ST(TK_E_UNSUPPORTED, tk_check(h, "cc", "k", 1, &d, &err));
  EXPECT_CONTAINS(err.message, "does not support check");
  ST(TK_E_BADHANDLE, tk_admit(987654321, "cc", "k", 1, &a, &err));
  /* Redis's clock: an admission's deadline is about now + 2 s. */
  ST(TK_OK, tk_admit(h, "unified", "wall", 1, &a, &err));
  int64_t now = tk_t_wall_ms();
  CHECKF(a.lease_expires_at_ms > now && a.lease_expires_at_ms < now + 60000, "expires %lld, now %lld",
         (long long)a.lease_expires_at_ms, (long long)now);
  ST(TK_OK, tk_release(h, "unified", "wall", a.lease_id, 0, &err));
}

/* Whether the single slot is free now (a probe admission is released at once). */
static int single_free(tk_handle_t probe) {
  tk_admission_t a;
  if (tk_admit(probe, "single", "k", 1, &a, &err) != TK_OK) return -1;
  if (a.decision.allowed) tk_release(probe, "single", "k", a.lease_id, 0, &err);
  return a.decision.allowed;
}

/* TTL 3 s: renewals every 1.5 s. Holds of 4.5 s outlive the TTL only when renewed. */
static void test_lease_options(const char *url, tk_handle_t probe) {
  tk_options_t o;
  tk_handle_t bad = 0;
  tk_options_init(&o);
  o.lease_ttl_ms = -1;
  ST(TK_E_INVALID, tk_open_redis(url, policies, &o, &bad, &err));
  tk_options_init(&o);
  o.lease_heartbeat = 2;
  ST(TK_E_INVALID, tk_open_redis(url, policies, &o, &bad, &err));

  tk_handle_t pumped = open_handle_with(url, 3000, 1), plain = open_handle_with(url, 3000, 0);
  if (!pumped || !plain) return;
  tk_admission_t a, b;
  ST(TK_OK, tk_admit(pumped, "single", "k", 1, &a, &err));
  EXPECT_EQ(a.decision.allowed, 1);
  int64_t now = tk_t_wall_ms();
  CHECKF(a.lease_expires_at_ms > now + 2000 && a.lease_expires_at_ms <= now + 3100, "a 3 s lease expires at %lld, now %lld",
         (long long)a.lease_expires_at_ms, (long long)now);
  tk_t_sleep_ms(4500);
  EXPECT_EQ(single_free(probe), 0); /* renewed: still held */
  ST(TK_OK, tk_release(pumped, "single", "k", a.lease_id, 0, &err));
  EXPECT_EQ(single_free(probe), 1);

  ST(TK_OK, tk_admit(plain, "single", "k", 1, &b, &err));
  EXPECT_EQ(b.decision.allowed, 1);
  tk_t_sleep_ms(4500);
  EXPECT_EQ(single_free(probe), 1); /* not renewed: expired and reclaimed */

  /* tk_free stops the renewals: the lease expires. */
  ST(TK_OK, tk_admit(pumped, "single", "k", 1, &a, &err));
  EXPECT_EQ(a.decision.allowed, 1);
  EXPECT_OK(tk_free(pumped));
  EXPECT_EQ(single_free(probe), 0);
  tk_t_sleep_ms(4500);
  EXPECT_EQ(single_free(probe), 1);
  tk_free(plain);
}

int main(void) {
  const char *url = tk_t_redis_url("the admission tests");
  if (!url) return tk_t_finish();
  tk_t_namespace(ns, sizeof ns, "admission");
  tk_handle_t h = open_handle(url), other = open_handle(url);
  if (h && other) {
    test_pinned(h, other, url);
    test_unified(h);
    test_statuses(h);
    test_lease_options(url, other);
  }
  if (h) tk_free(h);
  if (other) tk_free(other);
  return tk_t_finish();
}
