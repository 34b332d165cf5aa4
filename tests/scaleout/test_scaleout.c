/*
 * test_scaleout.c - the C ABI on a Redis Cluster and behind Sentinel.
 *
 * Driven by driver/scaleout_test.go, which starts the topology, picks keys and checks afterwards
 * where their counts landed. Environment:
 *   TK_SCALEOUT_URL     the redis+cluster:// / rediss+cluster:// / redis+sentinel:// URL
 *   TK_SCALEOUT_NS      the key namespace of the main handle
 *   TK_SCALEOUT_CA      optional: the CA file to trust (tls_ca_file)
 *   TK_SCALEOUT_BAD_URL optional: the same topology with a wrong password: TK_E_AUTH
 *   TK_SCALEOUT_SECRET  optional: a string no error message may contain (the passwords)
 * Arguments: keys; the driver picks them so that, for policy "fw" in TK_SCALEOUT_NS, they
 * fall on every master of a cluster.
 *
 * Checks, every decision field compared:
 *   - a gcra burst to denial on every key at an explicit instant (exact reset and retry);
 *   - a fixedWindow burst to denial on every key at the Redis clock (the driver then reads
 *     count 4 on the master owning each key);
 *   - tk_check_many over all keys (with duplicates) once they are spent: all denied;
 *   - tk_check_many_at against tk_check_at one key at a time on a second handle, for every
 *     strategy, over several instants;
 *   - a wrong password: TK_E_AUTH, and no message shows a password.
 */
#include "tk_test.h"

static const char *policies =
    "limiters:\n"
    "  g: { strategy: gcra, limit: 5, period: 1h, burst: 3 }\n"
    "  gh: { strategy: gcra, limit: 10, period: 1h, burst: 4 }\n"
    "  fw: { strategy: fixedWindow, limit: 4, windowMs: 3600000 }\n"
    "  fwh: { strategy: fixedWindow, limit: 3, windowMs: 3600000 }\n"
    "  tb: { strategy: tokenBucket, capacity: 5, refillPerSec: 0.0025 }\n"
    "  sw: { strategy: slidingWindow, limit: 4, windowMs: 1h, buckets: 4 }\n"
    "  swl: { strategy: slidingWindowLog, limit: 3, windowMs: 1h }\n";

#define MAXKEYS 64

static const char *secret;

static void no_secret(const char *what, const char *msg) {
  if (secret && *secret)
    CHECKF(strstr(msg, secret) == NULL, "%s: the message shows a password: %s", what, msg);
}

static tk_handle_t open_handle(const char *url, const char *ns, const char *ca) {
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  o.tls_ca_file = ca;
  tk_handle_t h = 0;
  tk_error_t err;
  tk_t_poison_err(&err);
  int rc = tk_open_redis(url, policies, &o, &h, &err);
  if (!EXPECT_OK(rc)) {
    no_secret("open", err.message);
    fprintf(stderr, "  open: %s\n", err.message);
    return 0;
  }
  EXPECT_ERR(err, TK_OK);
  return h;
}

static void print_decision(const char *who, const tk_decision_t *d) {
  fprintf(stderr, "    %s: allowed %d flags %d limit %lld remaining %lld reset_at %lld retry %lld\n",
          who, d->allowed, d->flags, (long long)d->limit, (long long)d->remaining,
          (long long)d->reset_at_ms, (long long)d->retry_after_ms);
}

static int same_decision(const tk_decision_t *a, const tk_decision_t *b) {
  return a->allowed == b->allowed && a->flags == b->flags && a->limit == b->limit &&
         a->remaining == b->remaining && a->reset_at_ms == b->reset_at_ms &&
         a->retry_after_ms == b->retry_after_ms && !memcmp(a->reserved, b->reserved, sizeof a->reserved);
}

static int expect_decision(const char *ctx, const tk_decision_t *got, const tk_decision_t *want) {
  if (same_decision(got, want)) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(__FILE__, __LINE__, "%s: decision differs", ctx);
  print_decision("got ", got);
  print_decision("want", want);
  return 0;
}

/* gcra limit 5 an hour, burst 3: an emission interval of 720 s. At one instant the first
   three checks pass, each pushing the reset 720 s further; the fourth is denied for 720 s.
   (Hour-long windows throughout: with an explicit clock a key's TTL still runs in real time,
   and a short one could expire between two calls on a loaded machine.) */
static void test_gcra_burst(tk_handle_t h, char **keys, int n) {
  const int64_t now = 1700000000000;
  for (int k = 0; k < n; k++) {
    for (int64_t i = 1; i <= 4; i++) {
      tk_decision_t d, want;
      tk_error_t err;
      memset(&d, 0x5a, sizeof d);
      memset(&want, 0, sizeof want);
      int rc = tk_check_at(h, "g", keys[k], 1, now, &d, &err);
      char ctx[128];
      snprintf(ctx, sizeof ctx, "gcra key %s check %lld", keys[k], (long long)i);
      if (!EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
        fprintf(stderr, "  %s\n", err.message);
        return;
      }
      want.allowed = i <= 3;
      want.limit = 3;
      want.remaining = i <= 3 ? 3 - i : 0;
      want.reset_at_ms = now + 720000 * (i <= 3 ? i : 3);
      want.retry_after_ms = i <= 3 ? 0 : 720000;
      expect_decision(ctx, &d, &want);
    }
  }
}

/* fixedWindow 4 an hour at the Redis clock: four pass, the fifth is denied until the reset. */
static void test_fw_burst(tk_handle_t h, char **keys, int n) {
  for (int k = 0; k < n; k++) {
    int64_t reset = 0;
    for (int64_t i = 1; i <= 5; i++) {
      tk_decision_t d, want;
      tk_error_t err;
      memset(&d, 0x5a, sizeof d);
      memset(&want, 0, sizeof want);
      int64_t before = tk_t_wall_ms();
      int rc = tk_check(h, "fw", keys[k], 1, &d, &err);
      char ctx[128];
      snprintf(ctx, sizeof ctx, "fw key %s check %lld", keys[k], (long long)i);
      if (!EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
        fprintf(stderr, "  %s\n", err.message);
        return;
      }
      if (i == 1) {
        reset = d.reset_at_ms;
        CHECKF(reset > before && reset <= before + 3600000 + 1000, "%s: reset_at %lld, now %lld", ctx,
               (long long)reset, (long long)before);
      }
      want.allowed = i <= 4;
      want.limit = 4;
      want.remaining = i <= 4 ? 4 - i : 0;
      want.reset_at_ms = reset;
      want.retry_after_ms = i <= 4 ? 0 : d.retry_after_ms;
      expect_decision(ctx, &d, &want);
      if (i > 4)
        CHECKF(d.retry_after_ms > 0 && d.retry_after_ms <= reset - before + 1000,
               "%s: retry_after %lld, reset in %lld", ctx, (long long)d.retry_after_ms,
               (long long)(reset - before));
    }
  }
}

/* Every key spent: a batch over all of them, duplicates included, is denied everywhere. */
static void test_many_spent(tk_handle_t h, char **keys, int n) {
  const char *batch[2 * MAXKEYS] = {0};
  tk_decision_t out[2 * MAXKEYS];
  for (int i = 0; i < n; i++) batch[i] = batch[n + i] = keys[n - 1 - i];
  tk_error_t err;
  memset(out, 0x5a, sizeof out);
  tk_t_poison_err(&err);
  int rc = tk_check_many(h, "fw", batch, (size_t)(2 * n), 1, out, &err);
  if (!EXPECT_OK(rc)) {
    fprintf(stderr, "  check_many: %s\n", err.message);
    return;
  }
  EXPECT_ERR(err, TK_OK);
  for (int i = 0; i < 2 * n; i++) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "check_many spent [%d] %s", i, batch[i]);
    CHECKF(!out[i].allowed && out[i].flags == 0 && out[i].limit == 4 && out[i].remaining == 0 &&
               out[i].reset_at_ms > 0 && out[i].retry_after_ms > 0,
           "%s: allowed %d flags %d limit %lld remaining %lld retry %lld", ctx, out[i].allowed,
           out[i].flags, (long long)out[i].limit, (long long)out[i].remaining,
           (long long)out[i].retry_after_ms);
  }
}

/* tk_check_many_at on handle a against tk_check_at key by key on handle b (another
   namespace), for every strategy: the same decisions in every field. */
static void test_many_equivalence(tk_handle_t a, tk_handle_t b, char **keys, int n) {
  const char *batch[3 * MAXKEYS] = {0};
  int m = 0;
  for (int i = 0; i < n; i++) batch[m++] = keys[i];
  for (int i = 0; i < n; i += 2) batch[m++] = keys[i];
  for (int i = n - 1; i >= 0; i -= 3) batch[m++] = keys[i];
  const char *strategies[] = {"gh", "fwh", "tb", "sw", "swl"};
  const struct {
    int64_t dt, cost;
  } steps[] = {{0, 1}, {0, 1}, {0, 2}, {1200000, 1}, {3000000, 1}, {7300000, 0}};
  const int64_t base = 1700000000000 - 1700000000000 % 3600000 + 3600000 + 7;
  long allowed = 0, denied = 0;
  for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
      tk_decision_t many[3 * MAXKEYS];
      tk_error_t err;
      char ctx[128];
      snprintf(ctx, sizeof ctx, "%s step %zu", strategies[s], k);
      memset(many, 0xa5, sizeof many);
      int rc = tk_check_many_at(a, strategies[s], batch, (size_t)m, steps[k].cost,
                                base + steps[k].dt, many, &err);
      if (!EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
        fprintf(stderr, "  %s\n", err.message);
        return;
      }
      long mismatches = 0;
      for (int i = 0; i < m; i++) {
        tk_decision_t one;
        memset(&one, 0x5a, sizeof one);
        rc = tk_check_at(b, strategies[s], batch[i], steps[k].cost, base + steps[k].dt, &one, &err);
        if (rc != TK_OK) {
          tk_t_failf(__FILE__, __LINE__, "%s key %s: tk_check_at %s: %s", ctx, batch[i],
                     tk_t_status_name(rc), err.message);
          return;
        }
        many[i].allowed ? allowed++ : denied++;
        if (!same_decision(&many[i], &one) && mismatches++ < 3) {
          tk_t_failf(__FILE__, __LINE__, "%s [%d] %s: the batch and the single check differ", ctx,
                     i, batch[i]);
          print_decision("tk_check_many_at", &many[i]);
          print_decision("tk_check_at     ", &one);
        }
      }
      EXPECT_EQ_CTX(ctx, mismatches, 0);
    }
  }
  printf("check_many_at vs check_at: %d keys a batch, %ld allowed, %ld denied\n", m, allowed, denied);
  CHECK(allowed > 0 && denied > 0);
}

static void test_bad_password(const char *url, const char *ca) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = 2000;
  o.tls_ca_file = ca;
  tk_handle_t h = 0;
  tk_error_t err;
  int rc = tk_open_redis(url, policies, &o, &h, &err);
  if (!EXPECT_OK(rc)) { /* open does not dial */
    fprintf(stderr, "  open: %s\n", err.message);
    return;
  }
  tk_decision_t d;
  tk_t_poison_err(&err);
  rc = tk_check(h, "fw", "k", 1, &d, &err);
  EXPECT_STATUS(rc, TK_E_AUTH);
  EXPECT_ERR(err, TK_E_AUTH);
  no_secret("a wrong password", err.message);
  printf("a wrong password: %s: %s\n", tk_t_status_name(rc), err.message);
  EXPECT_OK(tk_free(h));
}

int main(int argc, char **argv) {
  const char *url = getenv("TK_SCALEOUT_URL"), *ns = getenv("TK_SCALEOUT_NS");
  const char *ca = getenv("TK_SCALEOUT_CA"), *bad = getenv("TK_SCALEOUT_BAD_URL");
  secret = getenv("TK_SCALEOUT_SECRET");
  if (ca && !*ca) ca = NULL;
  if (!url || !*url || !ns || !*ns || argc < 2 || argc - 1 > MAXKEYS) {
    fprintf(stderr, "usage: TK_SCALEOUT_URL=... TK_SCALEOUT_NS=... %s key... (at most %d)\n",
            argv[0], MAXKEYS);
    return 2;
  }
  char **keys = argv + 1;
  int n = argc - 1;
  char nsb[256];
  snprintf(nsb, sizeof nsb, "%s-b", ns);

  tk_handle_t a = open_handle(url, ns, ca), b = open_handle(url, nsb, ca);
  if (a && b) {
    test_gcra_burst(a, keys, n);
    test_fw_burst(a, keys, n);
    test_many_spent(a, keys, n);
    test_many_equivalence(a, b, keys, n);
  }
  if (a) EXPECT_OK(tk_free(a));
  if (b) EXPECT_OK(tk_free(b));
  if (bad && *bad) test_bad_password(bad, ca);
  return tk_t_finish();
}
