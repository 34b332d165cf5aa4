/*
 * tk_fault.h - the shared harness of ThrottleKit's fault-injection and soak tests
 * (tests/faults/). Header-only, like tests/c/tk_test.h, whose assertions and summary line it
 * uses.
 *
 * What it gives a test program:
 *   - its own children: a redis-server on a port of its choosing, in a temporary directory
 *     (so that the test may SIGKILL, SIGSTOP or restart it on the same port without
 *     disturbing anybody), and a throttlekit-server. Every child is killed on every exit path
 *     (atexit, and PR_SET_PDEATHSIG when the test dies without running atexit);
 *   - process figures: RSS (VmRSS), open descriptors (/proc/self/fd), the Go core's
 *     goroutines (tk_debug_goroutines);
 *   - a load generator: groups of threads, each group on one handle, calling the C ABI in a
 *     loop while the main thread injects faults. Every call is timed; each call is judged
 *     against the phase in which it started and ended (see ft_phase_t).
 *
 * Bounds (documented here, printed by every test):
 *   FT_TIMEOUT_MS  the handles' timeout_ms in the fault tests.
 *   FT_SLACK_MS    what a call may take beyond its timeout: the library's own work after the
 *                  deadline (returning through cgo, filling the structs) plus the scheduling of
 *                  16+ busy threads, redis-server and the Go runtime on a 2-core machine. A
 *                  call over timeout + slack is a failure. Override with FT_SLACK_MS=N.
 */
#ifndef TK_FAULT_H
#define TK_FAULT_H

#include "../c/tk_test_net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

/* Declared again, weak: a library built before tk_debug_goroutines existed still links and
   runs (the goroutine checks then report that they could not run). */
int64_t tk_debug_goroutines(void) __attribute__((weak));

#define FT_TIMEOUT_MS 300
#define FT_ERROR_PAUSE_MS 1 /* a worker's pause after an error or a synthesized decision */
#define FT_SLACK_MS_DEFAULT 200

static TK_T_UNUSED int ft_slack_ms(void) {
  const char *s = getenv("FT_SLACK_MS");
  return s && *s ? atoi(s) : FT_SLACK_MS_DEFAULT;
}

static TK_T_UNUSED int ft_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

/* A dependency is missing: a skip, or a failure under CI=true. */
#define FT_MISSING(...)                                                                      \
  do {                                                                                       \
    if (ft_ci())                                                                             \
      tk_t_failf(__FILE__, __LINE__, "CI=true and a dependency is missing: " __VA_ARGS__);   \
    else                                                                                     \
      tk_t_skip(__VA_ARGS__);                                                                \
  } while (0)

/* ---- Process figures ------------------------------------------------------------------- */

static TK_T_UNUSED long ft_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = atol(line + 6);
      break;
    }
  fclose(f);
  return kb;
}

/* The core's goroutines, -1 before the core started, -2 when the library lacks the call. */
static TK_T_UNUSED int64_t ft_goroutines(void) {
  if (!tk_debug_goroutines) return -2;
  return tk_debug_goroutines();
}

/* After load: polls until the goroutines are within slack of baseline (or bound_ms passed);
   returns the last count. */
static TK_T_UNUSED int64_t ft_goroutines_settle(int64_t baseline, int slack, int bound_ms) {
  int64_t t0 = tk_t_mono_ms(), g = ft_goroutines();
  while (g > baseline + slack && tk_t_mono_ms() - t0 < bound_ms) {
    tk_t_sleep_ms(50);
    g = ft_goroutines();
  }
  return g;
}

/* Descriptors may close a moment after tk_free (a transport's goroutine): polls for want. */
static TK_T_UNUSED int ft_fds_settle(int want, int bound_ms) {
  int64_t t0 = tk_t_mono_ms();
  int n = tk_t_fd_count();
  while (n != want && tk_t_mono_ms() - t0 < bound_ms) {
    tk_t_sleep_ms(50);
    n = tk_t_fd_count();
  }
  return n;
}

/* Whether the goroutine checks can run; records a skip (failure under CI) when not. */
static TK_T_UNUSED int ft_have_goroutines(void) {
  if (tk_debug_goroutines) return 1;
  FT_MISSING("the library has no tk_debug_goroutines: goroutine checks not run (make lib)");
  return 0;
}

/* ---- Children ------------------------------------------------------------------------------ */

#define FT_MAX_CHILDREN 16
static pid_t ft_children[FT_MAX_CHILDREN];
static char ft_tmp[256];   /* this test's temporary directory */

static void ft_forget_child(pid_t pid) {
  for (int i = 0; i < FT_MAX_CHILDREN; i++)
    if (ft_children[i] == pid) ft_children[i] = 0;
}

static void ft_cleanup(void) {
  for (int i = 0; i < FT_MAX_CHILDREN; i++)
    if (ft_children[i] > 0) {
      kill(ft_children[i], SIGCONT);
      kill(ft_children[i], SIGKILL);
      waitpid(ft_children[i], NULL, 0);
      ft_children[i] = 0;
    }
  if (ft_tmp[0]) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ft_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", ft_tmp);
  }
}

/* Call first in main: a temporary directory, cleanup at exit, SIGPIPE ignored (the tests
   write to sockets of servers they kill). */
static TK_T_UNUSED int ft_init(const char *name) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(ft_tmp, sizeof ft_tmp, "/tmp/tkfault-%s-XXXXXX", name);
  if (!mkdtemp(ft_tmp)) {
    ft_tmp[0] = '\0';
    return 0;
  }
  atexit(ft_cleanup);
  return 1;
}

/* A program on PATH (or an absolute path) that can be executed, into buf; 0 if none. */
static TK_T_UNUSED int ft_which(const char *prog, char *buf, size_t size) {
  if (strchr(prog, '/')) {
    snprintf(buf, size, "%s", prog);
    return access(buf, X_OK) == 0;
  }
  const char *path = getenv("PATH");
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path ? path : "/usr/bin:/bin");
  for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    snprintf(buf, size, "%s/%s", dir, prog);
    if (access(buf, X_OK) == 0) return 1;
  }
  return 0;
}

/* fork + exec argv with stdout and stderr appended to log_path. The child is killed with this
   process. Must be called from the main thread (PR_SET_PDEATHSIG follows the forking thread).
   The Go runtime may run in this process: the child makes async-signal-safe calls only. */
static TK_T_UNUSED pid_t ft_spawn(const char *const *argv, const char *log_path) {
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    if (log_fd >= 0) close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return -1;
  }
  pid_t parent = getpid();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(126);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  if (pid > 0)
    for (int i = 0; i < FT_MAX_CHILDREN; i++)
      if (ft_children[i] == 0) {
        ft_children[i] = pid;
        break;
      }
  return pid;
}

/* SIGKILL (and SIGCONT, for a stopped child) and reap. */
static TK_T_UNUSED void ft_kill9(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  kill(pid, SIGCONT);
  waitpid(pid, NULL, 0);
  ft_forget_child(pid);
}

static TK_T_UNUSED void ft_dump_log(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return;
  char line[1024];
  int n = 0;
  fprintf(stderr, "  --- %s (last lines) ---\n", path);
  long lines = 0;
  while (fgets(line, sizeof line, f)) lines++;
  rewind(f);
  while (fgets(line, sizeof line, f))
    if (++n > lines - 30) fprintf(stderr, "  | %s", line);
  fclose(f);
}

/* ---- redis-server ------------------------------------------------------------------------ */

typedef struct {
  char binary[PATH_MAX];
  int port;
  pid_t pid;
  char url[64];
  char log[PATH_MAX + 32];
  int starts;
} ft_redis_t;

/* Finds redis-server ($REDIS_SERVER, else PATH); records a skip (failure under CI) if none. */
static TK_T_UNUSED int ft_redis_find(ft_redis_t *r) {
  memset(r, 0, sizeof *r);
  const char *env = getenv("REDIS_SERVER");
  if (ft_which(env && *env ? env : "redis-server", r->binary, sizeof r->binary)) return 1;
  FT_MISSING("redis-server not found (apt-get install redis-server, or set REDIS_SERVER)");
  return 0;
}

/* Starts redis-server on r->port (0: a free one is picked) and waits for PONG. On a restart
   the same port is used again. Returns 1, or records a failure and returns 0. */
static TK_T_UNUSED int ft_redis_start(ft_redis_t *r) {
  for (int attempt = 0; attempt < 5; attempt++) {
    if (r->port == 0 || (attempt > 0 && r->starts == 0)) r->port = tk_t_dead_port();
    char port[16], dir[320];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(dir, sizeof dir, "%s/redis-%d", ft_tmp, r->port);
    mkdir(dir, 0700);
    snprintf(r->log, sizeof r->log, "%s/redis.log", dir);
    const char *argv[] = {r->binary, "--port", port, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--daemonize", "no", "--dir", dir,
                          "--enable-debug-command", "local", NULL};
    r->pid = ft_spawn(argv, r->log);
    if (r->pid <= 0) break;
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
    int64_t deadline = tk_t_mono_ms() + 10000;
    while (tk_t_mono_ms() < deadline) {
      char reply[64] = "";
      if (tk_t_redis(r->url, reply, sizeof reply, "PING", NULL) == 0 && strcmp(reply, "+PONG") == 0) {
        r->starts++;
        return 1;
      }
      if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
        ft_forget_child(r->pid);
        r->pid = 0;
        break;
      }
      tk_t_sleep_ms(10);
    }
    if (r->pid > 0) ft_kill9(r->pid);
    r->pid = 0;
    fprintf(stderr, "redis-server did not start on port %d (attempt %d)\n", r->port, attempt + 1);
    ft_dump_log(r->log);
    if (r->starts > 0) tk_t_sleep_ms(200); /* a restart keeps its port: wait and retry */
  }
  tk_t_failf(__FILE__, __LINE__, "cannot start redis-server (%s) on port %d", r->binary, r->port);
  return 0;
}

/* ---- throttlekit-server ---------------------------------------------------------------------- */

typedef struct {
  char binary[PATH_MAX + 64];
  char policy_path[PATH_MAX + 32];
  char log[PATH_MAX + 32];
  char ready[PATH_MAX + 48]; /* its --ready-file, beside the log */
  const char *extra[16]; /* more flags, NULL-terminated */
  int port;             /* 0 until the first start; a restart uses it again */
  char addr[64];
  pid_t pid;
} ft_server_t;

static TK_T_UNUSED int ft_server_find(ft_server_t *s, const char *policies) {
  memset(s, 0, sizeof *s);
  const char *env = getenv("THROTTLEKIT_SERVER");
  char root[PATH_MAX];
  if (env && *env)
    snprintf(s->binary, sizeof s->binary, "%s", env);
  else if (tk_t_repo_root(root, sizeof root))
    snprintf(s->binary, sizeof s->binary, "%s/build/bin/throttlekit-server", root);
  if (!s->binary[0] || access(s->binary, X_OK) != 0) {
    FT_MISSING("the server binary %s is missing (make server, or set THROTTLEKIT_SERVER)",
               s->binary[0] ? s->binary : "throttlekit-server");
    return 0;
  }
  snprintf(s->policy_path, sizeof s->policy_path, "%s/policies.yaml", ft_tmp);
  FILE *f = fopen(s->policy_path, "we");
  if (!f || fputs(policies, f) < 0) {
    if (f) fclose(f);
    tk_t_failf(__FILE__, __LINE__, "cannot write %s", s->policy_path);
    return 0;
  }
  fclose(f);
  return 1;
}

/* Starts (or restarts, on the same port) the server; waits for its ready file (the log's
   name with .ready for .log). */
static TK_T_UNUSED int ft_server_start(ft_server_t *s, const char *log_name) {
  char port[16];
  snprintf(port, sizeof port, "%d", s->port);
  snprintf(s->log, sizeof s->log, "%s/%s", ft_tmp, log_name);
  unlink(s->log);
  size_t stem = strlen(log_name);
  if (stem > 4 && strcmp(log_name + stem - 4, ".log") == 0) stem -= 4;
  snprintf(s->ready, sizeof s->ready, "%s/%.*s.ready", ft_tmp, (int)stem, log_name);
  const char *argv[24] = {s->binary, "-c", s->policy_path, "--host", "127.0.0.1", "--port", port,
                          "--ready-file", s->ready};
  int argc = 9;
  for (int i = 0; s->extra[i] && argc < 23; i++) argv[argc++] = s->extra[i];
  argv[argc] = NULL;
  for (int attempt = 0; attempt < 5; attempt++) {
    unlink(s->ready); /* a killed server's file stays behind: never read it */
    s->pid = ft_spawn(argv, s->log);
    if (s->pid <= 0) break;
    char addr[64], why[PATH_MAX + 128];
    int exited;
    if (tk_t_wait_ready(s->ready, s->pid, 30000, addr, sizeof addr, why, sizeof why, &exited)) {
      snprintf(s->addr, sizeof s->addr, "%s", addr);
      const char *colon = strrchr(addr, ':');
      s->port = colon ? atoi(colon + 1) : 0;
      return s->port > 0;
    }
    if (exited) ft_forget_child(s->pid);
    else ft_kill9(s->pid);
    s->pid = 0;
    fprintf(stderr, "throttlekit-server did not start (attempt %d): %s (its log: %s)\n",
            attempt + 1, why, s->log);
    ft_dump_log(s->log);
    tk_t_sleep_ms(200);
  }
  tk_t_failf(__FILE__, __LINE__, "cannot start %s on port %d", s->binary, s->port);
  return 0;
}

/* ---- Handles ---------------------------------------------------------------------------- */

static const char *ft_policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 1000000, period: 1s, burst: 1000000 }\n"
    "  fw: { strategy: fixedWindow, limit: 1000000000, windowMs: 1m }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 1000000000000, windowMs: 1h }\n";

static TK_T_UNUSED tk_handle_t ft_open_redis(const char *url, int fail_mode, int timeout_ms) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  char ns[96];
  tk_t_namespace(ns, sizeof ns, "fault");
  o.key_namespace = ns;
  /* FT_AUTO_PIPELINE=-1 turns auto-pipelining off (for comparisons); default: the library's. */
  const char *ap = getenv("FT_AUTO_PIPELINE");
  if (ap && *ap) o.auto_pipeline = atoi(ap);
  tk_handle_t h = 0;
  tk_error_t err;
  int rc = tk_open_redis(url, ft_policies, &o, &h, &err);
  if (!EXPECT_OK(rc)) fprintf(stderr, "  tk_open_redis(%s): %s\n", url, err.message);
  return rc == TK_OK ? h : 0;
}

static TK_T_UNUSED tk_handle_t ft_open_service(const char *addr, int fail_mode, int timeout_ms) {
  tk_options_t o;
  tk_options_init(&o);
  o.timeout_ms = timeout_ms;
  o.fail_mode = fail_mode;
  tk_handle_t h = 0;
  tk_error_t err;
  int rc = tk_open_service(addr, &o, &h, &err);
  if (!EXPECT_OK(rc)) fprintf(stderr, "  tk_open_service(%s): %s\n", addr, err.message);
  return rc == TK_OK ? h : 0;
}

/* Starts the Go core (a handle opened and freed at once), so that baselines can be taken. */
static TK_T_UNUSED void ft_start_core(void) {
  tk_handle_t h = 0;
  if (tk_open_service("127.0.0.1:1", NULL, &h, NULL) == TK_OK) tk_free(h);
}

/* ---- The load generator ------------------------------------------------------------------ */

/* Phases, set by the main thread as it injects faults. A call is judged by the phase it
   started in when it also ended in it; a call that straddles a change is only held to the
   rules every phase shares (TK_OK or TK_E_UNAVAILABLE / TK_E_TIMEOUT, a synthesized decision
   only from a fail-open check, and the time bound). */
typedef enum {
  FT_UP = 0,    /* backend healthy: every call TK_OK, a real (not synthesized) decision */
  FT_FAULTING,  /* the fault is being injected: any of the statuses below */
  FT_DOWN,      /* backend dead or stalled: TK_E_UNAVAILABLE / TK_E_TIMEOUT, or the fail-open
                   decision (TK_OK, allowed, TK_DECISION_SYNTHESIZED) */
  FT_RECOVER,   /* backend back: any of the above while the handle reconnects */
  FT_UP_AGAIN,  /* recovered (every group had a real decision): as FT_UP */
  FT_NPHASES
} ft_phase_t;

static const char *ft_phase_names[FT_NPHASES] = {"up", "faulting", "down", "recovering",
                                                  "up-again"};

enum { FT_OP_CHECK = 1, FT_OP_MANY = 2, FT_OP_PEEK = 4, FT_OP_FORECAST = 8, FT_OP_DEBIT = 16,
       FT_OPS_ALL = 31, FT_OPS_CHECKS = 3 };

#define FT_NSTATUS 11 /* -status: TK_OK .. TK_E_AUTH */

typedef struct {
  atomic_long calls, ok, synthesized, other_status, bad;
  atomic_long status[FT_NSTATUS];
  atomic_long max_us, over_bound;
} ft_stats_t;

typedef struct ft_group {
  const char *name;
  const char *target; /* a redis:// URL, or host:port of a throttlekit-server (service = 1) */
  int service;
  tk_handle_t h;
  int fail_open; /* the handle's fail mode is TK_FAIL_OPEN */
  int ops;       /* FT_OP_* mask */
  int nthreads;
  ft_stats_t phase[FT_NPHASES]; /* calls that started and ended in that phase */
  ft_stats_t straddling;        /* calls that saw a phase change */
  ft_stats_t total;
  atomic_llong first_real_ok_us; /* mono µs of the first real decision of a call started in
                                    FT_RECOVER (0: none yet) */
  atomic_llong last_fail_us;     /* mono µs at which the latest call started in FT_RECOVER
                                    ended without a real decision (0: none) */
  atomic_long bad_printed;
} ft_group_t;

static atomic_int ft_phase;
static atomic_int ft_stop;
static int ft_timeout_ms = FT_TIMEOUT_MS; /* the handles' timeout the bound derives from */
static int64_t ft_bound_us; /* timeout + slack */

static void ft_max(atomic_long *m, long v) {
  long cur = atomic_load(m);
  while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
  }
}

static void ft_count(ft_stats_t *s, int rc, int synthesized, int bad, long us) {
  atomic_fetch_add(&s->calls, 1);
  if (rc == TK_OK) atomic_fetch_add(&s->ok, 1);
  if (synthesized) atomic_fetch_add(&s->synthesized, 1);
  if (rc <= 0 && rc > -FT_NSTATUS)
    atomic_fetch_add(&s->status[-rc], 1);
  else
    atomic_fetch_add(&s->other_status, 1);
  if (bad) atomic_fetch_add(&s->bad, 1);
  ft_max(&s->max_us, us);
  if (us > ft_bound_us) atomic_fetch_add(&s->over_bound, 1);
}

typedef struct {
  ft_group_t *g;
  int index;
} ft_worker_arg_t;

static uint64_t ft_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Judges one call: 1 when its status fits the phase it ran in. */
static int ft_fits(const ft_group_t *g, int phase, int op, int rc, int synthesized, int allowed) {
  int is_check = op == FT_OP_CHECK || op == FT_OP_MANY;
  switch (phase) {
  case FT_UP:
  case FT_UP_AGAIN:
    return rc == TK_OK && !synthesized;
  case FT_DOWN:
    if (g->fail_open && is_check) return rc == TK_OK && synthesized && allowed;
    return rc == TK_E_UNAVAILABLE || rc == TK_E_TIMEOUT;
  default: /* FT_FAULTING, FT_RECOVER, straddling */
    if (rc == TK_OK) return !synthesized || (g->fail_open && is_check && allowed);
    return rc == TK_E_UNAVAILABLE || rc == TK_E_TIMEOUT;
  }
}

static void *ft_worker(void *p) {
  ft_worker_arg_t *a = p;
  ft_group_t *g = a->g;
  uint64_t rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)a->index << 32) ^ (uint64_t)tk_t_mono_us();
  int ops[5], nops = 0;
  for (int i = 0; i < 5; i++)
    if (g->ops & (1 << i)) ops[nops++] = 1 << i;
  char key[64], mk[4][64];
  const char *mkeys[4] = {mk[0], mk[1], mk[2], mk[3]};
  while (!atomic_load(&ft_stop)) {
    int op = ops[ft_rand(&rnd) % (uint64_t)nops];
    snprintf(key, sizeof key, "k%d-%u", a->index, (unsigned)(ft_rand(&rnd) % 1000));
    tk_decision_t d, dm[4];
    tk_forecast_t f;
    tk_error_t err;
    memset(&d, 0, sizeof d);
    memset(dm, 0, sizeof dm);
    int p0 = atomic_load(&ft_phase);
    int64_t t0 = tk_t_mono_us();
    int rc = TK_E_INTERNAL;
    switch (op) {
    case FT_OP_CHECK: rc = tk_check(g->h, "api", key, 1, &d, &err); break;
    case FT_OP_MANY:
      for (int i = 0; i < 4; i++)
        snprintf(mk[i], sizeof mk[i], "m%d-%u", a->index, (unsigned)(ft_rand(&rnd) % 1000));
      rc = tk_check_many(g->h, "api", mkeys, 4, 1, dm, &err);
      d = dm[0];
      if (rc == TK_OK) /* a batch is synthesized whole or not at all */
        for (int i = 1; i < 4; i++)
          if ((dm[i].flags ^ dm[0].flags) & TK_DECISION_SYNTHESIZED) d.flags |= 0x100;
      break;
    case FT_OP_PEEK: rc = tk_peek(g->h, "api", key, &d, &err); break;
    case FT_OP_FORECAST: rc = tk_forecast(g->h, "api", key, 1, &f, &err); break;
    case FT_OP_DEBIT: rc = tk_debit(g->h, "llm", key, 1, &d, &err); break;
    }
    int64_t t1 = tk_t_mono_us();
    int p1 = atomic_load(&ft_phase);
    long us = (long)(t1 - t0);
    int synthesized = rc == TK_OK && (d.flags & TK_DECISION_SYNTHESIZED);
    int fits = !(d.flags & 0x100) && ft_fits(g, p0 == p1 ? p0 : -1, op, rc, synthesized, d.allowed);
    int bad = !fits || us > ft_bound_us;
    ft_count(p0 == p1 ? &g->phase[p0] : &g->straddling, rc, synthesized, bad, us);
    ft_count(&g->total, rc, synthesized, bad, us);
    if (rc == TK_OK && !synthesized && p0 == FT_RECOVER) {
      long long zero = 0;
      atomic_compare_exchange_strong(&g->first_real_ok_us, &zero, (long long)t1);
    } else if (p0 == FT_RECOVER) {
      long long prev = atomic_load(&g->last_fail_us);
      while ((long long)t1 > prev && !atomic_compare_exchange_weak(&g->last_fail_us, &prev, (long long)t1)) {
      }
    }
    /* A host does not retry a failed (or fail-open) call in a tight loop: without this pause,
       16 threads spinning on calls that fail at once starve everything else on 2 cores and
       the figures measure the scheduler rather than the library. */
    if (rc != TK_OK || synthesized) tk_t_sleep_ms(FT_ERROR_PAUSE_MS);
    if (bad && atomic_fetch_add(&g->bad_printed, 1) < 5)
      fprintf(stderr, "  [%s] op %d in phase %s%s%s: %s (%s) after %.1f ms%s\n", g->name, op,
              ft_phase_names[p0], p0 == p1 ? "" : " -> ", p0 == p1 ? "" : ft_phase_names[p1],
              tk_t_status_name(rc), rc == TK_OK ? (synthesized ? "synthesized" : "real")
                                                : err.message,
              us / 1000.0, us > ft_bound_us ? " (over the bound)" : "");
  }
  return NULL;
}

typedef struct {
  ft_group_t **groups;
  int ngroups;
  pthread_t threads[64];
  ft_worker_arg_t args[64];
  int nthreads;
} ft_load_t;

static TK_T_UNUSED int ft_load_start(ft_load_t *l, ft_group_t **groups, int ngroups) {
  memset(l, 0, sizeof *l);
  l->groups = groups;
  l->ngroups = ngroups;
  ft_bound_us = (int64_t)(ft_timeout_ms + ft_slack_ms()) * 1000;
  atomic_store(&ft_stop, 0);
  for (int gi = 0; gi < ngroups; gi++)
    for (int i = 0; i < groups[gi]->nthreads && l->nthreads < 64; i++) {
      l->args[l->nthreads] = (ft_worker_arg_t){groups[gi], l->nthreads};
      if (pthread_create(&l->threads[l->nthreads], NULL, ft_worker, &l->args[l->nthreads]) != 0)
        return 0;
      l->nthreads++;
    }
  return 1;
}

static TK_T_UNUSED void ft_load_stop(ft_load_t *l) {
  atomic_store(&ft_stop, 1);
  for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
}

static TK_T_UNUSED void ft_set_phase(int phase) {
  atomic_store(&ft_phase, phase);
  printf("  %8.3f s  phase: %s\n", tk_t_mono_ms() / 1000.0, ft_phase_names[phase]);
}

static void ft_print_stats(const char *label, ft_stats_t *s) {
  long calls = atomic_load(&s->calls);
  if (!calls) return;
  printf("    %-11s calls %7ld  ok %7ld (synthesized %ld)", label, calls, atomic_load(&s->ok),
         atomic_load(&s->synthesized));
  for (int i = 1; i < FT_NSTATUS; i++)
    if (atomic_load(&s->status[i])) printf("  %s %ld", tk_t_status_name(-i), atomic_load(&s->status[i]));
  if (atomic_load(&s->other_status)) printf("  other %ld", atomic_load(&s->other_status));
  printf("  max %.1f ms  over-bound %ld  bad %ld\n", atomic_load(&s->max_us) / 1000.0,
         atomic_load(&s->over_bound), atomic_load(&s->bad));
}

/* Prints a group's figures and asserts: no call violated its phase's rule or the bound, and
   the phases listed in need_calls (a mask of 1 << phase) saw calls. */
static TK_T_UNUSED void ft_report_group(ft_group_t *g, unsigned need_calls) {
  printf("  group %s (%d threads, %s, ops mask %d): bound %lld ms = timeout %d + slack %d\n",
         g->name, g->nthreads, g->fail_open ? "TK_FAIL_OPEN" : "TK_FAIL_ERROR", g->ops,
         (long long)ft_bound_us / 1000, ft_timeout_ms, ft_slack_ms());
  for (int p = 0; p < FT_NPHASES; p++) ft_print_stats(ft_phase_names[p], &g->phase[p]);
  ft_print_stats("straddling", &g->straddling);
  ft_print_stats("total", &g->total);
  CHECKF(atomic_load(&g->total.bad) == 0, "[%s] %ld calls broke their phase's rule or the time "
         "bound (first ones above)", g->name, atomic_load(&g->total.bad));
  CHECKF(atomic_load(&g->total.max_us) <= ft_bound_us, "[%s] the slowest call took %.1f ms, "
         "bound %lld ms", g->name, atomic_load(&g->total.max_us) / 1000.0,
         (long long)ft_bound_us / 1000);
  for (int p = 0; p < FT_NPHASES; p++)
    if (need_calls & (1u << p))
      CHECKF(atomic_load(&g->phase[p].calls) > 0, "[%s] no call ran wholly in phase %s",
             g->name, ft_phase_names[p]);
}

/* After the backend came back at back_ms (phase FT_RECOVER set when healing started): waits
   until every group has made a real decision and then gone FT_QUIET_MS without a failure
   (an error or a synthesized decision), at most bound_ms after back_ms; prints each group's
   first real decision and last failure, and asserts recovery within the bound. A handle may
   mix real decisions and failures for a while (e.g. go-redis refuses to dial, with the last
   dial error, until its background probe, once a second, succeeds): recovery counts from the
   last failure. */
#define FT_QUIET_MS 300
static TK_T_UNUSED int ft_await_recovery(ft_group_t **groups, int n, int64_t back_ms,
                                         int bound_ms) {
  int all = 0;
  while (!all && tk_t_mono_ms() - back_ms < bound_ms) {
    all = 1;
    int64_t now_us = tk_t_mono_us();
    for (int i = 0; i < n; i++)
      if (!atomic_load(&groups[i]->first_real_ok_us) ||
          now_us - atomic_load(&groups[i]->last_fail_us) < FT_QUIET_MS * 1000)
        all = 0;
    if (!all) tk_t_sleep_ms(5);
  }
  for (int i = 0; i < n; i++) {
    long long ok = atomic_load(&groups[i]->first_real_ok_us);
    long long fail = atomic_load(&groups[i]->last_fail_us);
    printf("  group %s: first real decision %.1f ms after the backend was back, last failure "
           "%s%.1f ms%s\n", groups[i]->name, ok ? (ok - back_ms * 1000) / 1000.0 : -1.0,
           fail ? "" : "(none) ", fail ? (fail - back_ms * 1000) / 1000.0 : 0.0,
           fail ? " after it" : "");
    CHECKF(ok != 0, "[%s] no real decision within %d ms of the backend's return, without "
           "reopening the handle", groups[i]->name, bound_ms);
  }
  CHECKF(all, "not every handle recovered (a real decision, then %d ms without a failure) "
         "within %d ms of the backend's return", FT_QUIET_MS, bound_ms);
  return all;
}

/* ---- A fault scenario -------------------------------------------------------------------------
 * Opens every group's handle (baselines of descriptors and goroutines taken before), runs the
 * load in FT_UP for up_ms, injects the fault (FT_FAULTING while it is being injected, then
 * FT_DOWN) for down_ms, heals it (FT_RECOVER from the moment healing starts),
 * waits for every group's first real decision (at most recover_bound_ms), runs FT_UP_AGAIN
 * for up_again_ms, stops the load, then checks: goroutines back within FT_GOROUTINE_SLACK of
 * the count before the load (handles still open), and, after tk_free, descriptors equal to
 * and goroutines within FT_GOROUTINE_SLACK of the counts before the handles were opened.
 */
#define FT_GOROUTINE_SLACK 5
#define FT_SETTLE_MS 5000

typedef struct {
  const char *what;
  ft_group_t **groups;
  int ngroups;
  int up_ms, down_ms, up_again_ms, recover_bound_ms;
  int (*inject)(void *ctx); /* 1 when the fault is in place */
  int (*heal)(void *ctx);   /* 1 when the backend is back */
  void *ctx;
} ft_scenario_t;

static TK_T_UNUSED void ft_run_scenario(ft_scenario_t *s) {
  /* For investigations: FT_DOWN_MS and FT_RECOVER_BOUND_MS override the scenario's. */
  const char *e;
  if ((e = getenv("FT_DOWN_MS")) && *e) s->down_ms = atoi(e);
  if ((e = getenv("FT_RECOVER_BOUND_MS")) && *e) s->recover_bound_ms = atoi(e);
  printf("== %s\n", s->what);
  printf("  phases: up %d ms, down %d ms, recovery within %d ms, up again %d ms\n", s->up_ms,
         s->down_ms, s->recover_bound_ms, s->up_again_ms);
  const int have_g = tk_debug_goroutines != NULL;
  const int fd0 = tk_t_fd_count();
  const int64_t g0 = ft_goroutines();
  const long rss0 = ft_rss_kb();
  for (int i = 0; i < s->ngroups; i++) {
    ft_group_t *g = s->groups[i];
    int mode = g->fail_open ? TK_FAIL_OPEN : TK_FAIL_ERROR;
    g->h = g->service ? ft_open_service(g->target, mode, FT_TIMEOUT_MS)
                      : ft_open_redis(g->target, mode, FT_TIMEOUT_MS);
    if (!g->h) {
      for (int j = 0; j < i; j++) tk_free(s->groups[j]->h);
      return;
    }
    tk_decision_t d;
    tk_error_t err;
    int rc = tk_check(g->h, "api", "warm", 1, &d, &err);
    CHECKF(rc == TK_OK && !(d.flags & TK_DECISION_SYNTHESIZED), "[%s] first check: %s %s",
           g->name, tk_t_status_name(rc), rc ? err.message : "(synthesized)");
  }
  const int64_t g_idle = ft_goroutines();
  const int fd_idle = tk_t_fd_count();
  printf("  before open: fds %d, goroutines %lld, RSS %ld kB; handles open and idle: fds %d, "
         "goroutines %lld\n", fd0, (long long)g0, rss0, fd_idle, (long long)g_idle);

  atomic_store(&ft_phase, FT_UP);
  ft_load_t load;
  int nthreads = 0;
  for (int i = 0; i < s->ngroups; i++) nthreads += s->groups[i]->nthreads;
  if (!CHECK(ft_load_start(&load, s->groups, s->ngroups))) {
    ft_load_stop(&load);
    return;
  }
  printf("  %d threads; timeout %d ms, bound %lld ms per call\n", nthreads, ft_timeout_ms,
         (long long)ft_bound_us / 1000);
  ft_set_phase(FT_UP);
  tk_t_sleep_ms(s->up_ms);
  printf("  under load: fds %d, goroutines %lld, RSS %ld kB\n", tk_t_fd_count(),
         (long long)ft_goroutines(), ft_rss_kb());
  ft_set_phase(FT_FAULTING);
  int injected = s->inject(s->ctx);
  CHECKF(injected, "%s: the fault could not be injected", s->what);
  if (injected) {
    ft_set_phase(FT_DOWN);
    tk_t_sleep_ms(s->down_ms);
    printf("  fault in place: fds %d, goroutines %lld\n", tk_t_fd_count(), (long long)ft_goroutines());
  }
  ft_set_phase(FT_RECOVER);
  int healed = s->heal(s->ctx);
  CHECKF(healed, "%s: the backend could not be brought back", s->what);
  int64_t back_ms = tk_t_mono_ms();
  if (healed && ft_await_recovery(s->groups, s->ngroups, back_ms, s->recover_bound_ms)) {
    ft_set_phase(FT_UP_AGAIN);
    tk_t_sleep_ms(s->up_again_ms);
  }
  if (!healed) tk_t_sleep_ms(s->up_again_ms);
  ft_load_stop(&load);
  printf("  load stopped: fds %d, goroutines %lld, RSS %ld kB\n", tk_t_fd_count(),
         (long long)ft_goroutines(), ft_rss_kb());

  if (have_g) {
    int64_t g = ft_goroutines_settle(g_idle, FT_GOROUTINE_SLACK, FT_SETTLE_MS);
    printf("  goroutines after the load (handles open): %lld (before the load: %lld)\n",
           (long long)g, (long long)g_idle);
    CHECKF(g <= g_idle + FT_GOROUTINE_SLACK, "%s: %lld goroutines after the load, %lld before "
           "it (handles open): more than %d extra", s->what, (long long)g, (long long)g_idle,
           FT_GOROUTINE_SLACK);
  }
  for (int i = 0; i < s->ngroups; i++) EXPECT_OK(tk_free(s->groups[i]->h));
  int fd_end = ft_fds_settle(fd0, FT_SETTLE_MS);
  int64_t g_end = have_g ? ft_goroutines_settle(g0, FT_GOROUTINE_SLACK, FT_SETTLE_MS) : -2;
  printf("  after tk_free: fds %d (before open: %d), goroutines %lld (before open: %lld), RSS "
         "%ld kB\n", fd_end, fd0, (long long)g_end, (long long)g0, ft_rss_kb());
  CHECKF(fd_end == fd0, "%s: %d descriptors open after tk_free, %d before the handles were "
         "opened", s->what, fd_end, fd0);
  if (have_g)
    CHECKF(g_end <= g0 + FT_GOROUTINE_SLACK, "%s: %lld goroutines after tk_free, %lld before "
           "the handles were opened", s->what, (long long)g_end, (long long)g0);
  unsigned need = (1u << FT_UP) | (injected ? 1u << FT_DOWN : 0) | (1u << FT_UP_AGAIN);
  for (int i = 0; i < s->ngroups; i++) ft_report_group(s->groups[i], need);
}

#endif /* TK_FAULT_H */
