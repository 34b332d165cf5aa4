/*
 * fault_redis_kill.c - the Redis door while its redis-server is SIGKILLed mid-load and
 * restarted on the same port.
 *
 * Two handles on one redis-server this test starts itself: TK_FAIL_ERROR (8 threads: check,
 * check_many, peek, forecast, debit) and TK_FAIL_OPEN (8 threads: check, check_many, peek).
 * Up 2 s; SIGKILL (reaped before the "down" phase starts); down 3 s: every call that starts
 * and ends in it answers TK_E_UNAVAILABLE / TK_E_TIMEOUT, or, fail-open checks, a synthesized
 * admission; restart on the same port: both handles make real decisions again within 3 s,
 * without being reopened; then 2 s in which every call succeeds. Every call (all phases)
 * within timeout + slack. No goroutine or descriptor leak (tk_fault.h, ft_run_scenario).
 */
#include "tk_fault.h"

static ft_redis_t redis;

static int inject(void *ctx) {
  (void)ctx;
  pid_t pid = redis.pid;
  if (kill(pid, SIGKILL) != 0) return 0;
  waitpid(pid, NULL, 0);
  ft_forget_child(pid);
  redis.pid = 0;
  printf("  redis-server (pid %ld) SIGKILLed\n", (long)pid);
  return 1;
}

static int heal(void *ctx) {
  (void)ctx;
  int ok = ft_redis_start(&redis);
  if (ok) printf("  redis-server restarted on port %d (pid %ld)\n", redis.port, (long)redis.pid);
  return ok;
}

int main(void) {
  if (!CHECK(ft_init("redis-kill"))) return tk_t_finish();
  if (!ft_redis_find(&redis) || !ft_redis_start(&redis)) return tk_t_finish();
  printf("redis-server %s on port %d\n", redis.binary, redis.port);
  ft_start_core();
  ft_have_goroutines();

  for (int cycle = 1; cycle <= 2; cycle++) {
    ft_group_t ge = {.name = "redis/fail-error", .target = redis.url, .ops = FT_OPS_ALL, .nthreads = 8};
    ft_group_t go = {.name = "redis/fail-open", .target = redis.url, .fail_open = 1,
                     .ops = FT_OPS_CHECKS | FT_OP_PEEK, .nthreads = 8};
    ft_group_t *groups[] = {&ge, &go};
    char what[96];
    snprintf(what, sizeof what, "Redis killed mid-load and restarted on the same port (cycle %d)", cycle);
    ft_scenario_t s = {.what = what, .groups = groups, .ngroups = 2, .up_ms = 2000,
                       .down_ms = 3000, .up_again_ms = 2000, .recover_bound_ms = 3000,
                       .inject = inject, .heal = heal};
    ft_run_scenario(&s);
  }
  return tk_t_finish();
}
