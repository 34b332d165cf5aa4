/*
 * fault_server_kill.c - the service door while throttlekit-server is SIGKILLed mid-load and
 * restarted on the same port; once with the embedded store (--store memory), once with the
 * Redis store (a redis-server this test starts, --store redis). Then a frozen server
 * (SIGSTOP for 2 s, then SIGCONT; store memory): calls wait for their deadline, and must
 * return within timeout + slack.
 *
 * Groups: TK_FAIL_ERROR, 8 threads, every operation; TK_FAIL_OPEN, 8 threads, check,
 * check_many and peek. Up 2 s; SIGKILL (reaped before "down" starts); down 3 s: every call
 * answers TK_E_UNAVAILABLE / TK_E_TIMEOUT or (fail-open checks) a synthesized admission;
 * restart on the same port: real decisions again within RECOVER_BOUND_MS without reopening
 * the handles; 2 s more in which every call succeeds. Every call within timeout + slack; no
 * goroutine or descriptor leak (tk_fault.h, ft_run_scenario).
 */
#include "tk_fault.h"

#ifndef RECOVER_BOUND_MS
#define RECOVER_BOUND_MS 5000
#endif

static ft_server_t server;
static int restarts;

static int inject(void *ctx) {
  (void)ctx;
  pid_t pid = server.pid;
  if (kill(pid, SIGKILL) != 0) return 0;
  waitpid(pid, NULL, 0);
  ft_forget_child(pid);
  server.pid = 0;
  printf("  throttlekit-server (pid %ld) SIGKILLed\n", (long)pid);
  return 1;
}

static int heal(void *ctx) {
  const char *store = ctx;
  char log[64];
  snprintf(log, sizeof log, "server-%s-%d.log", store, ++restarts);
  int ok = ft_server_start(&server, log);
  if (ok) printf("  throttlekit-server restarted on %s (pid %ld)\n", server.addr, (long)server.pid);
  return ok;
}

static int stop_server(void *ctx) {
  (void)ctx;
  if (kill(server.pid, SIGSTOP) != 0) return 0;
  tk_t_sleep_ms(20);
  printf("  throttlekit-server (pid %ld) SIGSTOPped\n", (long)server.pid);
  return 1;
}

static int cont_server(void *ctx) {
  (void)ctx;
  printf("  throttlekit-server SIGCONTinued\n");
  return kill(server.pid, SIGCONT) == 0;
}

int main(void) {
  if (!CHECK(ft_init("server-kill"))) return tk_t_finish();
  if (!ft_server_find(&server, ft_policies)) return tk_t_finish();
  ft_redis_t redis;
  int have_redis = ft_redis_find(&redis) && ft_redis_start(&redis);
  ft_start_core();
  ft_have_goroutines();

  for (int which = 0; which < 3; which++) {
    const char *store = which != 1 ? "memory" : "redis";
    if (which == 1 && !have_redis) continue;
    char ns[96];
    tk_t_namespace(ns, sizeof ns, "srvkill");
    const char *extra_memory[] = {"--store", "memory", NULL};
    const char *extra_redis[] = {"--store", "redis", "--redis", redis.url, "--redis-prefix", ns,
                                 "--timeout", "300ms", NULL};
    memset(server.extra, 0, sizeof server.extra);
    memcpy(server.extra, which != 1 ? extra_memory : extra_redis,
           which != 1 ? sizeof extra_memory : sizeof extra_redis);
    server.port = 0;
    char log[64];
    snprintf(log, sizeof log, "server-%s-0.log", store);
    if (!ft_server_start(&server, log)) continue;
    printf("throttlekit-server (store %s) on %s (pid %ld)\n", store, server.addr, (long)server.pid);

    ft_group_t ge = {.name = "service/fail-error", .target = server.addr, .service = 1,
                     .ops = FT_OPS_ALL, .nthreads = 8};
    ft_group_t go = {.name = "service/fail-open", .target = server.addr, .service = 1,
                     .fail_open = 1, .ops = FT_OPS_CHECKS | FT_OP_PEEK, .nthreads = 8};
    ft_group_t *groups[] = {&ge, &go};
    char what[128];
    snprintf(what, sizeof what, "throttlekit-server (store %s) killed mid-load and restarted on "
             "the same port", store);
    ft_scenario_t s = {.what = what, .groups = groups, .ngroups = 2, .up_ms = 2000,
                       .down_ms = 3000, .up_again_ms = 2000, .recover_bound_ms = RECOVER_BOUND_MS,
                       .inject = inject, .heal = heal, .ctx = (void *)store};
    if (which == 2) { /* frozen, not dead: every call waits for its deadline */
      snprintf(what, sizeof what, "throttlekit-server (store memory) SIGSTOPped for 2 s "
               "mid-load, then SIGCONT");
      s.down_ms = 2000, s.inject = stop_server, s.heal = cont_server;
    }
    ft_run_scenario(&s);
    for (int i = 0; i < 2; i++)
      printf("  %s: slowest call while the server was down %.1f ms, overall %.1f ms; timeout "
             "%d ms, bound %lld ms\n", groups[i]->name,
             atomic_load(&groups[i]->phase[FT_DOWN].max_us) / 1000.0,
             atomic_load(&groups[i]->total.max_us) / 1000.0, FT_TIMEOUT_MS,
             (long long)ft_bound_us / 1000);
    ft_kill9(server.pid);
    server.pid = 0;
  }
  return tk_t_finish();
}
