/*
 * test_check_many.c - tk_check_many(_at) against tk_check(_at) one key at a time.
 *
 * Two handles on two namespaces see the same traffic: handle A through tk_check_many_at over
 * 1,000 keys (150 distinct, in a scrambled order, so each batch holds many duplicates), handle
 * B through tk_check_at key by key at the same now. Every decision matches in all fields, for
 * every strategy, over several instants and costs. Also: n == 0 is TK_OK (keys and out may be
 * NULL); an invalid key anywhere fails the whole batch with no effect; tk_check_many at the
 * Redis clock works and decides the whole batch at one instant; a batch that meets an empty
 * script cache (SCRIPT FLUSH, as after a Redis restart) still runs, in order.
 */
#include "tk_test_net.h"

#define N 1000
#define DISTINCT 150

/* Windows of an hour or more: with an explicit clock, a key's TTL (the time it takes to
   replenish) still runs in real time, and the one-by-one replay on handle B is slower than the
   batch. Short windows would let B's keys expire between its calls and the two differ for a
   reason that is not the library's. */
static const char *policies =
    "limiters:\n"
    "  gcra: { strategy: gcra, limit: 10, period: 1h, burst: 4 }\n"
    "  fw: { strategy: fixedWindow, limit: 3, windowMs: 3600000 }\n"
    "  tb: { strategy: tokenBucket, capacity: 5, refillPerSec: 0.0025 }\n"
    "  sw: { strategy: slidingWindow, limit: 4, windowMs: 1h, buckets: 4 }\n"
    "  swl: { strategy: slidingWindowLog, limit: 3, windowMs: 1h }\n"
    "  hour: { strategy: fixedWindow, limit: 3, windowMs: 3600000 }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 60000 }\n";

static tk_handle_t open_ns(const char *url, const char *tag, char *ns, size_t size) {
  tk_t_namespace(ns, size, tag);
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 5000;
  tk_handle_t h = 0;
  tk_error_t err;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
    fprintf(stderr, "  open: %s\n", err.message);
    return 0;
  }
  return h;
}

static int same_decision(const tk_decision_t *a, const tk_decision_t *b) {
  return a->allowed == b->allowed && a->flags == b->flags && a->limit == b->limit &&
         a->remaining == b->remaining && a->reset_at_ms == b->reset_at_ms &&
         a->retry_after_ms == b->retry_after_ms && a->window_ms == b->window_ms && !memcmp(a->reserved, b->reserved, sizeof a->reserved);
}

static void print_decision(const char *who, const tk_decision_t *d) {
  fprintf(stderr, "    %s: allowed %d flags %d limit %lld remaining %lld reset_at %lld retry %lld\n",
          who, d->allowed, d->flags, (long long)d->limit, (long long)d->remaining,
          (long long)d->reset_at_ms, (long long)d->retry_after_ms);
}

static void test_equivalence(const char *url) {
  char nsa[128], nsb[128];
  tk_handle_t a = open_ns(url, "many-a", nsa, sizeof nsa);
  tk_handle_t b = open_ns(url, "many-b", nsb, sizeof nsb);
  if (!a || !b) return;

  static char names[DISTINCT][32];
  for (int i = 0; i < DISTINCT; i++) snprintf(names[i], sizeof names[i], "key-%03d", i);
  static const char *keys[N];
  uint32_t seed = 20240611u; /* a fixed scramble: failures reproduce */
  for (int i = 0; i < N; i++) {
    seed = seed * 1664525u + 1013904223u;
    keys[i] = names[(seed >> 8) % DISTINCT];
  }
  static tk_decision_t many[N];
  const char *strategies[] = {"gcra", "fw", "tb", "sw", "swl"};
  /* Instants and costs: a first batch, the same instant again (everything spent), later
     instants where part has come back (in every strategy), a larger cost, the next window. */
  const struct {
    int64_t dt;
    int64_t cost;
  } steps[] = {{0, 1}, {0, 1}, {500000, 1}, {1200000, 2}, {3000000, 1}, {4000000, 0}, {7300000, 1}};
  const int64_t nsteps = (int64_t)(sizeof steps / sizeof steps[0]);
  /* A few ms past an hour boundary. */
  const int64_t base = 1700000000000 - 1700000000000 % 3600000 + 3600000 + 7;
  long compared = 0, allowed = 0, denied = 0;
  for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
    const char *p = strategies[s];
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
      const int64_t now = base + steps[k].dt;
      tk_error_t err;
      memset(many, 0xa5, sizeof many);
      tk_t_poison_err(&err);
      int rc = tk_check_many_at(a, p, keys, N, steps[k].cost, now, many, &err);
      char ctx[96];
      snprintf(ctx, sizeof ctx, "%s step %zu: check_many_at", p, k);
      if (!EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
        fprintf(stderr, "  %s\n", err.message);
        continue;
      }
      EXPECT_ERR_CTX(ctx, err, TK_OK);
      long mismatches = 0;
      for (int i = 0; i < N; i++) {
        tk_decision_t one;
        memset(&one, 0x5a, sizeof one);
        rc = tk_check_at(b, p, keys[i], steps[k].cost, now, &one, &err);
        if (rc != TK_OK) {
          tk_t_failf(__FILE__, __LINE__, "%s step %zu key #%d %s: tk_check_at %s: %s", p, k, i,
                     keys[i], tk_t_status_name(rc), err.message);
          break;
        }
        compared++;
        many[i].allowed ? allowed++ : denied++;
        if (!same_decision(&many[i], &one) && mismatches++ < 3) {
          tk_t_failf(__FILE__, __LINE__, "%s step %zu key #%d %s: the batch and the single "
                     "check differ", p, k, i, keys[i]);
          print_decision("tk_check_many_at", &many[i]);
          print_decision("tk_check_at     ", &one);
        }
      }
      EXPECT_EQ_CTX(ctx, mismatches, 0);
    }
  }
  EXPECT_EQ(compared, 5 * nsteps * N);
  /* The traffic must have exercised both outcomes. */
  CHECKF(allowed > 500 && denied > 500, "%ld allowed, %ld denied", allowed, denied);
  printf("check_many equivalence: %ld decisions compared (%ld allowed, %ld denied)\n", compared,
         allowed, denied);
  EXPECT_OK(tk_free(a));
  EXPECT_OK(tk_free(b));
}

static void test_empty_and_invalid(const char *url) {
  char ns[128];
  tk_handle_t h = open_ns(url, "many-edge", ns, sizeof ns);
  if (!h) return;
  tk_error_t err;
  const int64_t now = tk_t_wall_ms();
  const char *keys[3] = {"e1", "e2", "e3"};
  tk_decision_t ds[3];

  /* n == 0: TK_OK, err filled, keys and out may be NULL. */
  tk_t_poison_err(&err);
  EXPECT_OK(tk_check_many(h, "fw", NULL, 0, 1, NULL, &err));
  EXPECT_ERR(err, TK_OK);
  tk_t_poison_err(&err);
  EXPECT_OK(tk_check_many_at(h, "fw", NULL, 0, 1, now, NULL, &err));
  EXPECT_ERR(err, TK_OK);
  memset(ds, 0xa5, sizeof ds);
  EXPECT_OK(tk_check_many(h, "fw", keys, 0, 1, ds, &err));
  EXPECT_EQ(ds[0].allowed, (int32_t)0xa5a5a5a5); /* n == 0 writes nothing */
  EXPECT_OK(tk_check_many(h, "fw", keys, 0, 1, NULL, NULL));

  /* One bad key fails the whole batch, and nothing of it is counted. */
  char *longkey = malloc(4098);
  memset(longkey, 'x', 4097);
  longkey[4097] = '\0';
  const char *bad[3] = {"inv1", longkey, "inv3"};
  tk_t_poison_err(&err);
  EXPECT_STATUS(tk_check_many_at(h, "hour", bad, 3, 1, now, ds, &err), TK_E_INVALID);
  EXPECT_ERR(err, TK_E_INVALID);
  EXPECT_STATUS(tk_check_many(h, "hour", bad, 3, 1, ds, &err), TK_E_INVALID);
  free(longkey);
  tk_decision_t d;
  if (EXPECT_OK(tk_peek_at(h, "hour", "inv1", now, &d, &err))) EXPECT_EQ(d.remaining, 3);
  EXPECT_OK(tk_free(h));
}

static void test_server_clock(const char *url) {
  char ns[128];
  tk_handle_t h = open_ns(url, "many-clock", ns, sizeof ns);
  if (!h) return;
  tk_error_t err;
  const char *keys[6] = {"x", "x", "y", "x", "x", "y"};
  tk_decision_t ds[6];
  memset(ds, 0xa5, sizeof ds);
  int64_t before = tk_t_wall_ms();
  tk_t_poison_err(&err);
  int rc = tk_check_many(h, "hour", keys, 6, 1, ds, &err);
  int64_t after = tk_t_wall_ms();
  if (EXPECT_OK(rc)) {
    EXPECT_ERR(err, TK_OK);
    const int want_allowed[6] = {1, 1, 1, 1, 0, 1};
    const int64_t want_remaining[6] = {2, 1, 2, 0, 0, 1};
    for (int i = 0; i < 6; i++) {
      char ctx[48];
      snprintf(ctx, sizeof ctx, "server clock entry %d", i);
      EXPECT_EQ_CTX(ctx, ds[i].allowed, want_allowed[i]);
      EXPECT_EQ_CTX(ctx, ds[i].remaining, want_remaining[i]);
      EXPECT_EQ_CTX(ctx, ds[i].limit, 3);
      EXPECT_EQ_CTX(ctx, ds[i].flags, 0);
      EXPECT_EQ_CTX(ctx, ds[i].retry_after_ms > 0, !want_allowed[i]);
      /* One instant for the whole batch: one window end for every entry. */
      EXPECT_EQ_CTX(ctx, ds[i].reset_at_ms, ds[0].reset_at_ms);
    }
    /* The window is the hour of the Redis clock (on this host: the wall clock, give or take). */
    EXPECT_EQ(ds[0].reset_at_ms % 3600000, 0);
    CHECKF(ds[0].reset_at_ms > before - 5000 && ds[0].reset_at_ms <= after + 3600000 + 5000,
           "reset_at_ms %lld is not the end of the current hour (wall clock %lld)",
           (long long)ds[0].reset_at_ms, (long long)before);
  }
  /* A large batch at the server clock. */
  static char names[N][24];
  static const char *many_keys[N];
  static tk_decision_t many[N];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "big-%d", i % 400);
    many_keys[i] = names[i];
  }
  if (EXPECT_OK(tk_check_many(h, "hour", many_keys, N, 1, many, &err))) {
    long allowed = 0;
    for (int i = 0; i < N; i++) allowed += many[i].allowed;
    EXPECT_EQ(allowed, N); /* each of the 400 keys appears at most 3 times */
    tk_decision_t d;
    if (EXPECT_OK(tk_peek(h, "hour", "big-0", &d, &err))) EXPECT_EQ(d.remaining, 0);
    if (EXPECT_OK(tk_peek(h, "hour", "big-399", &d, &err))) EXPECT_EQ(d.remaining, 1);
  }
  EXPECT_OK(tk_free(h));
}

/* After SCRIPT FLUSH every command of the next batch meets NOSCRIPT: the library loads the
   script and runs the batch again, in order. */
static void test_script_flush(const char *url) {
  char reply[128];
  if (strchr(url, '@') || tk_t_redis(url, reply, sizeof reply, "SCRIPT", "FLUSH", NULL) != 0) {
    tk_t_skip("cannot send SCRIPT FLUSH to %s", url);
    return;
  }
  char ns[128];
  tk_handle_t h = open_ns(url, "many-flush", ns, sizeof ns);
  if (!h) return;
  tk_error_t err;
  const char *keys[8] = {"f", "f", "g", "f", "f", "g", "g", "g"};
  const int want[8] = {1, 1, 1, 1, 0, 1, 1, 0};
  tk_decision_t ds[8];
  const int64_t now = 1700000000000 - 1700000000000 % 3600000 + 3600000 * 2 + 5;
  for (int round = 0; round < 2; round++) {
    EXPECT_STATUS(tk_t_redis(url, reply, sizeof reply, "SCRIPT", "FLUSH", NULL), 0);
    tk_t_poison_err(&err);
    int rc = round ? tk_check_many(h, "hour", keys, 8, 1, ds, &err)
                   : tk_check_many_at(h, "hour", keys, 8, 1, now, ds, &err);
    if (!EXPECT_OK(rc)) {
      fprintf(stderr, "  after SCRIPT FLUSH: %s\n", err.message);
      continue;
    }
    for (int i = 0; i < 8; i++) {
      char ctx[64];
      snprintf(ctx, sizeof ctx, "after SCRIPT FLUSH, round %d, entry %d", round, i);
      EXPECT_EQ_CTX(ctx, ds[i].allowed, want[i]);
    }
    keys[0] = keys[1] = keys[3] = keys[4] = "f2"; /* fresh keys for the server-clock round */
    keys[2] = keys[5] = keys[6] = keys[7] = "g2";
  }
  tk_decision_t d;
  EXPECT_STATUS(tk_t_redis(url, reply, sizeof reply, "SCRIPT", "FLUSH", NULL), 0);
  if (EXPECT_OK(tk_check(h, "gcra", "single-after-flush", 1, &d, &err))) EXPECT_EQ(d.allowed, 1);
  EXPECT_STATUS(tk_t_redis(url, reply, sizeof reply, "SCRIPT", "FLUSH", NULL), 0);
  if (EXPECT_OK(tk_peek(h, "gcra", "single-after-flush", &d, &err))) EXPECT_EQ(d.remaining, 3);
  EXPECT_OK(tk_free(h));
}

int main(void) {
  const char *url = tk_t_redis_url("the check_many tests");
  if (url) {
    test_equivalence(url);
    test_empty_and_invalid(url);
    test_server_clock(url);
    test_script_flush(url);
  }
  return tk_t_finish();
}
