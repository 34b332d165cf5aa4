/*
 * test_admission_async.c - asynchronous admission (tk_admit_async, tk_release_async) through
 * the completion queue, on the embedded engine (tk_open_memory) and the Redis door:
 *   - before any open both are TK_E_BADHANDLE;
 *   - a pinned policy (3/3): four admits complete as three allowed, each with a 32-hex lease id
 *     in message and the decisions tk_admit gives, and one refused with message
 *     "concurrency"; every cookie comes back exactly once;
 *   - tk_release_async frees the slot (TK_OK, message "", zero decision) and a new admit is
 *     allowed; an unknown id, "" and a second release are TK_OK; dropped = 1 works; leases of
 *     tk_admit and of tk_admit_async release through either function;
 *   - a unified policy refuses on its rate axis with message "rate";
 *   - bad input is returned at once and queues nothing (fd unreadable, tk_poll finds nothing):
 *     NULL or empty policy, NULL key, a key over 4,096 bytes, a negative or oversized cost,
 *     a NULL lease id (TK_E_INVALID), an unknown policy (TK_E_NOT_FOUND), a rate limiter
 *     (TK_E_UNSUPPORTED), handle 0 (TK_E_BADHANDLE);
 *   - Redis door with lease_heartbeat = 1 and a 300 ms TTL: an asynchronously admitted lease
 *     outlives its TTL (the handle renews it) until tk_release_async;
 *   - tk_free with admits in flight: each completes exactly once (TK_OK or TK_E_BADHANDLE);
 *     afterwards both functions answer TK_E_BADHANDLE;
 *   - fork: both answer TK_E_FORKED in a child;
 *   - the service door (a throttlekit-server started here, memory store): the pinned and
 *     unified scenarios; an unknown policy and a rate limiter arrive as completions
 *     (TK_E_NOT_FOUND, TK_E_UNSUPPORTED), the server knowing the policies.
 * Needs THROTTLEKIT_REDIS_URL for the Redis part and the server binary ($THROTTLEKIT_SERVER,
 * else <repo>/build/bin/throttlekit-server) for the service door; each skips without (fails
 * when CI=true).
 */
#include "tk_test_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define TIMEOUT_MS 5000
#define POW2_53 ((int64_t)1 << 53)

static const char *policies =
    "limiters:\n"
    "  cc: { concurrency: { minLimit: 3, maxLimit: 3 } }\n"
    "  single: { concurrency: { minLimit: 1, maxLimit: 1 } }\n"
    "  unified: { strategy: gcra, limit: 2, period: 1h, burst: 2, concurrency: { minLimit: 5, maxLimit: 5 } }\n"
    "  api: { strategy: gcra, limit: 5, period: 1s }\n";

static char ns[128];
static tk_error_t err;

#define ST(want, call)                                                                        \
  do {                                                                                        \
    int rc_ = (call);                                                                         \
    EXPECT_STATUS_CTX(#call, rc_, want);                                                      \
    if (rc_ != (want)) fprintf(stderr, "    message: %s\n", err.message);                     \
  } while (0)

static int readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Collects completions of h until want arrived or bound_ms passed; returns how many. */
static size_t collect(tk_handle_t h, tk_completion_t *out, size_t want, int64_t bound_ms) {
  int fd = -1;
  if (tk_completion_fd(h, &fd, &err) != TK_OK) return 0;
  size_t got = 0;
  int64_t deadline = tk_t_mono_ms() + bound_ms;
  while (got < want) {
    int64_t left = deadline - tk_t_mono_ms();
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, (int)left);
    if (rc <= 0) continue;
    size_t n = 0;
    if (tk_poll(h, out + got, want - got, &n) != TK_OK) break;
    got += n;
  }
  return got;
}

/* One completion, for cookie, within the timeout. */
static int one(tk_handle_t h, uint64_t cookie, tk_completion_t *c) {
  memset(c, 0, sizeof *c);
  if (!EXPECT_EQ(collect(h, c, 1, TIMEOUT_MS + 1000), 1)) return 0;
  return EXPECT_EQ(c->cookie, cookie);
}

static int is_lease_id(const char *s) {
  if (strlen(s) != 32) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

/* Admits asynchronously and returns the completion's allowed flag (lease copied to lease). */
static int admit_one(tk_handle_t h, const char *policy, const char *key, uint64_t cookie,
                     char lease[40]) {
  tk_completion_t c;
  lease[0] = '\0';
  ST(TK_OK, tk_admit_async(h, policy, key, 1, cookie, &err));
  if (!one(h, cookie, &c) || !EXPECT_OK(c.status)) return -1;
  if (c.decision.allowed) snprintf(lease, 40, "%.39s", c.message);
  return c.decision.allowed;
}

static void release_one(tk_handle_t h, const char *policy, const char *key, const char *lease,
                        int dropped, uint64_t cookie) {
  tk_completion_t c;
  ST(TK_OK, tk_release_async(h, policy, key, lease, dropped, cookie, &err));
  if (!one(h, cookie, &c)) return;
  EXPECT_OK(c.status);
  EXPECT_STREQ(c.message, "");
  CHECK(all_zero(&c.decision, sizeof c.decision));
  EXPECT_EQ(c.reserved0, 0);
}

/* ---- The scenarios, on either door --------------------------------------------------------- */

static void test_pinned(tk_handle_t h) {
  tk_completion_t c[4];
  for (uint64_t i = 0; i < 4; i++) ST(TK_OK, tk_admit_async(h, "cc", "k", 0, 100 + i, &err));
  if (!EXPECT_EQ(collect(h, c, 4, TIMEOUT_MS + 1000), 4)) return;
  int seen[4] = {0}, allowed = 0, refused = 0;
  char leases[4][40] = {{0}};
  for (int i = 0; i < 4; i++) {
    CHECK(c[i].cookie >= 100 && c[i].cookie < 104);
    if (c[i].cookie < 100 || c[i].cookie >= 104) continue;
    seen[c[i].cookie - 100]++;
    EXPECT_OK(c[i].status);
    EXPECT_EQ(c[i].reserved0, 0);
    EXPECT_EQ(c[i].decision.limit, 3);
    if (c[i].decision.allowed) {
      CHECKF(is_lease_id(c[i].message), "lease id \"%s\"", c[i].message);
      snprintf(leases[allowed], 40, "%.39s", c[i].message);
      allowed++;
    } else {
      EXPECT_STREQ(c[i].message, "concurrency");
      EXPECT_EQ(c[i].decision.remaining, 0);
      EXPECT_GE(c[i].decision.retry_after_ms, 1);
      refused++;
    }
  }
  for (int i = 0; i < 4; i++) EXPECT_EQ(seen[i], 1);
  EXPECT_EQ(allowed, 3);
  EXPECT_EQ(refused, 1);
  CHECK(strcmp(leases[0], leases[1]) != 0 && strcmp(leases[1], leases[2]) != 0);

  /* release frees the slot; idempotent; unknown and "" are TK_OK */
  char lease[40];
  EXPECT_EQ(admit_one(h, "cc", "k", 200, lease), 0);
  release_one(h, "cc", "k", leases[0], 0, 201);
  EXPECT_EQ(admit_one(h, "cc", "k", 202, lease), 1);
  release_one(h, "cc", "k", leases[0], 0, 203);
  release_one(h, "cc", "k", "00000000000000000000000000000000", 0, 204);
  release_one(h, "cc", "k", "", 0, 205);
  release_one(h, "cc", "k", leases[1], 1, 206); /* dropped: a pinned limit stays 3 */

  /* leases of either kind release through either function */
  tk_admission_t a;
  ST(TK_OK, tk_admit(h, "cc", "k", 1, &a, &err));
  EXPECT_EQ(a.decision.allowed, 1);
  release_one(h, "cc", "k", a.lease_id, 0, 207);
  EXPECT_EQ(admit_one(h, "cc", "k", 208, leases[1]), 1);
  ST(TK_OK, tk_release(h, "cc", "k", leases[1], 0, &err));
  ST(TK_OK, tk_release(h, "cc", "k", leases[2], 0, &err));
  ST(TK_OK, tk_release(h, "cc", "k", lease, 0, &err));
  /* all free again: three admits pass */
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(admit_one(h, "cc", "k", 210 + (uint64_t)i, leases[i]), 1);
  }
  for (int i = 0; i < 3; i++) release_one(h, "cc", "k", leases[i], 0, 220 + (uint64_t)i);
}

static void test_unified(tk_handle_t h) {
  char l1[40], l2[40];
  EXPECT_EQ(admit_one(h, "unified", "u", 300, l1), 1);
  EXPECT_EQ(admit_one(h, "unified", "u", 301, l2), 1);
  tk_completion_t c;
  ST(TK_OK, tk_admit_async(h, "unified", "u", 1, 302, &err));
  if (one(h, 302, &c)) {
    EXPECT_OK(c.status);
    EXPECT_EQ(c.decision.allowed, 0);
    EXPECT_STREQ(c.message, "rate");
  }
  release_one(h, "unified", "u", l1, 0, 303);
  release_one(h, "unified", "u", l2, 0, 304);
}

static void expect_nothing_queued(tk_handle_t h) {
  int fd = -1;
  EXPECT_OK(tk_completion_fd(h, &fd, &err));
  tk_t_sleep_ms(20);
  EXPECT_EQ(readable(fd), 0);
  tk_completion_t c;
  size_t n = 9;
  EXPECT_OK(tk_poll(h, &c, 1, &n));
  EXPECT_EQ(n, 0);
}

static void test_bad_input(tk_handle_t h) {
  static char long_key[4098];
  memset(long_key, 'k', sizeof long_key - 1);
  const char *lease = "00000000000000000000000000000000";
  ST(TK_E_INVALID, tk_admit_async(h, NULL, "k", 1, 1, &err));
  ST(TK_E_INVALID, tk_admit_async(h, "", "k", 1, 1, &err));
  ST(TK_E_INVALID, tk_admit_async(h, "cc", NULL, 1, 1, &err));
  ST(TK_E_INVALID, tk_admit_async(h, "cc", long_key, 1, 1, &err));
  ST(TK_E_INVALID, tk_admit_async(h, "cc", "k", -1, 1, &err));
  ST(TK_E_INVALID, tk_admit_async(h, "cc", "k", POW2_53, 1, &err));
  ST(TK_E_NOT_FOUND, tk_admit_async(h, "nope", "k", 1, 1, &err));
  ST(TK_E_UNSUPPORTED, tk_admit_async(h, "api", "k", 1, 1, &err));
  ST(TK_E_BADHANDLE, tk_admit_async(0, "cc", "k", 1, 1, &err));
  ST(TK_E_BADHANDLE, tk_admit_async(h + 1000000, "cc", "k", 1, 1, &err));
  EXPECT_OK(tk_admit_async(h, "cc", "k", 1, 1, NULL)); /* err may be NULL */
  tk_completion_t c;
  if (one(h, 1, &c) && EXPECT_OK(c.status) && c.decision.allowed) release_one(h, "cc", "k", c.message, 0, 2);

  ST(TK_E_INVALID, tk_release_async(h, NULL, "k", lease, 0, 1, &err));
  ST(TK_E_INVALID, tk_release_async(h, "", "k", lease, 0, 1, &err));
  ST(TK_E_INVALID, tk_release_async(h, "cc", NULL, lease, 0, 1, &err));
  ST(TK_E_INVALID, tk_release_async(h, "cc", long_key, lease, 0, 1, &err));
  ST(TK_E_INVALID, tk_release_async(h, "cc", "k", NULL, 0, 1, &err));
  ST(TK_E_NOT_FOUND, tk_release_async(h, "nope", "k", lease, 0, 1, &err));
  ST(TK_E_UNSUPPORTED, tk_release_async(h, "api", "k", lease, 0, 1, &err));
  ST(TK_E_BADHANDLE, tk_release_async(0, "cc", "k", lease, 0, 1, &err));
  EXPECT_EQ(err.status, TK_E_BADHANDLE);
  CHECK(err.message[0] != '\0');
  expect_nothing_queued(h);
}

/* Admits in flight when tk_free runs complete exactly once; then BADHANDLE everywhere. */
static void test_free(tk_handle_t h) {
  enum { N = 50 };
  for (uint64_t i = 0; i < N; i++) ST(TK_OK, tk_admit_async(h, "cc", "free", 1, 500 + i, &err));
  EXPECT_OK(tk_free(h));
  tk_completion_t c[N + 1];
  size_t got = 0, n = 0;
  while (got < N + 1 && tk_poll(h, c + got, N + 1 - got, &n) == TK_OK && n > 0) got += n;
  EXPECT_EQ(got, N);
  int seen[N] = {0};
  for (size_t i = 0; i < got; i++) {
    if (!CHECK(c[i].cookie >= 500 && c[i].cookie < 500 + N)) continue;
    seen[c[i].cookie - 500]++;
    EXPECT_STATUS2(c[i].status, TK_OK, TK_E_BADHANDLE);
  }
  for (int i = 0; i < N; i++) EXPECT_EQ(seen[i], 1);
  ST(TK_E_BADHANDLE, tk_admit_async(h, "cc", "k", 1, 1, &err));
  ST(TK_E_BADHANDLE, tk_release_async(h, "cc", "k", "x", 0, 1, &err));
}

static void test_fork(tk_handle_t h) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int a = tk_admit_async(h, "cc", "k", 1, 1, NULL);
    int r = tk_release_async(h, "cc", "k", "x", 0, 1, NULL);
    _exit(a == TK_E_FORKED && r == TK_E_FORKED ? 0 : 1);
  }
  int status = 0;
  if (CHECK(pid > 0) && CHECK(waitpid(pid, &status, 0) == pid))
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

/* lease_heartbeat = 1: the handle renews what tk_admit_async issued until it is released. */
static void test_heartbeat(const char *url) {
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = TIMEOUT_MS;
  o.lease_ttl_ms = 300;
  o.lease_heartbeat = 1;
  tk_handle_t h = 0;
  ST(TK_OK, tk_open_redis(url, policies, &o, &h, &err));
  if (!h) return;
  char lease[40], other[40];
  EXPECT_EQ(admit_one(h, "single", "hb", 600, lease), 1);
  tk_t_sleep_ms(1200); /* four TTLs */
  EXPECT_EQ(admit_one(h, "single", "hb", 601, other), 0);
  release_one(h, "single", "hb", lease, 0, 602);
  EXPECT_EQ(admit_one(h, "single", "hb", 603, other), 1);
  release_one(h, "single", "hb", other, 0, 604);
  tk_free(h);
}

/* ---- The service door ---------------------------------------------------------------------- */

static tk_t_server_t server;

static void stop_server(void) { tk_t_server_cleanup(&server); }

/* Starts the server on a free port with the policies; its address into addr. */
static int start_server(char *addr, size_t size) {
  return tk_t_server_start(&server, "admit-async", policies, addr, size);
}

static void test_service(void) {
  char addr[256];
  if (!start_server(addr, sizeof addr)) {
    stop_server();
    return;
  }
  printf("-- service (%s)\n", addr);
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = TIMEOUT_MS;
  tk_handle_t h = 0;
  ST(TK_OK, tk_open_service(addr, &o, &h, &err));
  if (h) {
    test_pinned(h);
    test_unified(h);
    tk_completion_t c;
    ST(TK_OK, tk_admit_async(h, "nope", "k", 1, 700, &err));
    if (one(h, 700, &c)) EXPECT_STATUS(c.status, TK_E_NOT_FOUND);
    ST(TK_OK, tk_admit_async(h, "api", "k", 1, 701, &err));
    if (one(h, 701, &c)) EXPECT_STATUS(c.status, TK_E_UNSUPPORTED);
    ST(TK_E_INVALID, tk_admit_async(h, "cc", "k", -1, 702, &err));
    ST(TK_E_INVALID, tk_release_async(h, "cc", "k", NULL, 0, 703, &err));
    tk_free(h);
  }
  stop_server();
}

static void run_door(const char *name, tk_handle_t h) {
  printf("-- %s\n", name);
  test_pinned(h);
  test_unified(h);
  test_bad_input(h);
}

int main(void) {
  ST(TK_E_BADHANDLE, tk_admit_async(1, "cc", "k", 1, 1, &err));
  ST(TK_E_BADHANDLE, tk_release_async(1, "cc", "k", "x", 0, 1, &err));

  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = TIMEOUT_MS;
  tk_handle_t mem = 0;
  ST(TK_OK, tk_open_memory(policies, &o, &mem, &err));
  if (mem) {
    run_door("memory", mem);
    test_fork(mem);
    test_free(mem);
  }

  const char *url = tk_t_redis_url("the Redis door's asynchronous admission");
  if (url) {
    tk_t_namespace(ns, sizeof ns, "admission-async");
    o.key_namespace = ns;
    tk_handle_t h = 0;
    ST(TK_OK, tk_open_redis(url, policies, &o, &h, &err));
    if (h) {
      run_door("redis", h);
      test_heartbeat(url);
      test_free(h);
    }
  }
  test_service();
  return tk_t_finish();
}
