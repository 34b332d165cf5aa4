/*
 * test_hostile.c - hostile input at tk_open_*: an options struct_size far beyond the
 * caller's memory, malformed Redis URLs, and cluster URLs with too many seed nodes.
 *
 * Needs no Redis: every URL points at loopback ports nothing listens on (opening dials
 * nothing; the one call that dials expects TK_E_UNAVAILABLE or TK_E_TIMEOUT).
 *
 *   1. struct_size: a tk_options_t at the very end of a mapped page, followed by a PROT_NONE
 *      page. struct_size 1 MiB (or anything above 4 KiB) is TK_E_INVALID without touching
 *      the guard page; sizeof + 8 with a zero tail, ending exactly at the guard, is accepted;
 *      4,096 with a zero tail is accepted, 4,097 refused. Run in a fresh process (re-running
 *      this program with --guard), so that a crash is counted as a failure, not the end.
 *   2. A table of malformed URLs: TK_E_INVALID at open, with a message naming the problem and
 *      never the password; a table of good ones: TK_OK.
 *   3. Cluster seeds: 65 (by the authority, or with ?addr=) and 10,000 are TK_E_INVALID at
 *      once; 64 dead seeds open, and the first check with a 300 ms timeout returns
 *      TK_E_UNAVAILABLE or TK_E_TIMEOUT within 2 x the timeout.
 */
#include "tk_test_net.h"

#include <sys/mman.h>

static const char *policies = "limiters:\n"
                              "  api: { strategy: gcra, limit: 5, period: 1s, burst: 7 }\n";

#define MAX_OPTIONS_SIZE 4096 /* the limit the library documents for struct_size */
#define SEEDS_CAP 64          /* the seed list limit the library documents */
#define SEED_TIMEOUT_MS 300
#define SEED_BOUND_MS (2 * SEED_TIMEOUT_MS)

static tk_error_t err;

/* ---- 1. struct_size ---------------------------------------------------------------------- */

/* Opens the Redis door on a dead port with opts; returns the status (frees a handle). */
static int open_dead(const tk_options_t *opts, int dead_port) {
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", dead_port);
  tk_handle_t h = 0;
  tk_t_poison_err(&err);
  int rc = tk_open_redis(url, policies, opts, &h, &err);
  if (rc == TK_OK) EXPECT_OK(tk_free(h));
  return rc;
}

/* The child's half: every read past the end of the caller's bytes hits the guard page. */
static int run_guard(void) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(map != MAP_FAILED)) return tk_t_finish();
  if (!CHECK(mprotect(map + page, (size_t)page, PROT_NONE) == 0)) return tk_t_finish();
  unsigned char *guard = map + page;
  int dead = tk_t_dead_port();

  /* 1 MiB claimed, sizeof(tk_options_t) readable. */
  tk_options_t *o = (tk_options_t *)(guard - sizeof(tk_options_t));
  tk_options_init(o);
  o->struct_size = 1u << 20;
  EXPECT_STATUS(open_dead(o, dead), TK_E_INVALID);
  EXPECT_ERR(err, TK_E_INVALID);
  EXPECT_CONTAINS(err.message, "struct_size");
  EXPECT_CONTAINS(err.message, "4096");

  /* The largest values a uint32_t holds, and the first size past the limit. */
  const uint32_t huge[] = {UINT32_MAX, 1u << 31, MAX_OPTIONS_SIZE + 1};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    char ctx[48];
    snprintf(ctx, sizeof ctx, "struct_size %u", huge[i]);
    tk_options_init(o);
    o->struct_size = huge[i];
    EXPECT_STATUS_CTX(ctx, open_dead(o, dead), TK_E_INVALID);
    EXPECT_ERR_CTX(ctx, err, TK_E_INVALID);
  }

  /* sizeof + 8, a zero tail that ends exactly at the guard: accepted, and the options are
     read (a negative timeout in the known part is still refused). */
  size_t n = sizeof(tk_options_t) + 8;
  unsigned char *p = guard - n;
  memset(p, 0, n);
  tk_options_init((tk_options_t *)p);
  ((tk_options_t *)p)->struct_size = (uint32_t)n;
  ((tk_options_t *)p)->timeout_ms = 250;
  EXPECT_STATUS(open_dead((tk_options_t *)p, dead), TK_OK);
  EXPECT_ERR(err, TK_OK);
  p[n - 1] = 7;
  EXPECT_STATUS(open_dead((tk_options_t *)p, dead), TK_E_INVALID);
  EXPECT_CONTAINS(err.message, "newer header");
  p[n - 1] = 0;
  ((tk_options_t *)p)->timeout_ms = -1;
  EXPECT_STATUS(open_dead((tk_options_t *)p, dead), TK_E_INVALID);
  EXPECT_CONTAINS(err.message, "timeout_ms");

  /* Exactly the limit, zero tail, ending at the guard: accepted. A non-zero last byte: a
     newer header. */
  if ((long)MAX_OPTIONS_SIZE <= page) {
    p = guard - MAX_OPTIONS_SIZE;
    memset(p, 0, MAX_OPTIONS_SIZE);
    tk_options_init((tk_options_t *)p);
    ((tk_options_t *)p)->struct_size = MAX_OPTIONS_SIZE;
    EXPECT_STATUS(open_dead((tk_options_t *)p, dead), TK_OK);
    p[MAX_OPTIONS_SIZE - 1] = 1;
    EXPECT_STATUS(open_dead((tk_options_t *)p, dead), TK_E_INVALID);
    EXPECT_CONTAINS(err.message, "newer header");
  }
  munmap(map, (size_t)page * 2);
  return tk_t_finish();
}

static void test_struct_size(void) {
  char out[8192];
  int st = tk_t_run_self("--guard", NULL, out, sizeof out);
  long p = 0, f = 0, s = 0;
  const char *line = NULL;
  for (const char *c = out; c && *c; c = strchr(c, '\n') ? strchr(c, '\n') + 1 : NULL)
    if (sscanf(c, "%ld passed, %ld failed", &p, &f) == 2) line = c;
  if (line) {
    sscanf(line, "%ld passed, %ld failed, %ld skipped", &p, &f, &s);
    tk_t_add_counts(p, f, s);
  }
  if (f || !line || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "--- the struct_size child said:\n%s---\n", out);
    CHECKF(line && WIFEXITED(st) && WEXITSTATUS(st) == 0 && f == 0,
           "the struct_size child %s %d", WIFSIGNALED(st) ? "died of signal" : "exited with",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  } else {
    printf("struct_size guard-page child: %ld passed\n", p);
    tk_t_pass();
  }
}

/* ---- 2. Malformed and well-formed URLs --------------------------------------------------- */

static void test_urls(void) {
  char host300[300 + 32], long_ok[253 + 32], label63[64];
  memset(label63, 'a', 63);
  label63[63] = '\0';
  /* 300 characters of host: labels of 63 joined by dots, cut. */
  char h[301];
  for (int i = 0; i < 300; i++) h[i] = (i % 64 == 63) ? '.' : 'a';
  h[300] = '\0';
  snprintf(host300, sizeof host300, "redis://%s:6379", h);
  /* 253 characters: accepted. */
  char h253[254];
  memcpy(h253, h, 253);
  h253[253] = '\0';
  snprintf(long_ok, sizeof long_ok, "redis://%s:6379", h253);

  static const struct {
    const char *url, *problem; /* a word the message must contain */
  } bad[] = {
      {"redis://[::1", "']'"},
      {"redis://[::1:6379", "']'"},
      {"redis://u:hunter2@[::1", "']'"},
      {"redis://::1]:6379", "']'"},
      {"redis://[127.0.0.1]:6379", "IPv6"},
      {"redis://[not-ipv6]:6379", "IPv6"},
      {"redis://ho\x01st:6379", "control"},
      {"redis://host\x7f:6379", "control"},
      {"redis://u:hunter2@ho\nst:6379", "control"},
      {"redis://ho st:6379", "' '"},
      {"redis://h\xc3\xa9llo:6379", "character"},
      {"redis://host*:6379", "'*'"},
      {"redis://:6379", "empty host"},
      {"redis://u:hunter2@:6379", "empty host"},
      {"redis://host:0", "port"},
      {"redis://host:70000", "port"},
      {"redis://host:+80", "port"},
      {"redis://host:", "port"},
      {"redis://u:hunter2@host:70000", "port"},
      {"redis://host:6379:1", "':'"},
      {"redis://::1", "':'"},
      {"redis+cluster://127.0.0.1:7000,[::1", "']'"},
      {"redis+cluster://127.0.0.1:7000,,127.0.0.1:7001", "empty host"},
      {"redis+cluster://127.0.0.1:7000?addr=ho%01st:1", "control"},
      {"redis+sentinel://s\x02:26379/master", "control"},
      {"redis://.:6379", "label"},
      {"redis://a..b:6379", "label"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char ctx[96];
    snprintf(ctx, sizeof ctx, "bad URL %zu", i);
    tk_handle_t hd = 0;
    tk_t_poison_err(&err);
    int rc = tk_open_redis(bad[i].url, policies, NULL, &hd, &err);
    if (!EXPECT_STATUS_CTX(ctx, rc, TK_E_INVALID)) {
      if (rc == TK_OK) tk_free(hd);
      continue;
    }
    EXPECT_ERR_CTX(ctx, err, TK_E_INVALID);
    CHECKF(strstr(err.message, bad[i].problem) != NULL, "[%s] message \"%s\" lacks \"%s\"", ctx,
           err.message, bad[i].problem);
    CHECKF(strstr(err.message, "hunter2") == NULL, "[%s] message shows the password: \"%s\"",
           ctx, err.message);
    /* The message stays printable: the control character is escaped, not repeated. */
    int raw_control = 0;
    for (const char *c = err.message; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) raw_control = 1;
    CHECKF(!raw_control, "[%s] message holds a raw control character", ctx);
  }

  /* The 300-character host, apart (its URL is built at run time). */
  tk_handle_t hd = 0;
  tk_t_poison_err(&err);
  int rc = tk_open_redis(host300, policies, NULL, &hd, &err);
  if (EXPECT_STATUS(rc, TK_E_INVALID)) {
    EXPECT_CONTAINS(err.message, "253");
  } else if (rc == TK_OK) {
    tk_free(hd);
  }

  /* Well-formed: open succeeds (nothing is dialled). */
  char dead_url[64];
  int dead = tk_t_dead_port();
  snprintf(dead_url, sizeof dead_url, "redis://127.0.0.1:%d", dead);
  char label_url[128];
  snprintf(label_url, sizeof label_url, "redis://%s.example:6379", label63);
  const char *good[] = {
      dead_url,
      "redis://[::1]:6379",
      "redis://[::1]",
      "redis://localhost:6379",
      "redis://redis-0.redis_svc.default.svc.cluster.local:6379/3",
      "redis://u:p%40ss@127.0.0.1:6379/2",
      "redis://:secret@127.0.0.1",
      "rediss://127.0.0.1:6380",
      "redis+cluster://127.0.0.1:7000,[::1]:7001,node-2:7002?addr=127.0.0.1:7003",
      "redis+sentinel://127.0.0.1:26379,[::1]/mymaster",
      label_url,
      long_ok,
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char ctx[96];
    snprintf(ctx, sizeof ctx, "good URL %zu", i);
    hd = 0;
    tk_t_poison_err(&err);
    rc = tk_open_redis(good[i], policies, NULL, &hd, &err);
    if (EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
      EXPECT_ERR_CTX(ctx, err, TK_OK);
      EXPECT_OK(tk_free(hd));
    } else {
      fprintf(stderr, "  [%s] %s\n", ctx, err.message);
    }
  }
}

/* ---- 3. Cluster seeds -------------------------------------------------------------------- */

/* "redis+cluster://" then n seeds 127.0.0.1:<port>, the first `in_query` of them as ?addr=. */
static char *seed_url(const int *ports, size_t n, size_t in_query) {
  size_t size = 64 + n * 32;
  char *url = malloc(size);
  if (!url) return NULL;
  size_t len = (size_t)snprintf(url, size, "redis+cluster://");
  for (size_t i = in_query; i < n; i++)
    len += (size_t)snprintf(url + len, size - len, "%s127.0.0.1:%d", i > in_query ? "," : "",
                            ports[i]);
  for (size_t i = 0; i < in_query; i++)
    len += (size_t)snprintf(url + len, size - len, "%saddr=127.0.0.1:%d", i ? "&" : "?",
                            ports[i]);
  return url;
}

static void test_seeds(void) {
  enum { MANY = 10000 };
  int *ports = malloc(MANY * sizeof *ports);
  if (!CHECK(ports != NULL)) return;
  /* Distinct ports nothing listens on. */
  for (int i = 0; i < SEEDS_CAP + 1; i++) ports[i] = tk_t_dead_port();
  for (int i = SEEDS_CAP + 1; i < MANY; i++) ports[i] = 1 + i % 65535;

  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = SEED_TIMEOUT_MS;

  /* Beyond the cap: refused at open, at once, naming the cap. */
  const struct {
    size_t n, in_query;
  } over[] = {{SEEDS_CAP + 1, 0}, {SEEDS_CAP + 1, 5}, {MANY, 0}};
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%zu seeds, %zu as ?addr=", over[i].n, over[i].in_query);
    char *url = seed_url(ports, over[i].n, over[i].in_query);
    if (!CHECK(url != NULL)) continue;
    tk_handle_t h = 0;
    tk_t_poison_err(&err);
    int64_t t0 = tk_t_mono_ms();
    int rc = tk_open_redis(url, policies, &o, &h, &err);
    if (rc == TK_OK) {
      /* The old behaviour: measure the first call, to show what the cap prevents. */
      tk_decision_t d;
      int64_t t1 = tk_t_mono_ms();
      int crc = tk_check(h, "api", "k", 1, &d, &err);
      printf("%s: opened; first check %s in %lld ms (timeout %d ms)\n", ctx,
             tk_t_status_name(crc), (long long)(tk_t_mono_ms() - t1), SEED_TIMEOUT_MS);
      tk_free(h);
    }
    EXPECT_STATUS_CTX(ctx, rc, TK_E_INVALID);
    EXPECT_ERR_CTX(ctx, err, TK_E_INVALID);
    CHECKF(strstr(err.message, "64") != NULL && strstr(err.message, "seed") != NULL,
           "[%s] message \"%s\" does not name the limit of 64 seeds", ctx, err.message);
    EXPECT_LT(tk_t_mono_ms() - t0, 1000);
    free(url);
  }

  /* At the cap: opens; the first call stays inside its timeout (a bound, not a benchmark:
     2 x the timeout). Then a second call, which must not take longer. */
  for (size_t in_query = 0; in_query <= 32; in_query += 32) {
    char *url = seed_url(ports, SEEDS_CAP, in_query);
    if (!CHECK(url != NULL)) continue;
    tk_handle_t h = 0;
    tk_t_poison_err(&err);
    if (EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
      for (int call = 0; call < 2; call++) {
        tk_decision_t d;
        tk_t_poison_err(&err);
        int64_t t0 = tk_t_mono_ms();
        int rc = tk_check(h, "api", "k", 1, &d, &err);
        int64_t took = tk_t_mono_ms() - t0;
        printf("%d seeds (%zu as ?addr=), call %d: %s in %lld ms (timeout %d ms, bound %d ms)\n",
               SEEDS_CAP, in_query, call + 1, tk_t_status_name(rc), (long long)took,
               SEED_TIMEOUT_MS, SEED_BOUND_MS);
        EXPECT_STATUS2(rc, TK_E_UNAVAILABLE, TK_E_TIMEOUT);
        EXPECT_ERR(err, rc);
        EXPECT_LE(took, SEED_BOUND_MS);
      }
      EXPECT_OK(tk_free(h));
    }
    free(url);
  }
  free(ports);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--guard") == 0) return run_guard();
  test_struct_size();
  test_urls();
  test_seeds();
  return tk_t_finish();
}
