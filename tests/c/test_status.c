/*
 * test_status.c - every row of c-abi.md's status table that applies to the Redis door.
 *
 * Each case asserts the returned status, err.status equal to it and a non-empty,
 * NUL-terminated err.message (err is filled with a pattern first, so that a library that
 * leaves it alone fails). Success fills err with status 0 and message "". Also: tk_strerror
 * and tk_version, err == NULL everywhere, the key-size boundary (4,096 passes, 4,097 does not),
 * a 1 MB key (refused fast, no crash, also under ASan), and tk_options_t of an older and a
 * newer header, passed in buffers of exactly struct_size bytes so that ASan sees any read
 * beyond them.
 */
#include "tk_test_net.h"

#include <limits.h>

#define POW2_53 ((int64_t)1 << 53)
#define MAX_SAFE (POW2_53 - 1)
#define FAST_US 100000 /* a refusal that needs no network: well under 100 ms */

static tk_error_t err;

/* Runs call; expects status want from it and in err, with a message. */
#define ST(want, call)                                       \
  do {                                                       \
    tk_t_poison_err(&err);                                   \
    int rc_ = (call);                                        \
    EXPECT_STATUS_CTX(#call, rc_, want);                     \
    EXPECT_ERR_CTX(#call, err, want);                        \
  } while (0)

/* The same, and the call must also be fast (it must not touch the network or scan 1 MB). */
#define ST_FAST(want, call)                                                              \
  do {                                                                                   \
    int64_t t0_ = tk_t_mono_us();                                                        \
    ST(want, call);                                                                      \
    int64_t us_ = tk_t_mono_us() - t0_;                                                  \
    CHECKF(us_ < FAST_US, "%s took %lld us", #call, (long long)us_);                     \
  } while (0)

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
    "  fw: { strategy: fixedWindow, limit: 1000, windowMs: 60000 }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 60000 }\n"
    "  later: { fairEscrow: { capacity: 100 } }\n"
    "  custom: { strategy: fixedWindow, limit: 5, windowMs: 60000, prefix: shop }\n";

/* A policy with the empty prefix takes raw keys, so it may only stand alone (policies.md). */
static const char *raw_policies =
    "limiters:\n"
    "  raw: { strategy: slidingWindowLog, limit: 5, windowMs: 60000, prefix: \"\" }\n";

static const char *never_dialled = "redis://127.0.0.1:6379/0"; /* open never dials */

/* ---- Library information ------------------------------------------------------------------ */

static void test_info(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", TK_VERSION_MAJOR, TK_VERSION_MINOR, TK_VERSION_PATCH);
  EXPECT_STREQ(tk_version(), want);
  CHECK(tk_version() == tk_version()); /* static */

  const int statuses[] = {TK_OK,          TK_E_INVALID,     TK_E_BADHANDLE, TK_E_NOT_FOUND,
                          TK_E_UNSUPPORTED, TK_E_UNAVAILABLE, TK_E_TIMEOUT, TK_E_CONFIG,
                          TK_E_FORKED,    TK_E_INTERNAL,    TK_E_AUTH};
  const int n = (int)(sizeof statuses / sizeof statuses[0]);
  for (int i = 0; i < n; i++) {
    const char *s = tk_strerror(statuses[i]);
    CHECKF(s && *s, "tk_strerror(%d) is empty", statuses[i]);
    CHECKF(s == tk_strerror(statuses[i]), "tk_strerror(%d) is not static", statuses[i]);
    for (int j = 0; j < i; j++)
      CHECKF(strcmp(s, tk_strerror(statuses[j])) != 0, "tk_strerror(%d) == tk_strerror(%d)",
             statuses[i], statuses[j]);
  }
  const int unknown[] = {1, 2, -11, -12, -100, 1000, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *s = tk_strerror(unknown[i]);
    CHECKF(s && *s, "tk_strerror(%d) is empty", unknown[i]);
    for (int j = 0; j < n; j++)
      CHECKF(!s || strcmp(s, tk_strerror(statuses[j])) != 0,
             "tk_strerror(%d) reads like known status %d", unknown[i], statuses[j]);
  }
  tk_options_t o;
  memset(&o, 0x77, sizeof o);
  tk_options_init(&o);
  EXPECT_EQ(o.struct_size, sizeof(tk_options_t));
  EXPECT_EQ(o.timeout_ms, 0);
  EXPECT_EQ(o.fail_mode, TK_FAIL_ERROR);
  CHECK(o.key_namespace == NULL && o.tls_ca_file == NULL && o.auth_token == NULL);
  EXPECT_EQ(o.auto_pipeline, 0);
  tk_options_init(NULL); /* does nothing, does not crash */
}

/* ---- Handles before any tk_open_*: refused without starting the core ------------------------ */

static void test_handles_before_open(void) {
  tk_decision_t d;
  ST_FAST(TK_E_BADHANDLE, tk_check(0, "api", "k", 1, &d, &err));
  ST_FAST(TK_E_BADHANDLE, tk_check(12345, "api", "k", 1, &d, &err));
  ST_FAST(TK_E_BADHANDLE, tk_peek(12345, "api", "k", &d, &err));
  EXPECT_STATUS(tk_free(0), TK_E_BADHANDLE);
  EXPECT_STATUS(tk_free(12345), TK_E_BADHANDLE);
  /* None of that is a tk_open_*: the core (and Go) must still be out of the process. */
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 0);
  CHECKF(tk_t_thread_count() == 1, "%d threads before any open", tk_t_thread_count());
}

/* ---- The core cannot be loaded ----------------------------------------------------------
 * Before the first successful open: THROTTLEKIT_CORE naming a missing file, then a library that
 * is not the core, are TK_E_INTERNAL with a message saying where the shim looked; once the
 * variable is gone, the next open loads the real core (a failed load is not final).
 */
static void test_core_not_loadable(void) {
  const char *missing = "/nonexistent/tkctest/libthrottlekit-core.so";
  tk_handle_t h = 0;
  setenv("THROTTLEKIT_CORE", missing, 1);
  ST(TK_E_INTERNAL, tk_open_redis(never_dialled, policies, NULL, &h, &err));
  EXPECT_CONTAINS(err.message, missing);
  EXPECT_EQ(h, 0);
  setenv("THROTTLEKIT_CORE", "libc.so.6", 1); /* loads, but has no tkcore_* entry points */
  ST(TK_E_INTERNAL, tk_open_redis(never_dialled, policies, NULL, &h, &err));
  EXPECT_CONTAINS(err.message, "libc.so.6");
  unsetenv("THROTTLEKIT_CORE");
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 0);
  /* Handles are still refused cleanly while no core is loaded. */
  tk_decision_t d;
  ST_FAST(TK_E_BADHANDLE, tk_check(1, "api", "k", 1, &d, &err));
  ST(TK_OK, tk_open_redis(never_dialled, policies, NULL, &h, &err));
  if (h) EXPECT_OK(tk_free(h));
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 1);
}

/* ---- tk_open_redis and tk_open_service --------------------------------------------------- */

static void test_open_arguments(void) {
  tk_handle_t h = 0;
  ST_FAST(TK_E_INVALID, tk_open_redis(NULL, policies, NULL, &h, &err));
  ST_FAST(TK_E_INVALID, tk_open_redis(never_dialled, NULL, NULL, &h, &err));
  ST_FAST(TK_E_INVALID, tk_open_redis(never_dialled, policies, NULL, NULL, &err));
  EXPECT_STATUS(tk_open_redis(NULL, NULL, NULL, NULL, NULL), TK_E_INVALID);

  /* Malformed URLs. */
  const char *bad_urls[] = {"garbage", "http://x", "redis://h:notaport", "",
                            "redis://127.0.0.1:99999/0", "redis://127.0.0.1:6379/notadb",
                            "redis://", "redis+sentinel://127.0.0.1:26379"};
  for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "open(\"%s\")", bad_urls[i]);
    tk_t_poison_err(&err);
    int rc = tk_open_redis(bad_urls[i], policies, NULL, &h, &err);
    EXPECT_STATUS_CTX(ctx, rc, TK_E_INVALID);
    EXPECT_ERR_CTX(ctx, err, TK_E_INVALID);
    if (rc == TK_OK) tk_free(h);
  }
  /* A very long garbage URL: the message is cut, still NUL-terminated inside the buffer. */
  char *longurl = malloc(5000);
  memset(longurl, 'u', 4999);
  longurl[4999] = '\0';
  ST(TK_E_INVALID, tk_open_redis(longurl, policies, NULL, &h, &err));
  free(longurl);

  /* The service door: open does not dial; the server holds the policies. */
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = 200;
  ST_FAST(TK_E_INVALID, tk_open_service(NULL, NULL, &h, &err));
  ST_FAST(TK_E_INVALID, tk_open_service("127.0.0.1:7443", NULL, NULL, &err));
  const char *bad_targets[] = {"", "garbage", "127.0.0.1", "h:notaport", "h:0", "h:70000",
                               "http://h:1"};
  for (size_t i = 0; i < sizeof bad_targets / sizeof bad_targets[0]; i++) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "open_service(\"%s\")", bad_targets[i]);
    tk_t_poison_err(&err);
    int rc = tk_open_service(bad_targets[i], &o, &h, &err);
    EXPECT_STATUS_CTX(ctx, rc, TK_E_INVALID);
    EXPECT_ERR_CTX(ctx, err, TK_E_INVALID);
    if (rc == TK_OK) tk_free(h);
  }
  h = 0;
  ST_FAST(TK_OK, tk_open_service("127.0.0.1:1", &o, &h, &err));
  if (h) {
    tk_decision_t d;
    tk_forecast_t f;
    /* A check at an explicit instant is served on this door for federated policies only (the
       instant is the spend clock of reserved credits): the door asks the server which kind
       "api" is, and nothing listens. The other explicit-clock calls never are. */
    ST_FAST(TK_E_UNAVAILABLE, tk_check_at(h, "api", "k", 1, 1000, &d, &err));
    ST_FAST(TK_E_UNSUPPORTED, tk_peek_at(h, "api", "k", 1000, &d, &err));
    ST_FAST(TK_E_UNSUPPORTED, tk_forecast_at(h, "api", "k", 1, 1000, &f, &err));
    ST_FAST(TK_E_UNSUPPORTED, tk_debit_at(h, "api", "k", 1, 1000, &d, &err));
    const char *keys[] = {"a"};
    ST_FAST(TK_E_UNAVAILABLE, tk_check_many_at(h, "api", keys, 1, 1, 1000, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check(h, "api", "bad \xff\xfe utf-8", 1, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check(h, "api", "k", -1, &d, &err));
    /* Nothing listens on port 1: unavailable, within the timeout. */
    int64_t t0 = tk_t_mono_ms();
    tk_t_poison_err(&err);
    int rc = tk_check(h, "api", "k", 1, &d, &err);
    EXPECT_STATUS2(rc, TK_E_UNAVAILABLE, TK_E_TIMEOUT);
    CHECKF(tk_t_mono_ms() - t0 < 1000, "a dead service took %lld ms (timeout 200)",
           (long long)(tk_t_mono_ms() - t0));
    EXPECT_OK(tk_free(h));
  }
}

/* Opens with opts; on success frees the handle. Returns the status. */
static int open_with(const tk_options_t *opts) {
  tk_handle_t h = 0;
  int rc = tk_open_redis(never_dialled, policies, opts, &h, &err);
  if (rc == TK_OK) EXPECT_OK(tk_free(h));
  return rc;
}

static void test_open_options(void) {
  tk_options_t o;
  tk_options_init(&o);
  o.struct_size = 0;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.struct_size = 3;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.timeout_ms = -1;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.timeout_ms = INT32_MIN;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.fail_mode = 7;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.fail_mode = -1;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.local_max_keys = -1;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.shadow = 2;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.auto_pipeline = 5;
  ST_FAST(TK_E_INVALID, open_with(&o));
  tk_options_init(&o);
  o.auto_pipeline = -1; /* off: valid */
  ST(TK_OK, open_with(&o));
  tk_options_init(&o);
  o.tls_ca_file = "/nonexistent/ca.pem"; /* TLS files with a plain redis:// URL */
  ST(TK_E_INVALID, open_with(&o));
  /* TLS options that cannot work are refused at open, without dialling. */
  const char *tls_url = "rediss://127.0.0.1:6379/0";
  tk_handle_t th = 0;
  tk_options_init(&o);
  o.tls_ca_file = "/nonexistent/ca.pem";
  ST(TK_E_INVALID, tk_open_redis(tls_url, policies, &o, &th, &err));
  tk_options_init(&o);
  o.tls_ca_file = "/proc/self/cmdline"; /* readable, no PEM in it */
  ST(TK_E_INVALID, tk_open_redis(tls_url, policies, &o, &th, &err));
  tk_options_init(&o);
  o.tls_cert_file = "/proc/self/cmdline"; /* a certificate without its key */
  ST(TK_E_INVALID, tk_open_redis(tls_url, policies, &o, &th, &err));
  tk_options_init(&o);
  if (EXPECT_OK(tk_open_redis(tls_url, policies, &o, &th, &err))) EXPECT_OK(tk_free(th));

  /* A newer header: struct_size beyond this library's tk_options_t. The buffer is exactly
     struct_size bytes. Non-zero bytes beyond: refused as "newer header"; zero bytes: fine. */
  const size_t extra = 24;
  unsigned char *big = calloc(1, sizeof(tk_options_t) + extra);
  tk_options_init((tk_options_t *)big);
  ((tk_options_t *)big)->struct_size = (uint32_t)(sizeof(tk_options_t) + extra);
  big[sizeof(tk_options_t) + extra - 1] = 1;
  ST_FAST(TK_E_INVALID, open_with((tk_options_t *)big));
  EXPECT_CONTAINS(err.message, "newer header");
  big[sizeof(tk_options_t) + extra - 1] = 0;
  big[sizeof(tk_options_t)] = 0x80;
  ST_FAST(TK_E_INVALID, open_with((tk_options_t *)big));
  big[sizeof(tk_options_t)] = 0;
  ((tk_options_t *)big)->timeout_ms = 250;
  ST(TK_OK, open_with((tk_options_t *)big));
  free(big);

  /* An older header: only the first fields, in a buffer of exactly that size. */
  const size_t older[] = {offsetof(tk_options_t, timeout_ms),
                          offsetof(tk_options_t, key_namespace),
                          offsetof(tk_options_t, auto_pipeline)};
  for (size_t i = 0; i < sizeof older / sizeof older[0]; i++) {
    unsigned char *small = malloc(older[i]);
    tk_options_t full;
    tk_options_init(&full);
    full.struct_size = (uint32_t)older[i];
    if (older[i] > offsetof(tk_options_t, fail_mode)) {
      full.timeout_ms = 300;
      full.fail_mode = TK_FAIL_OPEN;
    }
    memcpy(small, &full, older[i]);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "older header, struct_size %zu", older[i]);
    tk_t_poison_err(&err);
    int rc = open_with((const tk_options_t *)small);
    EXPECT_STATUS_CTX(ctx, rc, TK_OK);
    EXPECT_ERR_CTX(ctx, err, TK_OK);
    free(small);
  }

  /* Success fills err: status 0, message "". */
  tk_options_init(&o);
  ST(TK_OK, open_with(&o));
  ST(TK_OK, open_with(NULL));
}

/*
 * A struct_size that ends inside a field (here inside the key_namespace and tls_ca_file
 * pointers) is no header's size: "bad options", TK_E_INVALID. Each runs in a fresh process
 * (this program with --odd-options N) because a library that copies the torn pointer crashes.
 */
static int run_odd_options(const char *arg) {
  size_t size = (size_t)atoi(arg);
  tk_options_t full;
  tk_options_init(&full);
  static char ns[] = "tkctest-odd-size";
  full.key_namespace = ns;
  full.tls_ca_file = ns;
  full.struct_size = (uint32_t)size;
  unsigned char *buf = malloc(size);
  memcpy(buf, &full, size);
  tk_handle_t h = 0;
  int rc = tk_open_redis(never_dialled, policies, (const tk_options_t *)buf, &h, &err);
  if (rc == TK_OK) {
    tk_decision_t d;
    tk_check(h, "api", "k", 1, &d, &err); /* uses the namespace */
  }
  free(buf);
  printf("struct_size %zu: %s\n", size, tk_t_status_name(rc));
  return rc == TK_E_INVALID ? 0 : 1;
}

static void test_odd_option_sizes(void) {
  const char *sizes[] = {"18", "20", "28"};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char out[4096];
    int st = tk_t_run_self("--odd-options", sizes[i], out, sizeof out);
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
    if (!CHECKF(st != -1, "cannot run this program again")) continue;
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "tk_open_redis with options.struct_size %s (inside a pointer field) %s: \"%.120s\"; "
              "want TK_E_INVALID",
              sizes[i],
              WIFSIGNALED(st) ? "crashed the process"
              : WEXITSTATUS(st) == 1 ? "was not refused" : "failed", out);
  }
}

static void test_open_config(void) {
  struct {
    const char *what, *yaml, *mentions;
  } cases[] = {
      {"malformed YAML", "limiters: [", NULL},
      {"not a mapping", "just a string\n", NULL},
      {"no limiters", "version: 1\n", "limiters"},
      {"empty file", "", NULL},
      {"unknown strategy", "limiters:\n  api: { strategy: leakyBucket, limit: 5, period: 1s }\n",
       "leakyBucket"},
      {"bad parameter", "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s, burst: -3 }\n",
       "burst"},
      {"zero limit", "limiters:\n  api: { strategy: fixedWindow, limit: 0, windowMs: 1000 }\n",
       "limit"},
      {"fractional window", "limiters:\n  api: { strategy: fixedWindow, limit: 5, windowMs: 1.5 }\n",
       "windowMs"},
      {"refill 0", "limiters:\n  up: { strategy: tokenBucket, capacity: 10, refillPerSec: 0 }\n",
       "refillPerSec"},
      {"unknown field", "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s, brust: 5 }\n",
       "brust"},
      {"missing field", "limiters:\n  api: { strategy: gcra, period: 1s }\n", "limit"},
      {"budget 0", "limiters:\n  llm:\n    tokenBudget: { budget: 0, windowMs: 60000 }\n", "budget"},
      {"clashing prefixes",
       "limiters:\n"
       "  a: { strategy: gcra, limit: 5, period: 1s, prefix: shared }\n"
       "  b: { strategy: fixedWindow, limit: 5, windowMs: 1000, prefix: shared }\n",
       NULL},
      {"clashing default prefix",
       "defaults: { prefix: prod }\n"
       "limiters:\n"
       "  a: { strategy: gcra, limit: 5, period: 1s }\n"
       "  b: { strategy: fixedWindow, limit: 5, windowMs: 1000 }\n",
       NULL},
      {"limiter and meter",
       "limiters:\n  x:\n    strategy: gcra\n    limit: 5\n    period: 1s\n"
       "    tokenBudget: { budget: 5, windowMs: 1000 }\n",
       NULL},
      {"alias bomb",
       "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
       "limiters:\n  x: { strategy: gcra, limit: 1, period: 1s }\n",
       NULL},
      {"alias bomb inside a policy",
       "limiters:\n  x: { strategy: gcra, limit: 1, period: 1s, burst: &a [[[[[[[[1]]]]]]]] }\n"
       "  y: { strategy: gcra, limit: 1, period: 1s, burst: [*a, *a, *a, *a, *a, *a, *a, *a] }\n",
       NULL},
      {"log limit over the cap",
       "limiters:\n  l: { strategy: slidingWindowLog, limit: 10001, windowMs: 1000 }\n", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tk_handle_t h = 0;
    tk_t_poison_err(&err);
    int64_t t0 = tk_t_mono_ms();
    int rc = tk_open_redis(never_dialled, cases[i].yaml, NULL, &h, &err);
    CHECKF(tk_t_mono_ms() - t0 < 1000, "%s: open took %lld ms", cases[i].what,
           (long long)(tk_t_mono_ms() - t0));
    EXPECT_STATUS_CTX(cases[i].what, rc, TK_E_CONFIG);
    EXPECT_ERR_CTX(cases[i].what, err, TK_E_CONFIG);
    if (rc == TK_E_CONFIG && cases[i].mentions) EXPECT_CONTAINS(err.message, cases[i].mentions);
    if (rc == TK_OK) tk_free(h);
  }
}

/* ---- Calls on an open handle ---------------------------------------------------------------- */

static void test_bad_handles(tk_handle_t live) {
  /* A freed handle. */
  tk_handle_t freed = 0;
  if (EXPECT_OK(tk_open_redis(never_dialled, policies, NULL, &freed, &err))) {
    EXPECT_OK(tk_free(freed));
    EXPECT_STATUS(tk_free(freed), TK_E_BADHANDLE); /* double free */
    EXPECT_STATUS(tk_free(freed), TK_E_BADHANDLE);
  }
  /* Handle numbers stay below 2^48 + (opens): bit 60 names nothing ever issued. */
  const tk_handle_t bad[] = {0, live ^ ((tk_handle_t)1 << 60), UINT64_MAX, freed};
  const int64_t now = tk_t_wall_ms();
  const char *keys[2] = {"a", "b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tk_handle_t h = bad[i];
    tk_decision_t d, ds[2];
    tk_forecast_t f;
    ST_FAST(TK_E_BADHANDLE, tk_check(h, "api", "k", 1, &d, &err));
    ST_FAST(TK_E_BADHANDLE, tk_check_at(h, "api", "k", 1, now, &d, &err));
    ST_FAST(TK_E_BADHANDLE, tk_check_many(h, "api", keys, 2, 1, ds, &err));
    ST_FAST(TK_E_BADHANDLE, tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err));
    ST_FAST(TK_E_BADHANDLE, tk_peek(h, "api", "k", &d, &err));
    ST_FAST(TK_E_BADHANDLE, tk_peek_at(h, "api", "k", now, &d, &err));
    ST_FAST(TK_E_BADHANDLE, tk_forecast(h, "api", "k", 1, &f, &err));
    ST_FAST(TK_E_BADHANDLE, tk_forecast_at(h, "api", "k", 1, now, &f, &err));
    ST_FAST(TK_E_BADHANDLE, tk_debit(h, "llm", "k", 1, &d, &err));
    ST_FAST(TK_E_BADHANDLE, tk_debit_at(h, "llm", "k", 1, now, &d, &err));
    EXPECT_STATUS(tk_free(h), TK_E_BADHANDLE);
    EXPECT_STATUS(tk_check(h, "api", "k", 1, &d, NULL), TK_E_BADHANDLE);
  }
}

static void test_null_arguments(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const int64_t now = tk_t_wall_ms();
  const char *keys[2] = {"a", "b"};
  const char *null_entry[2] = {"a", NULL};

  ST_FAST(TK_E_INVALID, tk_check(h, "api", "k", 1, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_check_at(h, "api", "k", 1, now, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_peek(h, "api", "k", NULL, &err));
  ST_FAST(TK_E_INVALID, tk_peek_at(h, "api", "k", now, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_forecast(h, "api", "k", 1, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_forecast_at(h, "api", "k", 1, now, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_debit(h, "llm", "k", 1, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_debit_at(h, "llm", "k", 1, now, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_check_many(h, "api", keys, 2, 1, NULL, &err));
  ST_FAST(TK_E_INVALID, tk_check_many_at(h, "api", keys, 2, 1, now, NULL, &err));

  const char *names[] = {NULL, ""};
  for (int i = 0; i < 2; i++) {
    const char *p = names[i];
    ST_FAST(TK_E_INVALID, tk_check(h, p, "k", 1, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_at(h, p, "k", 1, now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_many(h, p, keys, 2, 1, ds, &err));
    ST_FAST(TK_E_INVALID, tk_check_many_at(h, p, keys, 2, 1, now, ds, &err));
    ST_FAST(TK_E_INVALID, tk_peek(h, p, "k", &d, &err));
    ST_FAST(TK_E_INVALID, tk_peek_at(h, p, "k", now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_forecast(h, p, "k", 1, &f, &err));
    ST_FAST(TK_E_INVALID, tk_forecast_at(h, p, "k", 1, now, &f, &err));
    ST_FAST(TK_E_INVALID, tk_debit(h, p, "k", 1, &d, &err));
    ST_FAST(TK_E_INVALID, tk_debit_at(h, p, "k", 1, now, &d, &err));
  }
  ST_FAST(TK_E_INVALID, tk_check(h, "api", NULL, 1, &d, &err));
  ST_FAST(TK_E_INVALID, tk_check_at(h, "api", NULL, 1, now, &d, &err));
  ST_FAST(TK_E_INVALID, tk_peek(h, "api", NULL, &d, &err));
  ST_FAST(TK_E_INVALID, tk_peek_at(h, "api", NULL, now, &d, &err));
  ST_FAST(TK_E_INVALID, tk_forecast(h, "api", NULL, 1, &f, &err));
  ST_FAST(TK_E_INVALID, tk_forecast_at(h, "api", NULL, 1, now, &f, &err));
  ST_FAST(TK_E_INVALID, tk_debit(h, "llm", NULL, 1, &d, &err));
  ST_FAST(TK_E_INVALID, tk_debit_at(h, "llm", NULL, 1, now, &d, &err));

  /* tk_check_many: NULL keys with n > 0, and a NULL entry. */
  ST_FAST(TK_E_INVALID, tk_check_many(h, "api", NULL, 1, 1, ds, &err));
  ST_FAST(TK_E_INVALID, tk_check_many(h, "api", NULL, 2, 1, ds, &err));
  ST_FAST(TK_E_INVALID, tk_check_many_at(h, "api", NULL, 2, 1, now, ds, &err));
  ST_FAST(TK_E_INVALID, tk_check_many(h, "api", null_entry, 2, 1, ds, &err));
  ST_FAST(TK_E_INVALID, tk_check_many_at(h, "api", null_entry, 2, 1, now, ds, &err));
  /* err may be NULL on a failure too. */
  EXPECT_STATUS(tk_check(h, "api", NULL, 1, &d, NULL), TK_E_INVALID);
  EXPECT_STATUS(tk_check_many(h, "api", NULL, 2, 1, ds, NULL), TK_E_INVALID);
}

static void test_amounts(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const int64_t now = tk_t_wall_ms();
  const char *keys[2] = {"amount-a", "amount-b"};
  const int64_t bad[] = {-1, -1000, INT64_MIN, POW2_53, POW2_53 + 1, INT64_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t c = bad[i];
    ST_FAST(TK_E_INVALID, tk_check(h, "fw", "amount", c, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_at(h, "fw", "amount", c, now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_many(h, "fw", keys, 2, c, ds, &err));
    ST_FAST(TK_E_INVALID, tk_check_many_at(h, "fw", keys, 2, c, now, ds, &err));
    ST_FAST(TK_E_INVALID, tk_forecast(h, "fw", "amount", c, &f, &err));
    ST_FAST(TK_E_INVALID, tk_forecast_at(h, "fw", "amount", c, now, &f, &err));
    ST_FAST(TK_E_INVALID, tk_debit(h, "llm", "amount", c, &d, &err));     /* tokens */
    ST_FAST(TK_E_INVALID, tk_debit_at(h, "llm", "amount", c, now, &d, &err));
  }
  /* 2^53 - 1 is the largest valid cost: a plain denial against a limit of 1,000. */
  tk_t_poison_err(&err);
  if (EXPECT_OK(tk_check(h, "fw", "amount-max", MAX_SAFE, &d, &err))) {
    EXPECT_ERR(err, TK_OK);
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.limit, 1000);
    EXPECT_EQ(d.remaining, 1000);
    EXPECT_GT(d.retry_after_ms, 0);
  }
  if (EXPECT_OK(tk_debit(h, "llm", "amount-max", MAX_SAFE, &d, &err))) {
    EXPECT_EQ(d.allowed, 1); /* counted in full even when it crosses the budget */
    EXPECT_EQ(d.remaining, 0);
  }
  /* cost 0 means 1. */
  if (EXPECT_OK(tk_check(h, "fw", "amount-zero", 0, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.remaining, 999);
  }
  if (EXPECT_OK(tk_debit(h, "llm", "amount-zero", 0, &d, &err))) EXPECT_EQ(d.remaining, 99);
}

static void test_keys(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const int64_t now = tk_t_wall_ms();
  char *k4096 = malloc(4097), *k4097 = malloc(4098);
  memset(k4096, 'a', 4096);
  k4096[4096] = '\0';
  memset(k4097, 'b', 4097);
  k4097[4097] = '\0';
  const size_t mb = (size_t)1 << 20;
  char *k1m = malloc(mb + 1);
  memset(k1m, 'm', mb);
  k1m[mb] = '\0';

  const char *too_long[] = {k4097, k1m};
  for (int i = 0; i < 2; i++) {
    const char *k = too_long[i];
    const char *keys[2] = {"fine", k};
    ST_FAST(TK_E_INVALID, tk_check(h, "api", k, 1, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_at(h, "api", k, 1, now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_many(h, "api", keys, 2, 1, ds, &err));
    ST_FAST(TK_E_INVALID, tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err));
    ST_FAST(TK_E_INVALID, tk_peek(h, "api", k, &d, &err));
    ST_FAST(TK_E_INVALID, tk_peek_at(h, "api", k, now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_forecast(h, "api", k, 1, &f, &err));
    ST_FAST(TK_E_INVALID, tk_forecast_at(h, "api", k, 1, now, &f, &err));
    ST_FAST(TK_E_INVALID, tk_debit(h, "llm", k, 1, &d, &err));
    ST_FAST(TK_E_INVALID, tk_debit_at(h, "llm", k, 1, now, &d, &err));
    EXPECT_STATUS(tk_check(h, "api", k, 1, &d, NULL), TK_E_INVALID);
    /* The message does not echo the key. */
    CHECK(strstr(err.message, "bbbbbbbbbbbbbbbb") == NULL && strstr(err.message, "mmmmmmmmmmmmmmmm") == NULL);
  }
  /* Exactly 4,096 bytes is fine; so is the empty key; the Redis door takes any bytes. */
  const char *fine[] = {k4096, "", "\xff\xfe\x80 not UTF-8", "with:colons{and}braces and spaces"};
  for (int i = 0; i < 4; i++) {
    tk_t_poison_err(&err);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "key #%d of the accepted ones", i);
    int rc = tk_check(h, "api", fine[i], 1, &d, &err);
    if (EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
      EXPECT_ERR_CTX(ctx, err, TK_OK);
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.remaining, 4);
    }
    const char *keys[2] = {fine[i], fine[i]};
    rc = tk_check_many(h, "api", keys, 2, 1, ds, &err);
    if (EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
      EXPECT_EQ(ds[0].remaining, 3);
      EXPECT_EQ(ds[1].remaining, 2);
    }
    EXPECT_STATUS_CTX(ctx, tk_peek(h, "api", fine[i], &d, &err), TK_OK);
    EXPECT_STATUS_CTX(ctx, tk_forecast(h, "api", fine[i], 1, &f, &err), TK_OK);
    EXPECT_STATUS_CTX(ctx, tk_debit(h, "llm", fine[i], 1, &d, &err), TK_OK);
  }
  free(k4096);
  free(k4097);
  free(k1m);
}

static void test_now(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const char *keys[2] = {"a", "b"};
  const int64_t bad[] = {0, -1, INT64_MIN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t now = bad[i];
    ST_FAST(TK_E_INVALID, tk_check_at(h, "api", "now", 1, now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err));
    ST_FAST(TK_E_INVALID, tk_peek_at(h, "api", "now", now, &d, &err));
    ST_FAST(TK_E_INVALID, tk_forecast_at(h, "api", "now", 1, now, &f, &err));
    ST_FAST(TK_E_INVALID, tk_debit_at(h, "llm", "now", 1, now, &d, &err));
  }
  /* now_ms 1 is the smallest valid instant. */
  EXPECT_OK(tk_check_at(h, "api", "now-1", 1, 1, &d, &err));
}

static void test_policies(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const int64_t now = tk_t_wall_ms();
  const char *keys[2] = {"a", "b"};

  /* Unknown policy. */
  ST(TK_E_NOT_FOUND, tk_check(h, "nope", "k", 1, &d, &err));
  ST(TK_E_NOT_FOUND, tk_check_at(h, "nope", "k", 1, now, &d, &err));
  ST(TK_E_NOT_FOUND, tk_check_many(h, "nope", keys, 2, 1, ds, &err));
  ST(TK_E_NOT_FOUND, tk_check_many_at(h, "nope", keys, 2, 1, now, ds, &err));
  ST(TK_E_NOT_FOUND, tk_peek(h, "nope", "k", &d, &err));
  ST(TK_E_NOT_FOUND, tk_peek_at(h, "nope", "k", now, &d, &err));
  ST(TK_E_NOT_FOUND, tk_forecast(h, "nope", "k", 1, &f, &err));
  ST(TK_E_NOT_FOUND, tk_forecast_at(h, "nope", "k", 1, now, &f, &err));
  ST(TK_E_NOT_FOUND, tk_debit(h, "nope", "k", 1, &d, &err));
  ST(TK_E_NOT_FOUND, tk_debit_at(h, "nope", "k", 1, now, &d, &err));
  ST(TK_E_NOT_FOUND, tk_check(h, "API", "k", 1, &d, &err)); /* names are case-sensitive */

  /* Debit on a limiter. */
  ST(TK_E_UNSUPPORTED, tk_debit(h, "api", "k", 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_debit_at(h, "fw", "k", 1, now, &d, &err));
  /* Check, CheckMany, Forecast on a meter. */
  ST(TK_E_UNSUPPORTED, tk_check(h, "llm", "k", 1, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check_at(h, "llm", "k", 1, now, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many(h, "llm", keys, 2, 1, ds, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many_at(h, "llm", keys, 2, 1, now, ds, &err));
  ST(TK_E_UNSUPPORTED, tk_forecast(h, "llm", "k", 1, &f, &err));
  ST(TK_E_UNSUPPORTED, tk_forecast_at(h, "llm", "k", 1, now, &f, &err));
  /* ... while Peek on a meter is fine. */
  tk_t_poison_err(&err);
  if (EXPECT_OK(tk_peek(h, "llm", "meter-peek", &d, &err))) {
    EXPECT_ERR(err, TK_OK);
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.limit, 100);
    EXPECT_EQ(d.remaining, 100);
  }
  if (EXPECT_OK(tk_peek_at(h, "llm", "meter-peek", now, &d, &err))) EXPECT_EQ(d.remaining, 100);

  /* A later-core feature: the policy loads, every call on it is unsupported, and the message
     names the feature; the other policies of the file are unaffected. */
  ST(TK_E_UNSUPPORTED, tk_check(h, "later", "k", 1, &d, &err));
  EXPECT_CONTAINS(err.message, "fairEscrow");
  ST(TK_E_UNSUPPORTED, tk_check_at(h, "later", "k", 1, now, &d, &err));
  ST(TK_E_UNSUPPORTED, tk_check_many(h, "later", keys, 2, 1, ds, &err));
  ST(TK_E_UNSUPPORTED, tk_peek(h, "later", "k", &d, &err));
  ST(TK_E_UNSUPPORTED, tk_forecast(h, "later", "k", 1, &f, &err));
  ST(TK_E_UNSUPPORTED, tk_debit(h, "later", "k", 1, &d, &err));
}

/* Whether s is well-formed UTF-8 (the message is cut on a character boundary). */
static int valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0) return 0;
    p++;
    for (int i = 0; i < n; i++, p++)
      if ((*p & 0xc0) != 0x80) return 0;
  }
  return 1;
}

static void test_policy_names(tk_handle_t h) {
  tk_decision_t d;
  const size_t mb = (size_t)1 << 20;
  char *name = malloc(mb + 1);
  for (size_t i = 0; i + 1 < mb; i += 2) {
    name[i] = (char)0xc3; /* "é" */
    name[i + 1] = (char)0xa9;
  }
  name[mb] = '\0';
  ST_FAST(TK_E_NOT_FOUND, tk_check(h, name, "k", 1, &d, &err));
  CHECKF(strlen(err.message) < sizeof err.message && valid_utf8(err.message),
         "the message of a long UTF-8 name is cut inside a character");
  strcpy(name, "\xff\xfe not UTF-8");
  ST_FAST(TK_E_NOT_FOUND, tk_check(h, name, "k", 1, &d, &err));
  CHECK(valid_utf8(err.message));
  free(name);
}

static void test_handle_numbers(void) {
  enum { OPENS = 64 };
  tk_handle_t hs[OPENS];
  int distinct = 1;
  for (int i = 0; i < OPENS; i++) {
    hs[i] = 0;
    EXPECT_OK(tk_open_redis(never_dialled, policies, NULL, &hs[i], &err));
    CHECK(hs[i] != 0);
    /* Bindings keep handles in doubles (Ruby, PHP, JSON): the core keeps them below 2^53. */
    CHECKF(hs[i] < ((uint64_t)1 << 53), "handle %llu is not exact in a double",
           (unsigned long long)hs[i]);
    for (int j = 0; j < i; j++) distinct &= hs[i] != hs[j];
    if (i % 2) EXPECT_OK(tk_free(hs[i])); /* never reused after a free either */
  }
  CHECK(distinct);
  for (int i = 0; i < OPENS; i += 2) EXPECT_OK(tk_free(hs[i]));
}

/* A few values through the ABI at an explicit clock (the Lua contract computes them). */
static void test_values(tk_handle_t h) {
  const int64_t ws = 1700000040000; /* a minute boundary */
  const int64_t now = ws + 1;
  tk_decision_t d;
  tk_forecast_t f;
  EXPECT_OK(tk_check_at(h, "fw", "values", 3, now, &d, &err));
  EXPECT_EQ(d.remaining, 997);
  EXPECT_EQ(d.reset_at_ms, ws + 60000);
  if (EXPECT_OK(tk_peek_at(h, "fw", "values", now, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.limit, 1000);
    EXPECT_EQ(d.remaining, 997);
    EXPECT_EQ(d.reset_at_ms, ws + 60000);
    EXPECT_EQ(d.retry_after_ms, 0);
    EXPECT_EQ(d.flags, 0);
  }
  if (EXPECT_OK(tk_forecast_at(h, "fw", "values", 10, now, &f, &err))) {
    EXPECT_EQ(f.spendable_now, 99);
    EXPECT_EQ(f.next_replenish_at_ms, ws + 60000);
    EXPECT_EQ(f.full_at_ms, ws + 60000);
  }
  /* gcra limit 5 per second, burst 5: a cell every 200 ms. */
  EXPECT_OK(tk_check_at(h, "api", "values", 5, now, &d, &err));
  EXPECT_EQ(d.remaining, 0);
  if (EXPECT_OK(tk_check_at(h, "api", "values", 1, now, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.retry_after_ms, 200);
    EXPECT_EQ(d.reset_at_ms, now + 1000);
  }
  if (EXPECT_OK(tk_forecast_at(h, "api", "values", 1, now + 200, &f, &err))) {
    EXPECT_EQ(f.spendable_now, 1);
    EXPECT_EQ(f.full_at_ms, now + 1000);
  }
  /* The meter: debit 60, then 50 (counted in full, crossing the budget), then refused. */
  EXPECT_OK(tk_debit_at(h, "llm", "values", 60, now, &d, &err));
  EXPECT_EQ(d.remaining, 40);
  EXPECT_OK(tk_debit_at(h, "llm", "values", 50, now, &d, &err));
  EXPECT_EQ(d.allowed, 1);
  EXPECT_EQ(d.remaining, 0);
  if (EXPECT_OK(tk_debit_at(h, "llm", "values", 1, now, &d, &err))) {
    EXPECT_EQ(d.allowed, 0);
    EXPECT_EQ(d.limit, 100);
    EXPECT_EQ(d.retry_after_ms, 60000 - 1);
  }
  if (EXPECT_OK(tk_peek_at(h, "llm", "values", now, &d, &err))) EXPECT_EQ(d.allowed, 0);
}

/* Where the state lands (policies.md): [namespace ":"] prefix ":" key, always with a TTL. */
static void expect_key(const char *url, const char *redis_key, const char *type) {
  char reply[256];
  if (!CHECKF(tk_t_redis(url, reply, sizeof reply, "TYPE", redis_key, NULL) == 0,
              "cannot ask Redis about %s", redis_key))
    return;
  CHECKF(strcmp(reply + 1, type) == 0, "Redis key \"%s\" has type %s, want %s", redis_key,
         reply + 1, type);
  if (CHECK(tk_t_redis(url, reply, sizeof reply, "PTTL", redis_key, NULL) == 0))
    CHECKF(atol(reply + 1) > 0, "Redis key \"%s\": PTTL %s, want a TTL", redis_key, reply + 1);
}

static void test_key_layout(const char *url, const char *ns, tk_handle_t h) {
  if (strchr(url, '@') || strncmp(url, "redis://", 8) != 0) {
    tk_t_skip("the key layout checks need a plain redis:// URL");
    return;
  }
  char key[192], redis_key[512];
  tk_decision_t d;
  EXPECT_OK(tk_check(h, "api", "layout", 1, &d, &err));
  snprintf(redis_key, sizeof redis_key, "%s:api:layout", ns);
  expect_key(url, redis_key, "string");
  EXPECT_OK(tk_check(h, "custom", "layout", 1, &d, &err));
  snprintf(redis_key, sizeof redis_key, "%s:shop:layout", ns);
  expect_key(url, redis_key, "hash");
  tk_options_t ro;
  tk_options_init(&ro);
  ro.key_namespace = ns;
  tk_handle_t rawh = 0;
  if (EXPECT_OK(tk_open_redis(url, raw_policies, &ro, &rawh, &err))) {
    EXPECT_OK(tk_check(rawh, "raw", "layout", 1, &d, &err));
    snprintf(redis_key, sizeof redis_key, "%s:layout", ns);
    expect_key(url, redis_key, "zset");
    tk_free(rawh);
  }
  EXPECT_OK(tk_debit(h, "llm", "layout", 1, &d, &err));
  snprintf(redis_key, sizeof redis_key, "%s:llm:layout", ns);
  expect_key(url, redis_key, "hash");
  EXPECT_OK(tk_check(h, "api", "\xff:{x} y", 1, &d, &err)); /* any bytes, as given */
  snprintf(redis_key, sizeof redis_key, "%s:api:\xff:{x} y", ns);
  expect_key(url, redis_key, "string");

  /* Without a namespace (opts NULL): prefix ":" key. */
  tk_handle_t plain = 0;
  snprintf(key, sizeof key, "%s-plain", ns);
  if (EXPECT_OK(tk_open_redis(url, policies, NULL, &plain, &err))) {
    EXPECT_OK(tk_check(plain, "api", key, 1, &d, &err));
    snprintf(redis_key, sizeof redis_key, "api:%s", key);
    expect_key(url, redis_key, "string");
    char reply[64];
    tk_t_redis(url, reply, sizeof reply, "DEL", redis_key, NULL);
    EXPECT_OK(tk_free(plain));
  }
  /* An older caller's options without key_namespace: no namespace either. */
  unsigned char *older = malloc(offsetof(tk_options_t, key_namespace));
  tk_options_t full;
  tk_options_init(&full);
  full.struct_size = (uint32_t)offsetof(tk_options_t, key_namespace);
  full.timeout_ms = 2000;
  memcpy(older, &full, offsetof(tk_options_t, key_namespace));
  snprintf(key, sizeof key, "%s-older", ns);
  if (EXPECT_OK(tk_open_redis(url, policies, (const tk_options_t *)older, &plain, &err))) {
    EXPECT_OK(tk_check(plain, "custom", key, 1, &d, &err));
    snprintf(redis_key, sizeof redis_key, "shop:%s", key);
    expect_key(url, redis_key, "hash");
    char reply[64];
    tk_t_redis(url, reply, sizeof reply, "DEL", redis_key, NULL);
    EXPECT_OK(tk_free(plain));
  }
  free(older);
}

static void test_success_fills_err(tk_handle_t h) {
  tk_decision_t d, ds[2];
  tk_forecast_t f;
  const char *keys[2] = {"s1", "s2"};
  const int64_t now = tk_t_wall_ms();
  ST(TK_OK, tk_check(h, "api", "success", 1, &d, &err));
  EXPECT_EQ(d.allowed, 1);
  ST(TK_OK, tk_check_at(h, "api", "success-at", 1, now, &d, &err));
  ST(TK_OK, tk_check_many(h, "api", keys, 2, 1, ds, &err));
  ST(TK_OK, tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err));
  ST(TK_OK, tk_check_many(h, "api", NULL, 0, 1, NULL, &err));
  ST(TK_OK, tk_peek(h, "api", "success", &d, &err));
  ST(TK_OK, tk_peek_at(h, "api", "success", now, &d, &err));
  ST(TK_OK, tk_forecast(h, "api", "success", 1, &f, &err));
  ST(TK_OK, tk_forecast_at(h, "api", "success", 1, now, &f, &err));
  ST(TK_OK, tk_debit(h, "llm", "success", 1, &d, &err));
  ST(TK_OK, tk_debit_at(h, "llm", "success", 1, now, &d, &err));
  /* err may be NULL on success. */
  EXPECT_OK(tk_check(h, "api", "success-null-err", 1, &d, NULL));
  EXPECT_OK(tk_peek(h, "api", "success-null-err", &d, NULL));
  EXPECT_OK(tk_forecast(h, "api", "success-null-err", 1, &f, NULL));
  EXPECT_OK(tk_debit(h, "llm", "success-null-err", 1, &d, NULL));
  EXPECT_OK(tk_check_many(h, "api", keys, 2, 1, ds, NULL));
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--odd-options") == 0) return run_odd_options(argv[2]);
  test_info();
  test_handles_before_open();
  test_core_not_loadable();
  test_odd_option_sizes();
  test_open_arguments();
  test_open_options();
  test_open_config();
  test_handle_numbers();

  const char *url = tk_t_redis_url("the status checks on an open handle");
  if (url) {
    char ns[128];
    tk_t_namespace(ns, sizeof ns, "status");
    tk_options_t o;
    tk_options_init(&o);
    o.key_namespace = ns;
    o.timeout_ms = 2000;
    tk_handle_t h = 0;
    tk_t_poison_err(&err);
    if (EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
      EXPECT_ERR(err, TK_OK);
      CHECK(h != 0);
      test_bad_handles(h);
      test_null_arguments(h);
      test_amounts(h);
      test_keys(h);
      test_now(h);
      test_policies(h);
      test_policy_names(h);
      test_values(h);
      test_key_layout(url, ns, h);
      test_success_fills_err(h);
      EXPECT_OK(tk_free(h));
    } else {
      fprintf(stderr, "  open: %s\n", err.message);
    }
  }
  return tk_t_finish();
}
