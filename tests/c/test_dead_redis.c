/*
 * test_dead_redis.c - an unreachable or silent Redis, the fail modes and secrets in messages.
 *
 * Dead Redis: a port bound and closed again, so nothing listens. Open succeeds (it does not
 * dial); a check answers TK_E_UNAVAILABLE or TK_E_TIMEOUT within the timeout (timeout_ms 200,
 * asserted under 1 s), or, under TK_FAIL_OPEN / TK_FAIL_CLOSED, a synthesized decision. Peek,
 * debit and forecast never synthesize. A silent server (accepts, never answers) costs
 * TK_E_TIMEOUT after the timeout. A password in the URL appears in no message.
 *
 * Misbehaving servers (a fake Redis answering every command with one reply): transient states
 * (LOADING, READONLY, BUSY, MASTERDOWN) are TK_E_UNAVAILABLE and the fail mode applies;
 * NOAUTH / WRONGPASS / NOPERM are TK_E_AUTH and logic faults (WRONGTYPE, a script error, a
 * reply of the wrong shape) are TK_E_INTERNAL, which no fail mode papers over; a server that
 * resets every connection is unreachable.
 *
 * All of it runs in a child whose stderr this process reads: a password must appear nowhere
 * there either, and the library writes no log lines to the host's stderr.
 */
#include "tk_test_net.h"

#include <sys/wait.h>

#define TIMEOUT_MS 200
#define BOUND_MS 1000 /* the assertion: well inside 1 s for a 200 ms timeout */

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 7 }\n"
    "  fw: { strategy: fixedWindow, limit: 1000, windowMs: 60000 }\n"
    "  tb: { strategy: tokenBucket, capacity: 10, refillPerSec: 2.5 }\n"
    "  sw: { strategy: slidingWindow, limit: 50, windowMs: 10s, buckets: 10 }\n"
    "  swl: { strategy: slidingWindowLog, limit: 6, windowMs: 15m }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 60000 }\n";

static const struct {
  const char *name;
  int64_t limit; /* what a check reports: burst for gcra, capacity for tokenBucket */
} limiters[] = {{"api", 7}, {"fw", 1000}, {"tb", 10}, {"sw", 50}, {"swl", 6}};
#define NLIMITERS (sizeof limiters / sizeof limiters[0])

static tk_handle_t open_url(const char *url, int fail_mode, int timeout_ms) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  o.key_namespace = "tkctest-dead";
  tk_handle_t h = 0;
  tk_error_t err;
  tk_t_poison_err(&err);
  int64_t t0 = tk_t_mono_ms();
  int rc = tk_open_redis(url, policies, &o, &h, &err);
  int64_t ms = tk_t_mono_ms() - t0;
  if (!EXPECT_OK(rc)) {
    fprintf(stderr, "  open %s: %s\n", url, err.message);
    return 0;
  }
  EXPECT_ERR(err, TK_OK);
  CHECKF(ms < 500, "open took %lld ms", (long long)ms); /* cheap: no dial (see below) */
  return h;
}

/* A call that must fail with UNAVAILABLE or TIMEOUT (never synthesized) within BOUND_MS. */
#define UNREACHABLE(call, want_timeout_only)                                                  \
  do {                                                                                       \
    tk_t_poison_err(&err);                                                                   \
    int64_t t0_ = tk_t_mono_ms();                                                            \
    int rc_ = (call);                                                                        \
    int64_t ms_ = tk_t_mono_ms() - t0_;                                                      \
    if (want_timeout_only)                                                                   \
      EXPECT_STATUS_CTX(#call, rc_, TK_E_TIMEOUT);                                           \
    else                                                                                     \
      EXPECT_STATUS2(rc_, TK_E_UNAVAILABLE, TK_E_TIMEOUT);                                   \
    EXPECT_ERR_CTX(#call, err, rc_ == TK_OK ? TK_E_UNAVAILABLE : rc_);                       \
    CHECKF(ms_ < BOUND_MS, "%s took %lld ms (timeout %d ms)", #call, (long long)ms_,       \
           TIMEOUT_MS);                                                                      \
  } while (0)

static void expect_synthesized(const char *ctx, const tk_decision_t *d, int open, int64_t limit) {
  EXPECT_EQ_CTX(ctx, d->allowed, open ? 1 : 0);
  EXPECT_EQ_CTX(ctx, d->flags & TK_DECISION_SYNTHESIZED, TK_DECISION_SYNTHESIZED);
  EXPECT_EQ_CTX(ctx, d->flags & ~TK_DECISION_SYNTHESIZED, 0);
  EXPECT_EQ_CTX(ctx, d->limit, limit);
  EXPECT_EQ_CTX(ctx, d->remaining, open ? limit : 0);
  EXPECT_EQ_CTX(ctx, d->reset_at_ms, 0);
  EXPECT_EQ_CTX(ctx, d->retry_after_ms, 0);
  EXPECT_EQ_CTX(ctx, d->window_ms, 0);
  for (int i = 0; i < 3; i++) EXPECT_EQ_CTX(ctx, d->reserved[i], 0);
}

/* The calls that never synthesize, and the errors no fail mode papers over. */
static void never_synthesized(tk_handle_t h, int timeout_only) {
  tk_decision_t d;
  tk_forecast_t f;
  tk_error_t err;
  const int64_t now = tk_t_wall_ms();
  UNREACHABLE(tk_peek(h, "api", "k", &d, &err), timeout_only);
  UNREACHABLE(tk_peek_at(h, "fw", "k", now, &d, &err), timeout_only);
  UNREACHABLE(tk_peek(h, "llm", "k", &d, &err), timeout_only);
  UNREACHABLE(tk_forecast(h, "api", "k", 1, &f, &err), timeout_only);
  UNREACHABLE(tk_forecast_at(h, "tb", "k", 1, now, &f, &err), timeout_only);
  UNREACHABLE(tk_debit(h, "llm", "k", 5, &d, &err), timeout_only);
  UNREACHABLE(tk_debit_at(h, "llm", "k", 5, now, &d, &err), timeout_only);
  /* Bad input, unknown policies, unsupported operations: their own status, not a decision. */
  tk_t_poison_err(&err);
  EXPECT_STATUS(tk_check(h, "nope", "k", 1, &d, &err), TK_E_NOT_FOUND);
  EXPECT_STATUS(tk_check(h, "llm", "k", 1, &d, &err), TK_E_UNSUPPORTED);
  EXPECT_STATUS(tk_check(h, "api", "k", -1, &d, &err), TK_E_INVALID);
  EXPECT_STATUS(tk_check_at(h, "api", "k", 1, 0, &d, &err), TK_E_INVALID);
}

static void test_fail_error(const char *url) {
  tk_handle_t h = open_url(url, TK_FAIL_ERROR, TIMEOUT_MS);
  if (!h) return;
  tk_decision_t d, ds[3];
  tk_error_t err;
  const char *keys[3] = {"a", "b", "a"};
  for (size_t i = 0; i < NLIMITERS; i++) {
    memset(&d, 0xa5, sizeof d);
    UNREACHABLE(tk_check(h, limiters[i].name, "k", 1, &d, &err), 0);
  }
  UNREACHABLE(tk_check_at(h, "api", "k", 1, tk_t_wall_ms(), &d, &err), 0);
  UNREACHABLE(tk_check_many(h, "fw", keys, 3, 1, ds, &err), 0);
  UNREACHABLE(tk_check_many_at(h, "fw", keys, 3, 1, tk_t_wall_ms(), ds, &err), 0);
  never_synthesized(h, 0);
  EXPECT_OK(tk_free(h));
}

static void test_fail_mode(const char *url, int open, int timeout_only) {
  tk_handle_t h = open_url(url, open ? TK_FAIL_OPEN : TK_FAIL_CLOSED, TIMEOUT_MS);
  if (!h) return;
  tk_error_t err;
  for (size_t i = 0; i < NLIMITERS; i++) {
    char ctx[96];
    tk_decision_t d;
    memset(&d, 0xa5, sizeof d);
    tk_t_poison_err(&err);
    snprintf(ctx, sizeof ctx, "%s check on %s", open ? "fail-open" : "fail-closed",
             limiters[i].name);
    int64_t t0 = tk_t_mono_ms();
    int rc = tk_check(h, limiters[i].name, "k", 1, &d, &err);
    int64_t ms = tk_t_mono_ms() - t0;
    CHECKF(ms < BOUND_MS, "%s took %lld ms", ctx, (long long)ms);
    if (EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
      EXPECT_ERR_CTX(ctx, err, TK_OK);
      expect_synthesized(ctx, &d, open, limiters[i].limit);
    }
    memset(&d, 0xa5, sizeof d);
    snprintf(ctx, sizeof ctx, "%s check_at on %s", open ? "fail-open" : "fail-closed",
             limiters[i].name);
    rc = tk_check_at(h, limiters[i].name, "k", 3, tk_t_wall_ms(), &d, &err);
    if (EXPECT_STATUS_CTX(ctx, rc, TK_OK)) expect_synthesized(ctx, &d, open, limiters[i].limit);
  }
  /* tk_check_many fills every entry. */
  const char *keys[5] = {"k1", "k2", "k1", "k3", "k1"};
  tk_decision_t ds[5];
  for (int at = 0; at < 2; at++) {
    memset(ds, 0xa5, sizeof ds);
    tk_t_poison_err(&err);
    int64_t t0 = tk_t_mono_ms();
    int rc = at ? tk_check_many_at(h, "tb", keys, 5, 2, tk_t_wall_ms(), ds, &err)
                : tk_check_many(h, "tb", keys, 5, 2, ds, &err);
    int64_t ms = tk_t_mono_ms() - t0;
    CHECKF(ms < BOUND_MS, "check_many took %lld ms", (long long)ms);
    if (EXPECT_OK(rc)) {
      EXPECT_ERR(err, TK_OK);
      for (int i = 0; i < 5; i++) {
        char ctx[96];
        snprintf(ctx, sizeof ctx, "%s check_many%s entry %d", open ? "fail-open" : "fail-closed",
                 at ? "_at" : "", i);
        expect_synthesized(ctx, &ds[i], open, 10);
      }
    }
  }
  never_synthesized(h, timeout_only);
  EXPECT_OK(tk_free(h));
}

static void test_silent(const tk_t_silent_t *s) {
  char url[128];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", s->port);
  tk_handle_t h = open_url(url, TK_FAIL_ERROR, TIMEOUT_MS);
  if (!h) return;
  tk_decision_t d, ds[2];
  tk_error_t err;
  const char *keys[2] = {"a", "b"};
  for (int i = 0; i < 3; i++) {
    int64_t t0 = tk_t_mono_ms();
    UNREACHABLE(tk_check(h, "api", "k", 1, &d, &err), 1);
    int64_t ms = tk_t_mono_ms() - t0;
    /* It really waited for the timeout (the server accepted; nothing else could end it). */
    CHECKF(ms >= TIMEOUT_MS - 20, "a silent server's call returned after %lld ms", (long long)ms);
  }
  UNREACHABLE(tk_check_many(h, "api", keys, 2, 1, ds, &err), 1);
  UNREACHABLE(tk_check_many_at(h, "api", keys, 2, 1, tk_t_wall_ms(), ds, &err), 1);
  never_synthesized(h, 1);
  EXPECT_OK(tk_free(h));
  /* The default timeout (0 = 500 ms) bounds a call as well. */
  tk_handle_t hd = open_url(url, TK_FAIL_ERROR, 0);
  if (hd) {
    int64_t t0 = tk_t_mono_ms();
    EXPECT_STATUS(tk_check(hd, "api", "k", 1, &d, &err), TK_E_TIMEOUT);
    int64_t ms = tk_t_mono_ms() - t0;
    CHECKF(ms >= 450 && ms < 1500, "default timeout: %lld ms", (long long)ms);
    EXPECT_OK(tk_free(hd));
  }
}

/* ---- Secrets ---------------------------------------------------------------------------------- */

#define SECRET "hunter2secret"

static void no_secret(const char *ctx, const tk_error_t *err) {
  CHECKF(strstr(err->message, SECRET) == NULL && strstr(err->message, "hunter2%") == NULL &&
             strstr(err->message, "hunter2@") == NULL,
         "%s: the message shows the password: \"%s\"", ctx, err->message);
}

static void secret_calls(const char *url, int want_open, int fail_mode) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = TIMEOUT_MS;
  o.fail_mode = fail_mode;
  tk_handle_t h = 0;
  tk_error_t err;
  tk_t_poison_err(&err);
  int rc = tk_open_redis(url, policies, &o, &h, &err);
  char ctx[256];
  snprintf(ctx, sizeof ctx, "open(%s)", url);
  EXPECT_STATUS_CTX(ctx, rc, want_open);
  EXPECT_ERR_CTX(ctx, err, want_open);
  no_secret(ctx, &err);
  if (rc != TK_OK) return;
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const char *keys[2] = {"a", "b"};
  snprintf(ctx, sizeof ctx, "calls on %s", url);
  tk_t_poison_err(&err);
  rc = tk_check(h, "api", "k", 1, &d, &err);
  CHECKF(rc != TK_OK || fail_mode != TK_FAIL_ERROR, "%s: a check passed", ctx);
  no_secret(ctx, &err);
  tk_t_poison_err(&err);
  tk_check_many(h, "api", keys, 2, 1, ds, &err);
  no_secret(ctx, &err);
  tk_t_poison_err(&err);
  EXPECT_STATUS(tk_peek(h, "api", "k", &d, &err) == TK_OK, 0);
  no_secret(ctx, &err);
  tk_t_poison_err(&err);
  EXPECT_STATUS(tk_forecast(h, "api", "k", 1, &f, &err) == TK_OK, 0);
  no_secret(ctx, &err);
  tk_t_poison_err(&err);
  EXPECT_STATUS(tk_debit(h, "llm", "k", 1, &d, &err) == TK_OK, 0);
  no_secret(ctx, &err);
  EXPECT_OK(tk_free(h));
}

/* The real Redis refusing the credentials: TK_E_AUTH, and still no password. */
static void test_wrong_credentials(const char *real_url) {
  if (strncmp(real_url, "redis://", 8) != 0 || strchr(real_url, '@')) {
    tk_t_skip("the TK_E_AUTH case needs a plain redis:// URL without credentials");
    return;
  }
  char url[512];
  snprintf(url, sizeof url, "redis://tkctest-nosuchuser:" SECRET "@%s", real_url + 8);
  /* In both fail modes: refused credentials are not unavailability, never papered over. */
  for (int mode = TK_FAIL_ERROR; mode <= TK_FAIL_OPEN; mode++) {
    tk_options_t o;
    tk_options_init(&o);
    o.timeout_ms = 2000;
    o.fail_mode = mode;
    tk_handle_t h = 0;
    tk_error_t err;
    if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) return;
    tk_decision_t d, ds[2];
    const char *keys[2] = {"a", "b"};
    tk_t_poison_err(&err);
    int rc = tk_check(h, "api", "k", 1, &d, &err);
    EXPECT_STATUS(rc, TK_E_AUTH);
    EXPECT_ERR(err, TK_E_AUTH);
    no_secret("wrong credentials on the real Redis", &err);
    EXPECT_STATUS(tk_check_many(h, "api", keys, 2, 1, ds, &err), TK_E_AUTH);
    no_secret("wrong credentials on the real Redis, check_many", &err);
    EXPECT_OK(tk_free(h));
  }
}

/* ---- Misbehaving servers ---------------------------------------------------------------------- */

typedef struct {
  const char *what, *reply; /* reply NULL: reset every connection */
  int want;                 /* the status of a check in TK_FAIL_ERROR */
  int synthesized;          /* whether TK_FAIL_OPEN makes a decision of it */
  int time_too;             /* whether tk_check_many at the server clock (TIME) gets want too */
} misbehaving_t;

static const misbehaving_t misbehaving[] = {
    {"LOADING", "-LOADING Redis is loading the dataset in memory\r\n", TK_E_UNAVAILABLE, 1, 1},
    {"READONLY", "-READONLY You can't write against a read only replica.\r\n", TK_E_UNAVAILABLE, 1, 1},
    {"BUSY", "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
             "NOSAVE.\r\n", TK_E_UNAVAILABLE, 1, 1},
    {"MASTERDOWN", "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to "
                   "'no'.\r\n", TK_E_UNAVAILABLE, 1, 1},
    {"NOAUTH", "-NOAUTH Authentication required.\r\n", TK_E_AUTH, 0, 1},
    {"WRONGPASS", "-WRONGPASS invalid username-password pair or user is disabled.\r\n", TK_E_AUTH, 0, 1},
    {"NOPERM", "-NOPERM User default has no permissions to run the 'evalsha' command\r\n", TK_E_AUTH, 0, 1},
    {"WRONGTYPE", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", TK_E_INTERNAL, 0, 1},
    {"script error", "-ERR Error running script (call to f_0123): @user_script:1: boom\r\n", TK_E_INTERNAL, 0, 1},
    {"nil reply", "$-1\r\n", TK_E_INTERNAL, 0, 1},
    {"short array", "*2\r\n:1\r\n:2\r\n", TK_E_INTERNAL, 0, 0},
    {"strings, not integers", "*5\r\n$1\r\n1\r\n$1\r\n5\r\n$1\r\n4\r\n$1\r\n0\r\n$1\r\n0\r\n", TK_E_INTERNAL, 0, 0},
    {"nested array", "*5\r\n:1\r\n:5\r\n:4\r\n:0\r\n*1\r\n:0\r\n", TK_E_INTERNAL, 0, 0},
    {"reset", NULL, TK_E_UNAVAILABLE, 1, 1},
};
#define NMISBEHAVING (sizeof misbehaving / sizeof misbehaving[0])

static void task_misbehaving(const void *arg) {
  const misbehaving_t *m = arg;
  tk_t_fake_t fake;
  if (!CHECKF(tk_t_fake_start(&fake, m->reply) == 0, "%s: cannot start the fake server", m->what))
    return;
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", fake.port);
  const char *keys[3] = {"a", "b", "a"};
  for (int open = 0; open < 2; open++) {
    tk_handle_t h = open_url(url, open ? TK_FAIL_OPEN : TK_FAIL_ERROR, 400);
    if (!h) continue;
    const int synth = open && m->synthesized;
    struct {
      const char *call;
      int rc, decides; /* decides: a check, which the fail mode may answer */
      tk_decision_t d;
      tk_error_t err;
    } r[7];
    memset(r, 0, sizeof r);
    tk_decision_t ds[3];
    tk_forecast_t f;
    const int64_t now = tk_t_wall_ms();
    int64_t t0 = tk_t_mono_ms();
    r[0].call = "tk_check";
    r[0].decides = 1;
    r[0].rc = tk_check(h, "api", "k", 1, &r[0].d, &r[0].err);
    r[1].call = "tk_check_at";
    r[1].decides = 1;
    r[1].rc = tk_check_at(h, "api", "k", 1, now, &r[1].d, &r[1].err);
    r[2].call = "tk_check_many_at";
    r[2].decides = 1;
    r[2].rc = tk_check_many_at(h, "api", keys, 3, 1, now, ds, &r[2].err);
    r[2].d = ds[2];
    r[3].call = "tk_peek";
    r[3].rc = tk_peek(h, "api", "k", &r[3].d, &r[3].err);
    r[4].call = "tk_forecast";
    r[4].rc = tk_forecast(h, "api", "k", 1, &f, &r[4].err);
    r[5].call = "tk_debit";
    r[5].rc = tk_debit(h, "llm", "k", 1, &r[5].d, &r[5].err);
    int n = 6;
    if (m->time_too) {
      r[6].call = "tk_check_many (server clock)";
      r[6].decides = 1;
      r[6].rc = tk_check_many(h, "api", keys, 3, 1, ds, &r[6].err);
      r[6].d = ds[0];
      n = 7;
    }
    int64_t ms = tk_t_mono_ms() - t0;
    for (int i = 0; i < n; i++) {
      char ctx[160];
      snprintf(ctx, sizeof ctx, "%s server, %s, %s", m->what, open ? "fail-open" : "fail-error",
               r[i].call);
      if (r[i].decides && synth) {
        if (EXPECT_STATUS_CTX(ctx, r[i].rc, TK_OK)) expect_synthesized(ctx, &r[i].d, 1, 7);
      } else if (!m->reply) { /* reset: unreachable */
        CHECKF(r[i].rc == TK_E_UNAVAILABLE,
               "%s: a server that resets every connection answered %s, want "
               "TK_E_UNAVAILABLE (c-abi.md status table: reset)",
               ctx, tk_t_status_name(r[i].rc));
        EXPECT_ERR_CTX(ctx, r[i].err, r[i].rc);
      } else {
        EXPECT_STATUS_CTX(ctx, r[i].rc, m->want);
        EXPECT_ERR_CTX(ctx, r[i].err, m->want);
      }
    }
    CHECKF(ms < 7 * BOUND_MS, "%s server: 7 calls took %lld ms", m->what, (long long)ms);
    EXPECT_OK(tk_free(h));
  }
  if (m->reply) CHECKF(atomic_load(&fake.commands) > 0, "%s: the fake server got no command", m->what);
  tk_t_fake_stop(&fake);
}

/* ---- Running the sections side by side ------------------------------------------------------
 * Every call here waits for a timeout, so the independent sections run in parallel threads
 * (which the ABI allows: any function, any thread, concurrently).
 */

typedef struct {
  void (*fn)(const void *);
  const void *arg;
} task_t;

static void *run_task(void *p) {
  const task_t *t = p;
  t->fn(t->arg);
  return NULL;
}

static char dead_url[128], silent_url[128];
static int dead_port_no;
static tk_t_silent_t silent;

static void task_fail_error(const void *a) { (void)a; test_fail_error(dead_url); }
static void task_fail_open(const void *a) { (void)a; test_fail_mode(dead_url, 1, 0); }
static void task_fail_closed(const void *a) { (void)a; test_fail_mode(dead_url, 0, 0); }
static void task_silent(const void *a) { (void)a; test_silent(&silent); }
static void task_silent_open(const void *a) { (void)a; test_fail_mode(silent_url, 1, 1); }
static void task_silent_closed(const void *a) { (void)a; test_fail_mode(silent_url, 0, 1); }
static void task_secret(const void *a) {
  const char *const *c = a; /* {url, expected open status as text} */
  secret_calls(c[0], strcmp(c[1], "ok") == 0 ? TK_OK : TK_E_INVALID, TK_FAIL_ERROR);
}
static void task_secret_open(const void *a) { secret_calls(a, TK_OK, TK_FAIL_OPEN); }
static void task_auth(const void *a) { test_wrong_credentials(a); }

/* c-abi.md: a refused connection is "backend unreachable": TK_E_UNAVAILABLE. */
/* Open does not dial: a server sees no connection until the first call. */
static void task_open_does_not_dial(const void *a) {
  (void)a;
  tk_t_silent_t s;
  if (!CHECK(tk_t_silent_start(&s) == 0)) return;
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", s.port);
  tk_handle_t h = open_url(url, TK_FAIL_ERROR, TIMEOUT_MS);
  if (h) {
    tk_t_sleep_ms(100);
    pthread_mutex_lock(&s.lock);
    int conns = s.nconns;
    pthread_mutex_unlock(&s.lock);
    EXPECT_EQ(conns, 0);
    tk_decision_t d;
    tk_error_t err;
    EXPECT_STATUS(tk_check(h, "api", "k", 1, &d, &err), TK_E_TIMEOUT);
    pthread_mutex_lock(&s.lock);
    conns = s.nconns;
    pthread_mutex_unlock(&s.lock);
    EXPECT_GE(conns, 1);
    EXPECT_OK(tk_free(h));
  }
  tk_t_silent_stop(&s);
}

static void task_refused_status(const void *a) {
  (void)a;
  const int timeouts[] = {TIMEOUT_MS, 0 /* the default, 500 ms */, 3000};
  for (int i = 0; i < 3; i++) {
    tk_handle_t h = open_url(dead_url, TK_FAIL_ERROR, timeouts[i]);
    if (!h) continue;
    tk_decision_t d;
    tk_error_t err;
    int64_t t0 = tk_t_mono_ms();
    int rc = tk_check(h, "api", "k", 1, &d, &err);
    int64_t ms = tk_t_mono_ms() - t0;
    CHECKF(ms < (timeouts[i] ? timeouts[i] : 500) + 300, "timeout_ms %d: %lld ms", timeouts[i],
           (long long)ms);
    CHECKF(rc == TK_E_UNAVAILABLE,
           "timeout_ms %d: a refused connection (nothing listens on the port) answered %s "
           "after %lld ms, want TK_E_UNAVAILABLE (c-abi.md status table: refused)",
           timeouts[i], tk_t_status_name(rc), (long long)ms);
    EXPECT_OK(tk_free(h));
  }
}

static void run_sections(void) {
  dead_port_no = tk_t_dead_port();
  if (!CHECK(dead_port_no > 0)) return;
  snprintf(dead_url, sizeof dead_url, "redis://127.0.0.1:%d/0", dead_port_no);
  if (!CHECK(tk_t_silent_start(&silent) == 0)) return;
  snprintf(silent_url, sizeof silent_url, "redis://127.0.0.1:%d/0", silent.port);
  printf("dead Redis at %s, silent server at %s\n", dead_url, silent_url);

  char u[8][256];
  snprintf(u[0], sizeof u[0], "redis://user:" SECRET "@127.0.0.1:%d/0", dead_port_no);
  snprintf(u[1], sizeof u[1], "redis://:" SECRET "@127.0.0.1:%d/0", dead_port_no);
  snprintf(u[2], sizeof u[2], "redis://user:hunter2%%40secret@127.0.0.1:%d/0", dead_port_no);
  snprintf(u[3], sizeof u[3], "redis://user:" SECRET "@127.0.0.1:%d/0", silent.port);
  const char *secrets[][2] = {
      {u[0], "ok"}, {u[1], "ok"}, {u[2], "ok"}, {u[3], "ok"},
      /* malformed URLs holding a password */
      {"redis://user:" SECRET "@host:bad", "invalid"},
      {"redis://user:" SECRET "@127.0.0.1:6379/notadb", "invalid"},
      {"redis://user:" SECRET "@", "invalid"},
      {"http://user:" SECRET "@127.0.0.1:6379", "invalid"},
      {"redis://user:hunter2%zzsecret@127.0.0.1:6379", "invalid"},
      {"redis+cluster://user:" SECRET "@127.0.0.1:bad,127.0.0.1:7001", "invalid"},
  };
  enum { NSECRETS = sizeof secrets / sizeof secrets[0] };
  task_t tasks[16 + NSECRETS + NMISBEHAVING];
  int n = 0;
  tasks[n++] = (task_t){task_fail_error, NULL};
  tasks[n++] = (task_t){task_fail_open, NULL};
  tasks[n++] = (task_t){task_fail_closed, NULL};
  tasks[n++] = (task_t){task_silent, NULL};
  tasks[n++] = (task_t){task_silent_open, NULL};
  tasks[n++] = (task_t){task_silent_closed, NULL};
  tasks[n++] = (task_t){task_refused_status, NULL};
  tasks[n++] = (task_t){task_open_does_not_dial, NULL};
  tasks[n++] = (task_t){task_secret_open, u[0]};
  for (int i = 0; i < NSECRETS; i++) tasks[n++] = (task_t){task_secret, secrets[i]};
  for (size_t i = 0; i < NMISBEHAVING; i++) tasks[n++] = (task_t){task_misbehaving, &misbehaving[i]};
  const char *real = getenv("THROTTLEKIT_REDIS_URL");
  if (real && *real) tasks[n++] = (task_t){task_auth, real};

  int64_t t0 = tk_t_mono_ms();
  pthread_t th[sizeof tasks / sizeof tasks[0]];
  for (int i = 0; i < n; i++) CHECK(pthread_create(&th[i], NULL, run_task, &tasks[i]) == 0);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  int64_t elapsed = tk_t_mono_ms() - t0;
  tk_t_silent_stop(&silent);

  if (!real || !*real)
    tk_t_skip("THROTTLEKIT_REDIS_URL is unset: the TK_E_AUTH case against a real Redis");
  printf("%d sections in parallel: %lld ms\n", n, (long long)elapsed);
}

/* The sections run in a child whose stderr is a pipe to this process, which passes it on and
   checks every line for the password ("logs never contain a password"). This process never
   calls tk_open_*, so its child may (c-abi.md, Fork). If the child dies (e.g. an ASan report),
   everything it wrote has still come through. */
int main(void) {
  int errp[2], countp[2];
  if (!CHECK(pipe(errp) == 0 && pipe(countp) == 0)) return tk_t_finish();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (!CHECK(pid >= 0)) return tk_t_finish();
  if (pid == 0) {
    close(errp[0]);
    close(countp[0]);
    dup2(errp[1], STDERR_FILENO);
    close(errp[1]);
    run_sections();
    fflush(stdout);
    fflush(stderr);
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%ld %ld %ld\n", atomic_load(&tk_t_passed),
                     atomic_load(&tk_t_failed), atomic_load(&tk_t_skipped));
    _exit(write(countp[1], buf, (size_t)n) == n ? 0 : 3);
  }
  close(errp[1]);
  close(countp[1]);
  FILE *in = fdopen(errp[0], "r");
  char line[4096];
  long library_lines = 0;
  while (fgets(line, sizeof line, in)) {
    /* go-redis's own log lines ("redis: 2026/01/02 15:04:05 pool.go:...") are counted and
       the first few shown; everything else (our reports, sanitizers) is passed on whole. */
    if (strncmp(line, "redis: ", 7) == 0 && strstr(line, ".go:")) {
      if (library_lines++ < 3) fprintf(stderr, "  library stderr: %s", line);
    } else {
      fputs(line, stderr);
    }
    CHECKF(strstr(line, SECRET) == NULL && strstr(line, "hunter2%") == NULL &&
               strstr(line, "hunter2@") == NULL,
           "stderr shows the password: %s", line);
  }
  fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  char buf[96] = {0};
  ssize_t n = read(countp[0], buf, sizeof buf - 1);
  close(countp[0]);
  long cp, cf, cs;
  if (CHECKF(n > 0 && sscanf(buf, "%ld %ld %ld", &cp, &cf, &cs) == 3,
             "the test child reported no counts (status 0x%x)", status))
    tk_t_add_counts(cp, cf, cs);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the test child ended with status 0x%x",
         status);
  /* The host owns its stderr (export.go silences go-redis's logger): every failure reaches
     the caller as a status and a message, never as log lines. */
  CHECKF(library_lines == 0, "the library wrote %ld log lines to the host's stderr (first ones "
         "above)", library_lines);
  return tk_t_finish();
}
