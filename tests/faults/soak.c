/*
 * soak.c - sustained load through the C ABI for SOAK_SECONDS (default 60; `make bench` runs
 * 600), then leak checks.
 *
 * A redis-server and a throttlekit-server (store memory) this test starts itself. Load:
 *   - the Redis door, 8 threads, every operation (check, check_many, peek, forecast, debit);
 *   - the service door, 4 threads, every operation;
 *   - a churn thread: every CHURN_EVERY_MS, a handle opened (Redis and service door in turn),
 *     3 checks, tk_free (leaks per handle show up as growth).
 * Every call must be TK_OK with a real decision, within timeout (SOAK_TIMEOUT_MS) + slack.
 * Figures are printed at the start, every PROGRESS_EVERY_S seconds and at the end. Asserted:
 *   - RSS growth under 10% between the end of the warm-up (SOAK_SECONDS / 6, at least 5 s and
 *     at most 60 s) and the end of the load;
 *   - goroutines within 5 of the count before the load (handles open, idle) once the load
 *     has stopped;
 *   - after tk_free of every handle: open descriptors (/proc/self/fd) equal to, and goroutines
 *     within 5 of, the counts before the handles were opened.
 */
#include "tk_fault.h"

#define SOAK_TIMEOUT_MS 1000
#define CHURN_EVERY_MS 50
#define PROGRESS_EVERY_S 10
#define RSS_GROWTH_MAX_PCT 10.0

static ft_redis_t redis;
static ft_server_t server;
static atomic_long churn_cycles, churn_failures;

static void *churn(void *arg) {
  (void)arg;
  for (long i = 0; !atomic_load(&ft_stop); i++) {
    tk_options_t o;
    tk_options_init(&o);
    o.timeout_ms = SOAK_TIMEOUT_MS;
    tk_handle_t h = 0;
    tk_error_t err;
    int rc = i % 2 ? tk_open_service(server.addr, &o, &h, &err)
                   : tk_open_redis(redis.url, ft_policies, &o, &h, &err);
    for (int k = 0; rc == TK_OK && k < 3; k++) {
      tk_decision_t d;
      rc = tk_check(h, "api", "churn", 1, &d, &err);
    }
    if (h && tk_free(h) != TK_OK && rc == TK_OK) rc = TK_E_INTERNAL;
    if (rc != TK_OK && atomic_fetch_add(&churn_failures, 1) < 5)
      fprintf(stderr, "  churn (%s door): %s: %s\n", i % 2 ? "service" : "Redis",
              tk_t_status_name(rc), err.message);
    atomic_fetch_add(&churn_cycles, 1);
    tk_t_sleep_ms(CHURN_EVERY_MS);
  }
  return NULL;
}

static long total_calls(ft_group_t **g, int n) {
  long c = 0;
  for (int i = 0; i < n; i++) c += atomic_load(&g[i]->total.calls);
  return c;
}

int main(void) {
  const char *env = getenv("SOAK_SECONDS");
  int soak_s = env && *env ? atoi(env) : 60;
  if (soak_s < 10) soak_s = 10;
  int warm_s = soak_s / 6 < 5 ? 5 : soak_s / 6 > 60 ? 60 : soak_s / 6;
  ft_timeout_ms = SOAK_TIMEOUT_MS;

  if (!CHECK(ft_init("soak"))) return tk_t_finish();
  if (!ft_redis_find(&redis) || !ft_redis_start(&redis)) return tk_t_finish();
  if (!ft_server_find(&server, ft_policies)) return tk_t_finish();
  server.extra[0] = "--store", server.extra[1] = "memory";
  if (!ft_server_start(&server, "server.log")) return tk_t_finish();
  printf("redis-server on port %d, throttlekit-server (store memory) on %s\n", redis.port,
         server.addr);
  ft_start_core();
  const int have_g = ft_have_goroutines();

  const int fd0 = tk_t_fd_count();
  const int64_t g0 = ft_goroutines();
  ft_group_t gr = {.name = "redis", .target = redis.url, .ops = FT_OPS_ALL, .nthreads = 8};
  ft_group_t gs = {.name = "service", .target = server.addr, .service = 1, .ops = FT_OPS_ALL,
                   .nthreads = 4};
  ft_group_t *groups[] = {&gr, &gs};
  gr.h = ft_open_redis(redis.url, TK_FAIL_ERROR, SOAK_TIMEOUT_MS);
  gs.h = ft_open_service(server.addr, TK_FAIL_ERROR, SOAK_TIMEOUT_MS);
  if (!gr.h || !gs.h) return tk_t_finish();
  for (int i = 0; i < 2; i++) {
    tk_decision_t d;
    tk_error_t err;
    int rc = tk_check(groups[i]->h, "api", "warm", 1, &d, &err);
    CHECKF(rc == TK_OK, "[%s] first check: %s %s", groups[i]->name, tk_t_status_name(rc), err.message);
  }
  const int64_t g_idle = ft_goroutines();
  const int fd_idle = tk_t_fd_count();
  printf("soak start: %d s of load (warm-up %d s), 12 threads + churn; timeout %d ms, bound %d ms\n",
         soak_s, warm_s, SOAK_TIMEOUT_MS, SOAK_TIMEOUT_MS + ft_slack_ms());
  printf("soak start: before open: fds %d, goroutines %lld, RSS %ld kB; handles open and idle: "
         "fds %d, goroutines %lld, RSS %ld kB\n", fd0, (long long)g0, ft_rss_kb(), fd_idle,
         (long long)g_idle, ft_rss_kb());

  atomic_store(&ft_phase, FT_UP);
  ft_load_t load;
  if (!CHECK(ft_load_start(&load, groups, 2))) {
    ft_load_stop(&load);
    return tk_t_finish();
  }
  pthread_t churner;
  CHECK(pthread_create(&churner, NULL, churn, NULL) == 0);

  const int64_t t0 = tk_t_mono_ms();
  long rss_warm = -1, rss_peak = 0;
  int fd_warm = -1;
  int64_t g_warm = -1;
  long last_calls = 0;
  for (int s = 1; s <= soak_s; s++) {
    int64_t next = t0 + (int64_t)s * 1000, now = tk_t_mono_ms();
    if (next > now) tk_t_sleep_ms(next - now);
    long rss = ft_rss_kb();
    if (rss > rss_peak) rss_peak = rss;
    if (s == warm_s) {
      rss_warm = rss, fd_warm = tk_t_fd_count(), g_warm = ft_goroutines();
      printf("soak %4d s: warm-up done: RSS %ld kB, fds %d, goroutines %lld (the baseline of "
             "the RSS check)\n", s, rss_warm, fd_warm, (long long)g_warm);
    } else if (s % PROGRESS_EVERY_S == 0 || s == soak_s) {
      long calls = total_calls(groups, 2);
      printf("soak %4d s: calls %ld (%ld/s), churn cycles %ld, RSS %ld kB, fds %d, goroutines "
             "%lld\n", s, calls, (calls - last_calls) / PROGRESS_EVERY_S,
             atomic_load(&churn_cycles), rss, tk_t_fd_count(), (long long)ft_goroutines());
      last_calls = calls;
    }
  }
  const long rss_end = ft_rss_kb();
  const int fd_end_load = tk_t_fd_count();
  const int64_t g_end_load = ft_goroutines();
  ft_load_stop(&load);
  pthread_join(churner, NULL);
  const double growth = rss_warm > 0 ? 100.0 * (double)(rss_end - rss_warm) / (double)rss_warm : 0;

  int64_t g_after = have_g ? ft_goroutines_settle(g_idle, FT_GOROUTINE_SLACK, FT_SETTLE_MS) : -2;
  EXPECT_OK(tk_free(gr.h));
  EXPECT_OK(tk_free(gs.h));
  int fd_free = ft_fds_settle(fd0, FT_SETTLE_MS);
  int64_t g_free = have_g ? ft_goroutines_settle(g0, FT_GOROUTINE_SLACK, FT_SETTLE_MS) : -2;

  printf("soak end: %ld calls in %d s, churn cycles %ld (%ld failed)\n", total_calls(groups, 2),
         soak_s, atomic_load(&churn_cycles), atomic_load(&churn_failures));
  printf("soak end: RSS after warm-up %ld kB, at the end %ld kB (%+.1f%%, limit %.0f%%), peak "
         "%ld kB\n", rss_warm, rss_end, growth, RSS_GROWTH_MAX_PCT, rss_peak);
  printf("soak end: goroutines: after warm-up %lld, at the end of the load %lld, before the "
         "load %lld, after it %lld; before open %lld, after tk_free %lld\n", (long long)g_warm,
         (long long)g_end_load, (long long)g_idle, (long long)g_after, (long long)g0,
         (long long)g_free);
  printf("soak end: fds: after warm-up %d, at the end of the load %d; before open %d, after "
         "tk_free %d\n", fd_warm, fd_end_load, fd0, fd_free);
  for (int i = 0; i < 2; i++) {
    ft_report_group(groups[i], 1u << FT_UP);
    EXPECT_EQ(atomic_load(&groups[i]->total.ok), atomic_load(&groups[i]->total.calls));
  }
  EXPECT_EQ(atomic_load(&churn_failures), 0);
  CHECK(atomic_load(&churn_cycles) > 0);
  CHECKF(rss_warm > 0 && growth < RSS_GROWTH_MAX_PCT, "RSS grew %.1f%% (%ld -> %ld kB) after the "
         "warm-up, limit %.0f%%", growth, rss_warm, rss_end, RSS_GROWTH_MAX_PCT);
  if (have_g) {
    CHECKF(g_after <= g_idle + FT_GOROUTINE_SLACK, "%lld goroutines after the load, %lld before "
           "it", (long long)g_after, (long long)g_idle);
    CHECKF(g_free <= g0 + FT_GOROUTINE_SLACK, "%lld goroutines after tk_free, %lld before open",
           (long long)g_free, (long long)g0);
  }
  CHECKF(fd_free == fd0, "%d descriptors open after tk_free, %d before open", fd_free, fd0);
  return tk_t_finish();
}
