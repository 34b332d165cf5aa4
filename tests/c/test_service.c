/*
 * test_service.c - the service door: tk_open_service against a real throttlekit-server.
 *
 * The test writes a policy file into a temporary directory, starts the server binary itself
 * (fork + exec, `--host 127.0.0.1 --port 0 --ready-file F`, its stderr into a file there),
 * reads the address from the ready file F once the server has written it, and drives it only
 * through the C ABI, once per store: the embedded store (the default) and Redis (`--redis
 * $THROTTLEKIT_REDIS_URL --redis-prefix <unique namespace>`). On each:
 *   - a cold gcra burst admits exactly `burst` (5), then denies with retry_after_ms and
 *     reset_at_ms > 0; keys are independent; peek consumes nothing; forecast; slidingWindowLog;
 *   - tk_check_many: input order, duplicates applied in order, one instant for the whole
 *     batch, n = 0 is TK_OK, all or nothing;
 *   - tk_check_all: all consumed, or none when one item denies; errors name the item;
 *   - a token-budget meter: debit, peek (which spends nothing);
 *   - statuses: debit on a limiter and check/check_many/forecast on a meter are
 *     TK_E_UNSUPPORTED, an unknown policy TK_E_NOT_FOUND (with a message), a cost of 2^53
 *     TK_E_INVALID (2^53 - 1 is a denial), every `_at` twin TK_E_UNSUPPORTED, a non-UTF-8 key
 *     TK_E_INVALID (refused before sending);
 *   - the Redis store writes under its --redis-prefix;
 *   - SIGTERM stops the server with exit status 0.
 * With the server stopped, the library's fail modes through the service door: TK_FAIL_OPEN
 * and TK_FAIL_CLOSED synthesize a decision (TK_DECISION_SYNTHESIZED, limit 0: the policies are
 * the server's) for checks only, TK_FAIL_ERROR answers TK_E_UNAVAILABLE / TK_E_TIMEOUT within
 * the timeout; a silent server (accepts, never answers) costs at most the timeout.
 *
 * The server binary: $THROTTLEKIT_SERVER, else <repo>/build/bin/throttlekit-server (the repo
 * found from this executable's location). Missing: the test skips, or fails when CI=true.
 * THROTTLEKIT_REDIS_URL unset: the Redis half skips, or fails when CI=true.
 *
 * The server never outlives the test: an atexit handler kills it (and removes the temporary
 * files) on every exit path, and the child asks the kernel for SIGKILL when the test process
 * dies without running atexit handlers (a crash, an ASan report, a timeout's kill).
 */
#include "tk_test_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#define POW2_53 ((int64_t)1 << 53)
#define MAX_SAFE (POW2_53 - 1)

#define CALL_TIMEOUT_MS 2000  /* the live server's handles: generous for ASan on a busy box */
#define DOWN_TIMEOUT_MS 300   /* handles on a stopped or silent server */
#define DOWN_BOUND_MS 1500    /* ... must answer within this (the timeout plus slack) */
#define START_BOUND_MS 30000  /* the server's ready file must appear within this */
#define STOP_BOUND_MS 20000   /* SIGTERM to exit (the server's own grace is 10 s) */
#define BURST_WINDOW_MS 150   /* a burst timed within this is exact (gcra T is 200 ms) */
#define WINDOW_MS 3600000     /* fw and llm windows: 1 h, epoch-aligned */

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
    "  fw: { strategy: fixedWindow, limit: 3, windowMs: 1h }\n"
    "  swl: { strategy: slidingWindowLog, limit: 4, windowMs: 15m }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 1h }\n"
    "  cc: { concurrency: { minLimit: 2, maxLimit: 2 } }\n";

/* ---- The server process ------------------------------------------------------------------ */

static tk_t_server_t server;        /* its directory holds the policy file, token, logs */
static const char *store = "?";     /* the store of the half running, for messages */

/* atexit: no server outlives the test, no temporary file stays behind. */
static void cleanup(void) { tk_t_server_cleanup(&server); }

/* After a failure: the server goes at once, so that the next half can start its own. */
static void kill_server(void) { tk_t_server_kill(&server); }

static void dump_log(void) { tk_t_server_dump_log(&server); }

/* Starts the server with the policy file, on 127.0.0.1 and a free port, plus extra (NULL-
   terminated); its output goes to log_name in the scratch directory. Stores "127.0.0.1:N" in
   addr and returns 1, or records a failure (with the log) and returns 0. */
static int start_server(const char *binary, const char *const *extra, const char *log_name,
                        char *addr, size_t addr_size) {
  if (!tk_t_server_spawn(&server, binary, extra, log_name, addr, addr_size)) {
    fprintf(stderr, "  [%s] the server did not start\n", store);
    return 0;
  }
  const char *port = addr + strlen("127.0.0.1:");
  if (!CHECKF(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(port) > 0 && atoi(port) < 65536,
              "[%s] listening on \"%s\", want 127.0.0.1:<port>", store, addr)) {
    dump_log();
    kill_server();
    return 0;
  }
  printf("%s store: throttlekit-server (pid %ld) listening on %s\n", store, (long)server.pid, addr);
  return 1;
}

/* SIGTERM, then the exit status must be 0 within STOP_BOUND_MS. */
static void stop_server(void) {
  if (server.pid <= 0) return;
  pid_t pid = server.pid;
  CHECK(kill(pid, SIGTERM) == 0);
  int64_t t0 = tk_t_mono_ms();
  int status = 0;
  pid_t got = 0;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && tk_t_mono_ms() - t0 < STOP_BOUND_MS)
    tk_t_sleep_ms(10);
  if (!CHECKF(got == pid, "[%s] the server did not exit within %d ms of SIGTERM", store,
              STOP_BOUND_MS)) {
    dump_log();
    kill_server();
    return;
  }
  server.pid = 0;
  int ok = CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "[%s] after SIGTERM: %s %d, want exit status 0", store,
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  if (!ok) dump_log();
}

/* ---- Assertion helpers ------------------------------------------------------------------- */

static tk_error_t err;

/* Runs call; expects status want from it and in err (a message unless TK_OK). */
#define ST(want, call)                                                                       \
  do {                                                                                       \
    char ctx_[160];                                                                          \
    snprintf(ctx_, sizeof ctx_, "%s: %s", store, #call);                                     \
    tk_t_poison_err(&err);                                                                   \
    int rc_ = (call);                                                                        \
    if (!EXPECT_STATUS_CTX(ctx_, rc_, want)) fprintf(stderr, "  message: %s\n", err.message); \
    EXPECT_ERR_CTX(ctx_, err, want);                                                         \
  } while (0)

/* A decision the limiter made (not synthesized): allowed, limit and remaining as given,
   retry_after_ms 0 when allowed and > 0 when denied, no flag, reserved zero. */
#define EXPECT_DECISION(d, allowed, limit, remaining)                                        \
  expect_decision(__LINE__, #d, &(d), (allowed), (limit), (remaining))
static void expect_decision(int line, const char *what, const tk_decision_t *d, int allowed,
                            int64_t limit, int64_t remaining) {
  char ctx[160];
  snprintf(ctx, sizeof ctx, "%s: %s, line %d", store, what, line);
  EXPECT_EQ_CTX(ctx, d->allowed, allowed);
  EXPECT_EQ_CTX(ctx, d->limit, limit);
  EXPECT_EQ_CTX(ctx, d->remaining, remaining);
  EXPECT_EQ_CTX(ctx, d->flags, 0);
  if (allowed)
    EXPECT_EQ_CTX(ctx, d->retry_after_ms, 0);
  else
    CHECKF(d->retry_after_ms > 0, "[%s] retry_after_ms %lld, want > 0", ctx,
           (long long)d->retry_after_ms);
  CHECKF(d->reset_at_ms > 0, "[%s] reset_at_ms %lld, want > 0", ctx, (long long)d->reset_at_ms);
  CHECKF(d->window_ms > 0, "[%s] window_ms %lld, want the policy's (> 0)", ctx, (long long)d->window_ms);
  for (int i = 0; i < 3; i++) EXPECT_EQ_CTX(ctx, d->reserved[i], 0);
}

/* A decision the library's fail mode made with the server down. */
static void expect_synthesized(const char *ctx, const tk_decision_t *d, int allowed) {
  EXPECT_EQ_CTX(ctx, d->allowed, allowed);
  EXPECT_EQ_CTX(ctx, d->flags, TK_DECISION_SYNTHESIZED);
  EXPECT_EQ_CTX(ctx, d->limit, 0); /* the policies are the server's */
  EXPECT_EQ_CTX(ctx, d->remaining, 0);
  EXPECT_EQ_CTX(ctx, d->reset_at_ms, 0);
  EXPECT_EQ_CTX(ctx, d->retry_after_ms, 0);
  EXPECT_EQ_CTX(ctx, d->window_ms, 0);
  for (int i = 0; i < 3; i++) EXPECT_EQ_CTX(ctx, d->reserved[i], 0);
}

/* An epoch-ms value the server's clock produced, within [lo, hi] of ours (same machine). */
#define EXPECT_WITHIN(v, lo, hi)                                                             \
  CHECKF((v) >= (lo) && (v) <= (hi), "[%s] %s = %lld, want within [%lld, %lld]", store, #v,  \
         (long long)(v), (long long)(lo), (long long)(hi))

/* The fixedWindow and tokenBudget windows are epoch-aligned hours: a suite must not straddle
   a boundary, so wait for the next window when one is near. */
static void avoid_window_edge(void) {
  int64_t left = WINDOW_MS - tk_t_wall_ms() % WINDOW_MS;
  if (left < 20000) {
    printf("%s store: %lld ms to the next hour; waiting for it\n", store, (long long)left);
    tk_t_sleep_ms(left + 100);
  }
}

static tk_handle_t open_service(const char *addr, int fail_mode, int timeout_ms) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  tk_handle_t h = 0;
  tk_t_poison_err(&err);
  int64_t t0 = tk_t_mono_ms();
  int rc = tk_open_service(addr, &o, &h, &err);
  int64_t ms = tk_t_mono_ms() - t0;
  if (!EXPECT_OK(rc)) {
    fprintf(stderr, "  tk_open_service(%s): %s\n", addr, err.message);
    return 0;
  }
  EXPECT_ERR(err, TK_OK);
  CHECK(h != 0);
  CHECKF(ms < 1000, "tk_open_service took %lld ms (it must not dial)", (long long)ms);
  return h;
}

/* ---- The suite, on a live server --------------------------------------------------------- */

/* A cold gcra burst of 5 (T = 200 ms): exactly 5 admitted, then a denial. Exact only when the
   six checks fit in one emission interval, so a run slower than BURST_WINDOW_MS (a loaded
   machine) is repeated on a fresh key; five slow runs in a row are a failure. */
static void test_burst(tk_handle_t h) {
  for (int attempt = 0; attempt < 5; attempt++) {
    char key[32];
    snprintf(key, sizeof key, "burst-%d", attempt);
    tk_decision_t d[6];
    int rc[6];
    int64_t w0 = tk_t_wall_ms(), t0 = tk_t_mono_ms();
    for (int i = 0; i < 6; i++) {
      memset(&d[i], 0xa5, sizeof d[i]);
      rc[i] = tk_check(h, "api", key, 1, &d[i], &err);
    }
    int64_t ms = tk_t_mono_ms() - t0, w1 = tk_t_wall_ms();
    if (ms >= BURST_WINDOW_MS && attempt < 4) {
      printf("%s store: a burst took %lld ms (> %d): again on a fresh key\n", store,
             (long long)ms, BURST_WINDOW_MS);
      continue;
    }
    if (!CHECKF(ms < BURST_WINDOW_MS, "[%s] five bursts in a row took >= %d ms (last %lld ms)",
                store, BURST_WINDOW_MS, (long long)ms))
      return;
    for (int i = 0; i < 5; i++) {
      char ctx[64];
      snprintf(ctx, sizeof ctx, "%s: burst check %d", store, i + 1);
      EXPECT_STATUS_CTX(ctx, rc[i], TK_OK);
      EXPECT_DECISION(d[i], 1, 5, 4 - i);
      /* Each admission moves the theoretical arrival time by T = 200 ms. */
      EXPECT_WITHIN(d[i].reset_at_ms, w0 + 200 * (i + 1), w1 + 200 * (i + 1));
      if (i > 0) EXPECT_EQ_CTX(ctx, d[i].reset_at_ms - d[i - 1].reset_at_ms, 200);
    }
    EXPECT_STATUS_CTX("burst check 6", rc[5], TK_OK);
    EXPECT_DECISION(d[5], 0, 5, 0);
    CHECKF(d[5].retry_after_ms > 0 && d[5].retry_after_ms <= 200,
           "[%s] retry_after_ms %lld, want 1..200", store, (long long)d[5].retry_after_ms);
    EXPECT_EQ(d[5].reset_at_ms, d[4].reset_at_ms);
    /* Another key is untouched by this one's burst (a cold key: 4 left after one). */
    tk_decision_t o;
    snprintf(key, sizeof key, "burst-other-%d", attempt);
    ST(TK_OK, tk_check(h, "api", key, 1, &o, &err));
    EXPECT_DECISION(o, 1, 5, 4);
    return;
  }
}

/* Fixed windows have no timing: keys are independent and denials stay denials. */
static void test_independent_keys(tk_handle_t h) {
  tk_decision_t d;
  for (int i = 0; i < 3; i++) {
    ST(TK_OK, tk_check(h, "fw", "ind-a", 1, &d, &err));
    EXPECT_DECISION(d, 1, 3, 2 - i);
  }
  ST(TK_OK, tk_check(h, "fw", "ind-a", 1, &d, &err));
  EXPECT_DECISION(d, 0, 3, 0);
  int64_t reset = d.reset_at_ms;
  ST(TK_OK, tk_check(h, "fw", "ind-b", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  EXPECT_EQ(d.reset_at_ms, reset); /* the same window */
  EXPECT_EQ(reset % WINDOW_MS, 0);
  ST(TK_OK, tk_check(h, "fw", "ind-a", 1, &d, &err));
  EXPECT_DECISION(d, 0, 3, 0);
  /* A key differing only in case, or by a trailing byte, is another key. */
  ST(TK_OK, tk_check(h, "fw", "IND-a", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  ST(TK_OK, tk_check(h, "fw", "ind-a ", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
}

static void test_peek(tk_handle_t h) {
  tk_decision_t d;
  /* gcra, cold key: peeks leave it cold (5 left), the first check leaves 4. */
  int64_t w0 = tk_t_wall_ms();
  for (int i = 0; i < 3; i++) {
    ST(TK_OK, tk_peek(h, "api", "peek-g", &d, &err));
    EXPECT_DECISION(d, 1, 5, 5);
    EXPECT_WITHIN(d.reset_at_ms, w0, tk_t_wall_ms());
  }
  ST(TK_OK, tk_check(h, "api", "peek-g", 1, &d, &err));
  EXPECT_DECISION(d, 1, 5, 4);

  /* fixedWindow: peeks report, checks spend. */
  for (int i = 0; i < 3; i++) {
    ST(TK_OK, tk_peek(h, "fw", "peek-f", &d, &err));
    EXPECT_DECISION(d, 1, 3, 3);
  }
  ST(TK_OK, tk_check(h, "fw", "peek-f", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  int64_t reset = d.reset_at_ms;
  for (int i = 0; i < 2; i++) {
    ST(TK_OK, tk_peek(h, "fw", "peek-f", &d, &err));
    EXPECT_DECISION(d, 1, 3, 2);
    EXPECT_EQ(d.reset_at_ms, reset);
  }
  ST(TK_OK, tk_check(h, "fw", "peek-f", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 1);
  ST(TK_OK, tk_check(h, "fw", "peek-f", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 0);
  ST(TK_OK, tk_peek(h, "fw", "peek-f", &d, &err));
  EXPECT_DECISION(d, 0, 3, 0);
  EXPECT_EQ(d.reset_at_ms, reset);
  ST(TK_OK, tk_check(h, "fw", "peek-f", 1, &d, &err));
  EXPECT_DECISION(d, 0, 3, 0);

  /* slidingWindowLog: 4 per 15 minutes. */
  ST(TK_OK, tk_peek(h, "swl", "peek-l", &d, &err));
  EXPECT_DECISION(d, 1, 4, 4);
  w0 = tk_t_wall_ms();
  for (int i = 0; i < 4; i++) {
    ST(TK_OK, tk_check(h, "swl", "peek-l", 1, &d, &err));
    EXPECT_DECISION(d, 1, 4, 3 - i);
  }
  int64_t w1 = tk_t_wall_ms();
  EXPECT_WITHIN(d.reset_at_ms, w0 + 900000, w1 + 900000);
  ST(TK_OK, tk_peek(h, "swl", "peek-l", &d, &err));
  EXPECT_DECISION(d, 0, 4, 0);
  ST(TK_OK, tk_check(h, "swl", "peek-l", 1, &d, &err));
  EXPECT_DECISION(d, 0, 4, 0);
  CHECKF(d.retry_after_ms <= 900000, "[%s] swl retry_after_ms %lld, want <= 15 min", store,
         (long long)d.retry_after_ms);
}

static void test_forecast(tk_handle_t h) {
  tk_forecast_t f;
  tk_decision_t d;
  /* gcra, cold: all 5 spendable; full now. */
  int64_t w0 = tk_t_wall_ms();
  ST(TK_OK, tk_forecast(h, "api", "fc-g", 1, &f, &err));
  int64_t w1 = tk_t_wall_ms();
  EXPECT_EQ(f.spendable_now, 5);
  EXPECT_WITHIN(f.next_replenish_at_ms, w0, w1);
  EXPECT_EQ(f.full_at_ms, f.next_replenish_at_ms);
  ST(TK_OK, tk_forecast(h, "api", "fc-g", 2, &f, &err));
  EXPECT_EQ(f.spendable_now, 2);
  ST(TK_OK, tk_forecast(h, "api", "fc-g", 0, &f, &err)); /* 0 means 1 */
  EXPECT_EQ(f.spendable_now, 5);
  ST(TK_OK, tk_forecast(h, "api", "fc-g", 6, &f, &err));
  EXPECT_EQ(f.spendable_now, 0);
  ST(TK_OK, tk_peek(h, "api", "fc-g", &d, &err)); /* forecasts consumed nothing */
  EXPECT_DECISION(d, 1, 5, 5);

  /* fixedWindow: capacity returns at the window's end. */
  ST(TK_OK, tk_forecast(h, "fw", "fc-f", 1, &f, &err));
  EXPECT_EQ(f.spendable_now, 3);
  ST(TK_OK, tk_check(h, "fw", "fc-f", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  EXPECT_EQ(f.next_replenish_at_ms, d.reset_at_ms);
  EXPECT_EQ(f.full_at_ms, d.reset_at_ms);
  const int64_t want[4] = {2, 2, 1, 0}; /* costs 0 (= 1), 1, 2, 3 with 2 left */
  for (int cost = 0; cost <= 3; cost++) {
    ST(TK_OK, tk_forecast(h, "fw", "fc-f", cost, &f, &err));
    EXPECT_EQ(f.spendable_now, want[cost]);
  }
  ST(TK_OK, tk_peek(h, "fw", "fc-f", &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);

  /* slidingWindowLog, cold. */
  ST(TK_OK, tk_forecast(h, "swl", "fc-l", 1, &f, &err));
  EXPECT_EQ(f.spendable_now, 4);
  ST(TK_OK, tk_forecast(h, "swl", "fc-l", 3, &f, &err));
  EXPECT_EQ(f.spendable_now, 1);
}

static void test_check_many(tk_handle_t h) {
  tk_decision_t d, ds[8];
  /* Order and duplicates on a fixed window of 3: m-b has one spent beforehand, so its second
     entry in the batch is its third unit; m-a's fourth entry is denied. */
  ST(TK_OK, tk_check(h, "fw", "m-b", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  const char *keys[7] = {"m-a", "m-b", "m-a", "m-c", "m-b", "m-a", "m-a"};
  const int want_allowed[7] = {1, 1, 1, 1, 1, 1, 0};
  const int64_t want_remaining[7] = {2, 1, 1, 2, 0, 0, 0};
  memset(ds, 0xa5, sizeof ds);
  ST(TK_OK, tk_check_many(h, "fw", keys, 7, 1, ds, &err));
  for (int i = 0; i < 7; i++) {
    char what[32];
    snprintf(what, sizeof what, "many[%d] (%s)", i, keys[i]);
    expect_decision(__LINE__, what, &ds[i], want_allowed[i], 3, want_remaining[i]);
  }
  unsigned char sentinel[sizeof ds[7]];
  memset(sentinel, 0xa5, sizeof sentinel);
  CHECKF(memcmp(&ds[7], sentinel, sizeof sentinel) == 0, "tk_check_many wrote beyond n");
  ST(TK_OK, tk_peek(h, "fw", "m-c", &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);

  /* One instant for the whole batch: a cold gcra burst of 6 copies of one key admits 5 and
     denies the 6th with exactly T = 200 ms to wait, however slow the machine. */
  const char *same[6] = {"m-g", "m-g", "m-g", "m-g", "m-g", "m-g"};
  ST(TK_OK, tk_check_many(h, "api", same, 6, 1, ds, &err));
  for (int i = 0; i < 5; i++) {
    char what[32];
    snprintf(what, sizeof what, "gcra many[%d]", i);
    expect_decision(__LINE__, what, &ds[i], 1, 5, 4 - i);
    if (i > 0) EXPECT_EQ(ds[i].reset_at_ms - ds[i - 1].reset_at_ms, 200);
  }
  EXPECT_DECISION(ds[5], 0, 5, 0);
  EXPECT_EQ(ds[5].retry_after_ms, 200);
  EXPECT_EQ(ds[5].reset_at_ms, ds[4].reset_at_ms);
  /* cost 2 on distinct and repeated keys, at one instant. */
  const char *pairs[3] = {"m-g2", "m-g3", "m-g2"};
  ST(TK_OK, tk_check_many(h, "api", pairs, 3, 2, ds, &err));
  EXPECT_DECISION(ds[0], 1, 5, 3);
  EXPECT_DECISION(ds[1], 1, 5, 3);
  EXPECT_DECISION(ds[2], 1, 5, 1);
  EXPECT_EQ(ds[0].reset_at_ms, ds[1].reset_at_ms);

  /* n = 0: TK_OK, with NULL arrays or with real ones left alone. */
  ST(TK_OK, tk_check_many(h, "fw", NULL, 0, 1, NULL, &err));
  memset(ds, 0xa5, sizeof ds);
  ST(TK_OK, tk_check_many(h, "fw", keys, 0, 1, ds, &err));
  CHECKF(memcmp(&ds[0], sentinel, sizeof sentinel) == 0, "tk_check_many with n = 0 wrote out");

  /* All or nothing: one bad key refuses the batch, and the good keys are not spent. */
  const char *bad[3] = {"m-d", "m-\xff", "m-d"};
  ST(TK_E_INVALID, tk_check_many(h, "fw", bad, 3, 1, ds, &err));
  ST(TK_OK, tk_peek(h, "fw", "m-d", &d, &err));
  EXPECT_DECISION(d, 1, 3, 3);
  ST(TK_E_NOT_FOUND, tk_check_many(h, "nope", keys, 2, 1, ds, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many(h, "llm", keys, 2, 1, ds, &err));
  ST(TK_E_INVALID, tk_check_many(h, "fw", keys, 2, POW2_53, ds, &err));
  ST(TK_E_INVALID, tk_check_many(h, "fw", keys, 2, -1, ds, &err));
  ST(TK_E_INVALID, tk_check_many(h, "fw", NULL, 2, 1, ds, &err));
  ST(TK_OK, tk_peek(h, "fw", "m-a", &d, &err)); /* none of the refused batches spent */
  EXPECT_DECISION(d, 0, 3, 0);
  ST(TK_OK, tk_peek(h, "fw", "m-b", &d, &err));
  EXPECT_DECISION(d, 0, 3, 0);
}

static void test_meter(tk_handle_t h) {
  tk_decision_t d;
  int64_t w0 = tk_t_wall_ms();
  ST(TK_OK, tk_peek(h, "llm", "meter", &d, &err));
  EXPECT_DECISION(d, 1, 100, 100);
  int64_t reset = d.reset_at_ms;
  EXPECT_EQ(reset % WINDOW_MS, 0);
  EXPECT_WITHIN(reset, w0, w0 + WINDOW_MS);
  ST(TK_OK, tk_debit(h, "llm", "meter", 30, &d, &err));
  EXPECT_DECISION(d, 1, 100, 70);
  EXPECT_EQ(d.reset_at_ms, reset);
  ST(TK_OK, tk_debit(h, "llm", "meter", 0, &d, &err)); /* 0 means 1 */
  EXPECT_DECISION(d, 1, 100, 69);
  for (int i = 0; i < 2; i++) { /* peek spends nothing */
    ST(TK_OK, tk_peek(h, "llm", "meter", &d, &err));
    EXPECT_DECISION(d, 1, 100, 69);
    EXPECT_EQ(d.reset_at_ms, reset);
  }
  ST(TK_OK, tk_debit(h, "llm", "meter", 80, &d, &err)); /* counted in full, past the budget */
  EXPECT_DECISION(d, 1, 100, 0);
  ST(TK_OK, tk_debit(h, "llm", "meter", 1, &d, &err)); /* the budget is spent */
  EXPECT_DECISION(d, 0, 100, 0);
  EXPECT_EQ(d.reset_at_ms, reset);
  ST(TK_OK, tk_peek(h, "llm", "meter", &d, &err));
  EXPECT_DECISION(d, 0, 100, 0);
  ST(TK_OK, tk_debit(h, "llm", "meter-2", 5, &d, &err)); /* another key: its own budget */
  EXPECT_DECISION(d, 1, 100, 95);

  /* Meters and limiters do not mix. */
  tk_forecast_t f;
  const char *keys[1] = {"meter"};
  ST(TK_E_UNSUPPORTED, tk_debit(h, "api", "meter", 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_debit(h, "fw", "meter", 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check(h, "llm", "meter", 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many(h, "llm", keys, 1, 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_forecast(h, "llm", "meter", 1, &f, &err));
  ST(TK_E_INVALID, tk_debit(h, "llm", "meter-2", POW2_53, &d, &err));
  ST(TK_E_INVALID, tk_debit(h, "llm", "meter-2", -1, &d, &err));
  ST(TK_OK, tk_peek(h, "llm", "meter-2", &d, &err)); /* nothing refused was counted */
  EXPECT_DECISION(d, 1, 100, 95);
}

static void test_statuses(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const char *keys[2] = {"st-a", "st-b"};
  const int64_t now = tk_t_wall_ms();

  /* Unknown policy: NOT_FOUND, with a message naming the configured policies. */
  ST(TK_E_NOT_FOUND, tk_check(h, "nope", "k", 1, &d, &err));
  EXPECT_CONTAINS(err.message, "api");
  EXPECT_CONTAINS(err.message, "llm");
  ST(TK_E_NOT_FOUND, tk_peek(h, "nope", "k", &d, &err));
  ST(TK_E_NOT_FOUND, tk_forecast(h, "nope", "k", 1, &f, &err));
  ST(TK_E_NOT_FOUND, tk_debit(h, "nope", "k", 1, &d, &err));

  /* Costs: 2^53 - 1 is computed (a denial, which writes nothing), 2^53 is refused. */
  ST(TK_OK, tk_check(h, "fw", "st-cost", MAX_SAFE, &d, &err));
  EXPECT_DECISION(d, 0, 3, 3);
  ST(TK_E_INVALID, tk_check(h, "fw", "st-cost", POW2_53, &d, &err));
  ST(TK_E_INVALID, tk_check(h, "fw", "st-cost", INT64_MAX, &d, &err));
  ST(TK_E_INVALID, tk_check(h, "fw", "st-cost", -1, &d, &err));
  ST(TK_E_INVALID, tk_forecast(h, "fw", "st-cost", POW2_53, &f, &err));
  ST(TK_OK, tk_check(h, "fw", "st-cost", 0, &d, &err)); /* 0 means 1 */
  EXPECT_DECISION(d, 1, 3, 2);

  /* The explicit-clock twins do not exist on this door. */
  ST(TK_E_UNSUPPORTED, tk_check_at(h, "api", "st-at", 1, now, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err));
  ST(TK_E_UNSUPPORTED, tk_peek_at(h, "api", "st-at", now, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_forecast_at(h, "api", "st-at", 1, now, &f, &err));
  ST(TK_E_UNSUPPORTED, tk_debit_at(h, "llm", "st-at", 1, now, &d, &err));
  ST(TK_OK, tk_peek(h, "api", "st-at", &d, &err)); /* and touched nothing */
  EXPECT_DECISION(d, 1, 5, 5);

  /* Keys must be valid UTF-8 here: stray bytes, an overlong form, a surrogate, a cut
     sequence. Valid multi-byte keys pass. */
  const char *bad[] = {"\xff", "k\xfe", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "ok\x80ok"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ST(TK_E_INVALID, tk_check(h, "api", bad[i], 1, &d, &err));
    EXPECT_CONTAINS(err.message, "UTF-8");
  }
  ST(TK_E_INVALID, tk_peek(h, "api", "\xff", &d, &err));
  ST(TK_E_INVALID, tk_forecast(h, "api", "\xff", 1, &f, &err));
  ST(TK_E_INVALID, tk_debit(h, "llm", "\xff", 1, &d, &err));
  ST(TK_OK, tk_check(h, "api", "cl\xc3\xa9-\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-\xf0\x9f\x94\x91", 1,
                     &d, &err));
  EXPECT_DECISION(d, 1, 5, 4);
  ST(TK_OK, tk_check(h, "api", "", 1, &d, &err)); /* the empty key is a key */
  EXPECT_DECISION(d, 1, 5, 4);

  /* Bad arguments the shim refuses, as on the Redis door. */
  ST(TK_E_INVALID, tk_check(h, "", "k", 1, &d, &err));
  ST(TK_E_INVALID, tk_check(h, NULL, "k", 1, &d, &err));
  ST(TK_E_INVALID, tk_check(h, "api", NULL, 1, &d, &err));
  ST(TK_E_INVALID, tk_check(h, "api", "k", 1, NULL, &err));
}

/* Admission through the server: leases by id (the policy and key passed to release and
   heartbeat are not sent), the server's clock only. */
static void test_admission(tk_handle_t h) {
  tk_admission_t a[2], r;
  for (int i = 0; i < 2; i++) {
    ST(TK_OK, tk_admit(h, "cc", "k", 1, &a[i], &err));
    EXPECT_EQ(a[i].decision.allowed, 1);
    EXPECT_EQ(a[i].decision.limit, 2);
    EXPECT_EQ(a[i].decision.remaining, 1 - i);
    EXPECT_EQ(strlen(a[i].lease_id), 32);
    EXPECT_GT(a[i].lease_expires_at_ms, a[i].decision.reset_at_ms);
  }
  ST(TK_OK, tk_admit(h, "cc", "k", 1, &r, &err));
  EXPECT_EQ(r.decision.allowed, 0);
  EXPECT_STREQ(r.binding_axis, "concurrency");
  EXPECT_STREQ(r.lease_id, "");
  const char *ids[] = {"unknown", a[1].lease_id};
  size_t reclaimed[2], n_reclaimed = 9;
  ST(TK_OK, tk_heartbeat(h, "cc", "k", ids, 2, reclaimed, &n_reclaimed, &err));
  EXPECT_EQ(n_reclaimed, 1);
  EXPECT_EQ(reclaimed[0], 0);
  ST(TK_OK, tk_release(h, "ignored", "ignored", a[0].lease_id, 0, &err));
  ST(TK_OK, tk_release(h, "cc", "k", a[0].lease_id, 0, &err)); /* idempotent */
  ST(TK_OK, tk_admit(h, "cc", "k", 1, &a[0], &err));
  EXPECT_EQ(a[0].decision.allowed, 1);
  for (int i = 0; i < 2; i++) ST(TK_OK, tk_release(h, "cc", "k", a[i].lease_id, 1, &err));
  ST(TK_E_UNSUPPORTED, tk_admit(h, "api", "k", 1, &r, &err));
  ST(TK_E_NOT_FOUND, tk_admit(h, "nope", "k", 1, &r, &err));
  ST(TK_E_UNSUPPORTED, tk_admit_at(h, "cc", "k", 1, tk_t_wall_ms(), &r, &err));
  ST(TK_E_UNSUPPORTED, tk_release_at(h, "cc", "k", "x", 0, tk_t_wall_ms(), &err));
  ST(TK_E_UNSUPPORTED, tk_heartbeat_at(h, "cc", "k", ids, 2, tk_t_wall_ms(), reclaimed, &n_reclaimed, &err));
}

/* The Redis store keeps state under --redis-prefix, policy, key. */
static void test_redis_layout(const char *url, const char *ns) {
  if (strchr(url, '@') || strncmp(url, "redis://", 8) != 0) {
    tk_t_skip("the key layout checks need a plain redis:// URL");
    return;
  }
  char key[256], reply[64] = "";
  snprintf(key, sizeof key, "%s:fw:ind-b", ns);
  if (CHECKF(tk_t_redis(url, reply, sizeof reply, "HGET", key, "c", NULL) == 0,
             "HGET %s failed", key))
    EXPECT_STREQ(reply, "1");
  snprintf(key, sizeof key, "%s:llm:meter", ns);
  if (CHECKF(tk_t_redis(url, reply, sizeof reply, "HGET", key, "s", NULL) == 0,
             "HGET %s failed", key))
    EXPECT_STREQ(reply, "111");
  /* A fixed window of an hour: a gcra key of this suite lives for a second or less, which a
     loaded machine outlasts before this check. */
  snprintf(key, sizeof key, "%s:fw:m-b", ns);
  if (CHECKF(tk_t_redis(url, reply, sizeof reply, "HGET", key, "c", NULL) == 0, "HGET %s", key))
    EXPECT_STREQ(reply, "3");
  snprintf(key, sizeof key, "%s:swl:peek-l", ns);
  if (CHECKF(tk_t_redis(url, reply, sizeof reply, "ZCARD", key, NULL) == 0, "ZCARD %s", key))
    EXPECT_STREQ(reply, ":4");
}

/* tk_check_all through the CheckAll RPC: all consumed when all allow; none when one denies
   (the allowed entry's key keeps its count). */
static void test_check_all(tk_handle_t h) {
  tk_decision_t ds[3], d;
  int32_t all = -1;
  const tk_check_item_t items[2] = {{"api", "all-a", 1}, {"fw", "all-f", 2}};
  ST(TK_OK, tk_check_all(h, items, 2, ds, &all, &err));
  EXPECT_EQ(all, 1);
  EXPECT_DECISION(ds[0], 1, 5, 4);
  EXPECT_DECISION(ds[1], 1, 3, 1);
  ST(TK_OK, tk_check_all(h, items, 2, ds, &all, &err)); /* fw has 1 left, asks 2 */
  EXPECT_EQ(all, 0);
  EXPECT_EQ(ds[0].allowed, 1);
  EXPECT_EQ(ds[1].allowed, 0);
  ST(TK_OK, tk_peek(h, "api", "all-a", &d, &err));
  CHECKF(d.remaining >= 4, "api all-a has %lld left after a refused tk_check_all; want its 4", (long long)d.remaining);
  ST(TK_OK, tk_peek(h, "fw", "all-f", &d, &err));
  EXPECT_DECISION(d, 1, 3, 1);
  const tk_check_item_t bad[2] = {{"api", "all-a", 1}, {"nope", "k", 1}};
  ST(TK_E_NOT_FOUND, tk_check_all(h, bad, 2, ds, &all, &err));
  CHECKF(strstr(err.message, "items[1]") != NULL, "message %s does not name items[1]", err.message);
  ST(TK_OK, tk_check_all(h, NULL, 0, NULL, NULL, &err));
  /* Refund and Reset RPCs. */
  ST(TK_OK, tk_refund(h, "fw", "all-f", 1, &d, &err));
  EXPECT_DECISION(d, 1, 3, 2);
  ST(TK_OK, tk_reset(h, "fw", "all-f", &err));
  ST(TK_OK, tk_peek(h, "fw", "all-f", &d, &err));
  EXPECT_DECISION(d, 1, 3, 3);
}

static void suite(tk_handle_t h) {
  avoid_window_edge();
  tk_decision_t d;
  /* A first call opens the connection, so that the timed burst measures calls only. */
  ST(TK_OK, tk_peek(h, "api", "warm-up", &d, &err));
  EXPECT_DECISION(d, 1, 5, 5);
  test_burst(h);
  test_independent_keys(h);
  test_peek(h);
  test_forecast(h);
  test_check_many(h);
  test_check_all(h);
  test_meter(h);
  test_statuses(h);
  test_admission(h);
}

/* ---- With the server down: the library's fail modes -------------------------------------- */

#define DOWN(mode, want1, want2, call)                                                       \
  do {                                                                                       \
    char ctx_[160];                                                                          \
    snprintf(ctx_, sizeof ctx_, "%s, server down: %s", mode, #call);                         \
    tk_t_poison_err(&err);                                                                   \
    int64_t t0_ = tk_t_mono_ms();                                                            \
    int rc_ = (call);                                                                        \
    int64_t ms_ = tk_t_mono_ms() - t0_;                                                      \
    if (rc_ == (want2) && (want2) != (want1))                                                \
      EXPECT_STATUS_CTX(ctx_, rc_, want2);                                                   \
    else                                                                                     \
      EXPECT_STATUS_CTX(ctx_, rc_, want1);                                                   \
    EXPECT_ERR_CTX(ctx_, err, rc_);                                                          \
    CHECKF(ms_ < DOWN_BOUND_MS, "[%s] took %lld ms (timeout %d ms)", ctx_, (long long)ms_,   \
           DOWN_TIMEOUT_MS);                                                                 \
  } while (0)

static void test_server_down(const char *addr, tk_handle_t used) {
  tk_decision_t d, ds[3];
  tk_forecast_t f;
  const char *keys[3] = {"a", "b", "a"};
  store = "server down";

  /* The handle the suite used: its connection is gone, the next call says so. */
  DOWN("used handle", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_check(used, "api", "k", 1, &d, &err));

  tk_handle_t h = open_service(addr, TK_FAIL_OPEN, DOWN_TIMEOUT_MS);
  if (h) {
    memset(&d, 0xa5, sizeof d);
    DOWN("fail open", TK_OK, TK_OK, tk_check(h, "api", "k", 1, &d, &err));
    expect_synthesized("fail open: tk_check", &d, 1);
    memset(ds, 0xa5, sizeof ds);
    DOWN("fail open", TK_OK, TK_OK, tk_check_many(h, "fw", keys, 3, 1, ds, &err));
    for (int i = 0; i < 3; i++) expect_synthesized("fail open: tk_check_many", &ds[i], 1);
    const tk_check_item_t items[2] = {{"api", "k", 1}, {"fw", "k", 1}};
    int32_t all = -1;
    DOWN("fail open", TK_OK, TK_OK, tk_check_all(h, items, 2, ds, &all, &err));
    for (int i = 0; i < 2; i++) expect_synthesized("fail open: tk_check_all", &ds[i], 1);
    EXPECT_EQ(all, 1);
    /* Never synthesized: peek, forecast, debit; bad input. */
    DOWN("fail open", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_peek(h, "api", "k", &d, &err));
    DOWN("fail open", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_forecast(h, "api", "k", 1, &f, &err));
    DOWN("fail open", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_debit(h, "llm", "k", 1, &d, &err));
    DOWN("fail open", TK_E_INVALID, TK_E_INVALID, tk_check(h, "api", "\xff", 1, &d, &err));
    DOWN("fail open", TK_E_INVALID, TK_E_INVALID, tk_check(h, "api", "k", -1, &d, &err));
    /* A check's `_at` twin spends a federated policy's reserved credits on its instant; this
     * handle never reached the server to learn that api is plain, so its failure is the
     * store's, as tk_check's (on a live server it is TK_E_UNSUPPORTED: test_service's calls). */
    memset(&d, 0xa5, sizeof d);
    DOWN("fail open", TK_OK, TK_OK, tk_check_at(h, "api", "k", 1, tk_t_wall_ms(), &d, &err));
    expect_synthesized("fail open: tk_check_at", &d, 1);
    EXPECT_OK(tk_free(h));
  }

  h = open_service(addr, TK_FAIL_CLOSED, DOWN_TIMEOUT_MS);
  if (h) {
    memset(&d, 0xa5, sizeof d);
    DOWN("fail closed", TK_OK, TK_OK, tk_check(h, "api", "k", 1, &d, &err));
    expect_synthesized("fail closed: tk_check", &d, 0);
    DOWN("fail closed", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_peek(h, "api", "k", &d, &err));
    EXPECT_OK(tk_free(h));
  }

  h = open_service(addr, TK_FAIL_ERROR, DOWN_TIMEOUT_MS);
  if (h) {
    DOWN("fail error", TK_E_UNAVAILABLE, TK_E_TIMEOUT, tk_check(h, "api", "k", 1, &d, &err));
    DOWN("fail error", TK_E_UNAVAILABLE, TK_E_TIMEOUT,
         tk_check_many(h, "fw", keys, 3, 1, ds, &err));
    EXPECT_OK(tk_free(h));
  }

  /* A server that accepts and never answers: the timeout bounds the call. */
  tk_t_silent_t silent;
  if (CHECK(tk_t_silent_start(&silent) == 0)) {
    char silent_addr[64];
    snprintf(silent_addr, sizeof silent_addr, "127.0.0.1:%d", silent.port);
    h = open_service(silent_addr, TK_FAIL_ERROR, DOWN_TIMEOUT_MS);
    if (h) {
      int64_t t0 = tk_t_mono_ms();
      DOWN("silent, fail error", TK_E_TIMEOUT, TK_E_UNAVAILABLE,
           tk_check(h, "api", "k", 1, &d, &err));
      int64_t ms = tk_t_mono_ms() - t0;
      CHECKF(ms >= DOWN_TIMEOUT_MS / 2, "a silent server answered in %lld ms?", (long long)ms);
      EXPECT_OK(tk_free(h));
    }
    h = open_service(silent_addr, TK_FAIL_OPEN, DOWN_TIMEOUT_MS);
    if (h) {
      memset(&d, 0xa5, sizeof d);
      DOWN("silent, fail open", TK_OK, TK_OK, tk_check(h, "api", "k", 1, &d, &err));
      expect_synthesized("silent, fail open: tk_check", &d, 1);
      EXPECT_OK(tk_free(h));
    }
    tk_t_silent_stop(&silent);
  }
}

/* ---- The two halves ---------------------------------------------------------------------- */

static void memory_half(const char *binary) {
  store = "memory";
  char addr[64];
  if (!start_server(binary, NULL, "server-memory.log", addr, sizeof addr)) return;
  long failed = tk_t_failures();
  tk_handle_t h = open_service(addr, TK_FAIL_ERROR, CALL_TIMEOUT_MS);
  if (h) suite(h);
  stop_server();
  if (h) test_server_down(addr, h);
  if (h) EXPECT_OK(tk_free(h));
  if (tk_t_failures() > failed) dump_log();
}

static void redis_half(const char *binary) {
  store = "redis";
  const char *url = tk_t_redis_url("the service door over the Redis store");
  if (!url) return;
  char ns[128], addr[64];
  tk_t_namespace(ns, sizeof ns, "service");
  const char *extra[] = {"--redis", url, "--redis-prefix", ns, NULL};
  if (!start_server(binary, extra, "server-redis.log", addr, sizeof addr)) return;
  long failed = tk_t_failures();
  tk_handle_t h = open_service(addr, TK_FAIL_ERROR, CALL_TIMEOUT_MS);
  if (h) {
    suite(h);
    test_redis_layout(url, ns);
  }
  stop_server();
  if (h) EXPECT_OK(tk_free(h));
  if (tk_t_failures() > failed) dump_log();
}

/* The server's own fail mode and its token, seen from C: a server whose Redis is down
   synthesizes (TK_DECISION_SYNTHESIZED reaches the caller, with the policy's limit, which the
   server knows), and a call without the right token is TK_E_AUTH. */
static void operator_half(const char *binary) {
  store = "operator";
  char token_path[PATH_MAX + 32], addr[64];
  snprintf(token_path, sizeof token_path, "%s/token", server.dir);
  FILE *f = fopen(token_path, "w");
  if (!CHECKF(f && fputs("  s3cret-token\n", f) >= 0 && fclose(f) == 0, "writing %s", token_path))
    return;
  const char *extra[] = {"--redis", "redis://127.0.0.1:1/0", "--timeout", "200ms", "--fail", "open",
                         "--auth-token-file", token_path, NULL};
  if (!start_server(binary, extra, "server-operator.log", addr, sizeof addr)) return;
  long failed = tk_t_failures();

  const char *tokens[] = {"s3cret-token", "wrong-token", NULL};
  for (int i = 0; i < 3; i++) {
    tk_options_t o;
    tk_options_init(&o);
    o.timeout_ms = CALL_TIMEOUT_MS;
    o.auth_token = i < 2 ? tokens[i] : NULL;
    tk_handle_t h = 0;
    if (!EXPECT_OK(tk_open_service(addr, &o, &h, &err))) continue;
    tk_decision_t d;
    tk_t_poison_err(&err);
    int rc = tk_check(h, "api", "k", 1, &d, &err);
    if (i == 0) {
      if (EXPECT_OK(rc)) {
        EXPECT_EQ(d.allowed, 1);
        EXPECT_EQ(d.flags, TK_DECISION_SYNTHESIZED);
        EXPECT_EQ(d.limit, 5);
        EXPECT_EQ(d.remaining, 5);
        EXPECT_EQ(d.reset_at_ms, 0);
      }
    } else {
      EXPECT_STATUS(rc, TK_E_AUTH);
      EXPECT_ERR(err, TK_E_AUTH);
      CHECKF(strstr(err.message, "s3cret") == NULL, "the token leaked into a message: %s",
             err.message);
    }
    EXPECT_OK(tk_free(h));
  }
  stop_server();
  if (tk_t_failures() > failed) dump_log();
}

int main(void) {
  atexit(cleanup);
  char binary[PATH_MAX + 64];
  if (tk_t_server_binary(binary, sizeof binary) && tk_t_server_prepare(&server, "service", policies)) {
    memory_half(binary);
    redis_half(binary);
    operator_half(binary);
  }
  return tk_t_finish();
}
