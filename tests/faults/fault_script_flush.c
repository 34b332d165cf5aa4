/*
 * fault_script_flush.c - SCRIPT FLUSH, again and again, while 8+ threads call through the
 * Redis door: no error reaches a caller (the library reloads the scripts transparently:
 * EVALSHA, NOSCRIPT, EVAL; for check_many, SCRIPT LOAD and the failed part of the pipeline
 * again).
 *
 * One redis-server this test starts itself. Groups: the Redis door, TK_FAIL_ERROR, 8 threads,
 * every operation (check, check_many, peek, forecast, debit); a second Redis-door handle, 4
 * threads, check_many only (the pipelined path); and, when the server binary is there, the
 * service door to a throttlekit-server on the same Redis (--store redis, --fail error), 4
 * threads. A flusher thread sends SCRIPT FLUSH every FLUSH_EVERY_MS for LOAD_MS. Every call
 * must be TK_OK with a real decision, within timeout + slack.
 */
#include "tk_fault.h"

#define LOAD_MS 6000
#define FLUSH_EVERY_MS 20

static ft_redis_t redis;
static atomic_long flushes, flush_failures;

static void *flusher(void *arg) {
  (void)arg;
  while (!atomic_load(&ft_stop)) {
    char reply[64] = "";
    if (tk_t_redis(redis.url, reply, sizeof reply, "SCRIPT", "FLUSH", NULL) == 0 &&
        strcmp(reply, "+OK") == 0)
      atomic_fetch_add(&flushes, 1);
    else
      atomic_fetch_add(&flush_failures, 1);
    tk_t_sleep_ms(FLUSH_EVERY_MS);
  }
  return NULL;
}

int main(void) {
  if (!CHECK(ft_init("script-flush"))) return tk_t_finish();
  if (!ft_redis_find(&redis) || !ft_redis_start(&redis)) return tk_t_finish();
  printf("redis-server %s on port %d\n", redis.binary, redis.port);
  ft_start_core();
  ft_have_goroutines();

  ft_server_t server;
  int have_server = ft_server_find(&server, ft_policies);
  if (have_server) {
    char ns[96];
    tk_t_namespace(ns, sizeof ns, "flush-srv");
    const char *extra[] = {"--redis", redis.url, "--redis-prefix", ns, "--fail", "error",
                           "--timeout", "300ms", NULL};
    memcpy(server.extra, extra, sizeof extra);
    have_server = ft_server_start(&server, "server.log");
    if (have_server) printf("throttlekit-server (store redis) on %s\n", server.addr);
  }

  ft_group_t ga = {.name = "redis/all-ops", .target = redis.url, .ops = FT_OPS_ALL, .nthreads = 8};
  ft_group_t gm = {.name = "redis/check_many", .target = redis.url, .ops = FT_OP_MANY, .nthreads = 4};
  ft_group_t gs = {.name = "service/redis-store", .target = server.addr, .service = 1,
                   .ops = FT_OPS_ALL, .nthreads = 4};
  ft_group_t *groups[] = {&ga, &gm, &gs};
  int ngroups = have_server ? 3 : 2;

  const int fd0 = tk_t_fd_count();
  const int64_t g0 = ft_goroutines();
  for (int i = 0; i < ngroups; i++) {
    ft_group_t *g = groups[i];
    g->h = g->service ? ft_open_service(g->target, TK_FAIL_ERROR, FT_TIMEOUT_MS)
                      : ft_open_redis(g->target, TK_FAIL_ERROR, FT_TIMEOUT_MS);
    if (!g->h) return tk_t_finish();
  }
  printf("before open: fds %d, goroutines %lld\n", fd0, (long long)g0);
  atomic_store(&ft_phase, FT_UP);
  ft_load_t load;
  if (!CHECK(ft_load_start(&load, groups, ngroups))) {
    ft_load_stop(&load);
    return tk_t_finish();
  }
  pthread_t ft;
  CHECK(pthread_create(&ft, NULL, flusher, NULL) == 0);
  tk_t_sleep_ms(LOAD_MS);
  printf("under load: fds %d, goroutines %lld\n", tk_t_fd_count(), (long long)ft_goroutines());
  ft_load_stop(&load);
  pthread_join(ft, NULL);
  printf("SCRIPT FLUSH sent %ld times in %d ms (%ld failed to send)\n", atomic_load(&flushes),
         LOAD_MS, atomic_load(&flush_failures));
  CHECKF(atomic_load(&flushes) >= LOAD_MS / FLUSH_EVERY_MS / 4, "only %ld flushes",
         atomic_load(&flushes));
  for (int i = 0; i < ngroups; i++) {
    ft_report_group(groups[i], 1u << FT_UP);
    EXPECT_EQ(atomic_load(&groups[i]->total.ok), atomic_load(&groups[i]->total.calls));
    EXPECT_OK(tk_free(groups[i]->h));
  }
  int fd_end = ft_fds_settle(fd0, FT_SETTLE_MS);
  int64_t g_end = tk_debug_goroutines ? ft_goroutines_settle(g0, FT_GOROUTINE_SLACK, FT_SETTLE_MS) : -2;
  printf("after tk_free: fds %d (before open %d), goroutines %lld (before open %lld)\n", fd_end,
         fd0, (long long)g_end, (long long)g0);
  EXPECT_EQ(fd_end, fd0);
  if (tk_debug_goroutines) EXPECT_LE(g_end, g0 + FT_GOROUTINE_SLACK);
  return tk_t_finish();
}
