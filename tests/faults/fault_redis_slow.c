/*
 * fault_redis_slow.c - a Redis that stops answering mid-load, twice: SIGSTOP (the process
 * frozen: connections are still accepted by the kernel, nothing is answered) for 2 s, then
 * SIGCONT; and DEBUG SLEEP 2 (Redis busy in one command for 2 s).
 *
 * Groups (redis-server started by this test): TK_FAIL_ERROR, 8 threads, every operation;
 * TK_FAIL_OPEN, 8 threads, check, check_many and peek. Every call is timed: the slowest must
 * be within timeout + slack (FT_TIMEOUT_MS + FT_SLACK_MS, tk_fault.h), in every phase. While
 * Redis is stalled, calls answer TK_E_TIMEOUT / TK_E_UNAVAILABLE (fail-open checks: a
 * synthesized admission); after it resumes, real decisions again within 3 s without
 * reopening; no goroutine or descriptor leak.
 */
#include "tk_fault.h"

static ft_redis_t redis;

static int stop_redis(void *ctx) {
  (void)ctx;
  if (kill(redis.pid, SIGSTOP) != 0) return 0;
  tk_t_sleep_ms(20); /* delivered: the process is stopped before "down" starts */
  printf("  redis-server (pid %ld) SIGSTOPped\n", (long)redis.pid);
  return 1;
}

static int cont_redis(void *ctx) {
  (void)ctx;
  printf("  redis-server SIGCONTinued\n");
  return kill(redis.pid, SIGCONT) == 0;
}

static pthread_t sleeper;
static atomic_int sleep_ok;

static void *debug_sleep(void *arg) {
  (void)arg;
  char reply[64] = "";
  /* tk_t_redis waits 2 s for the reply at most: DEBUG SLEEP 1.9 */
  if (tk_t_redis(redis.url, reply, sizeof reply, "DEBUG", "SLEEP", "1.9", NULL) == 0 &&
      strcmp(reply, "+OK") == 0)
    atomic_store(&sleep_ok, 1);
  else
    fprintf(stderr, "  DEBUG SLEEP answered \"%s\"\n", reply);
  return NULL;
}

static int start_sleep(void *ctx) {
  (void)ctx;
  if (pthread_create(&sleeper, NULL, debug_sleep, NULL) != 0) return 0;
  tk_t_sleep_ms(50); /* the command has reached Redis */
  printf("  DEBUG SLEEP 1.9 sent\n");
  return 1;
}

static int end_sleep(void *ctx) {
  (void)ctx;
  pthread_join(sleeper, NULL);
  printf("  DEBUG SLEEP returned\n");
  return atomic_load(&sleep_ok);
}

int main(void) {
  if (!CHECK(ft_init("redis-slow"))) return tk_t_finish();
  if (!ft_redis_find(&redis) || !ft_redis_start(&redis)) return tk_t_finish();
  printf("redis-server %s on port %d\n", redis.binary, redis.port);
  ft_start_core();
  ft_have_goroutines();

  for (int which = 0; which < 2; which++) {
    ft_group_t ge = {.name = "redis/fail-error", .target = redis.url, .ops = FT_OPS_ALL, .nthreads = 8};
    ft_group_t go = {.name = "redis/fail-open", .target = redis.url, .fail_open = 1,
                     .ops = FT_OPS_CHECKS | FT_OP_PEEK, .nthreads = 8};
    ft_group_t *groups[] = {&ge, &go};
    ft_scenario_t s = {.groups = groups, .ngroups = 2, .up_ms = 1500, .up_again_ms = 1500,
                       .recover_bound_ms = 3000};
    if (which == 0) {
      s.what = "Redis SIGSTOPped for 2 s mid-load, then SIGCONT";
      s.down_ms = 2000, s.inject = stop_redis, s.heal = cont_redis;
    } else {
      s.what = "DEBUG SLEEP 1.9 mid-load";
      s.down_ms = 1500, s.inject = start_sleep, s.heal = end_sleep;
    }
    ft_run_scenario(&s);
    for (int i = 0; i < 2; i++)
      printf("  %s: slowest call while Redis was stalled %.1f ms, overall %.1f ms; timeout %d "
             "ms, bound %lld ms\n", groups[i]->name,
             atomic_load(&groups[i]->phase[FT_DOWN].max_us) / 1000.0,
             atomic_load(&groups[i]->total.max_us) / 1000.0, FT_TIMEOUT_MS,
             (long long)ft_bound_us / 1000);
  }
  return tk_t_finish();
}
