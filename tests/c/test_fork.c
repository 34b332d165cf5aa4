/*
 * test_fork.c - the fork rules of c-abi.md.
 *
 * (a) A parent that opened a handle and checked forks. In the child every call (tk_check,
 *     tk_open_redis, tk_peek, tk_free and the rest) returns TK_E_FORKED within 100 ms; the child
 *     leaves with _exit(CHILD_OK) and the parent asserts that code, then keeps working.
 *     Also: a parent whose only tk_open_* failed in the core (bad YAML) has started the core
 *     too, so its child gets TK_E_FORKED as well.
 * (b) A process that only loaded the library (tk_version, tk_strerror, tk_options_init: none
 *     starts the core) forks; its child opens and checks normally. (b) runs in a fresh process
 *     (this program re-executed with --fresh) so that the forking parent has really never
 *     called tk_open_*. Before any tk_open_* the process has one thread and the core is not
 *     mapped; after the first tk_open_* the Go runtime's threads exist.
 *
 * A child reports its pass/fail counts to the parent through a pipe, and is killed if it
 * does not end within CHILD_DEADLINE_MS (a hang is a failure, never a stuck test).
 */
#include "tk_test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

#define CHILD_OK 42     /* the exit code of a child whose assertions all passed */
#define CHILD_FAILED 43 /* ... and of one with failures (its messages are on stderr) */
#define CHILD_DEADLINE_MS 10000
#define FORKED_MAX_US 100000 /* 100 ms: "immediately" */

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n"
    "  fw: { strategy: fixedWindow, limit: 1000, windowMs: 60000 }\n"
    "  llm:\n"
    "    tokenBudget: { budget: 100, windowMs: 60000 }\n";

static char ns[128];

static void open_opts(tk_options_t *o) {
  tk_options_init(o);
  o->key_namespace = ns;
  o->timeout_ms = 2000;
}

/* Runs fn in a forked child. The child's counts come back through a pipe; the parent adds
   them to its own, asserts the exit code and kills a child that outlives the deadline. */
static void run_in_child(const char *what, void (*fn)(void *), void *arg) {
  int p[2];
  if (!CHECK(pipe(p) == 0)) return;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (!CHECKF(pid >= 0, "fork: %s", strerror(errno))) return;
  if (pid == 0) {
    close(p[0]);
    atomic_store(&tk_t_passed, 0);
    atomic_store(&tk_t_failed, 0);
    atomic_store(&tk_t_skipped, 0);
    fn(arg);
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%ld %ld %ld\n", atomic_load(&tk_t_passed),
                     atomic_load(&tk_t_failed), atomic_load(&tk_t_skipped));
    if (write(p[1], buf, (size_t)n) != n) _exit(CHILD_FAILED);
    _exit(atomic_load(&tk_t_failed) ? CHILD_FAILED : CHILD_OK);
  }
  close(p[1]);
  int status = 0;
  pid_t done = 0;
  int64_t deadline = tk_t_mono_ms() + CHILD_DEADLINE_MS;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && tk_t_mono_ms() < deadline)
    tk_t_sleep_ms(5);
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    tk_t_failf(__FILE__, __LINE__, "%s: the child hung for %d ms and was killed", what,
               CHILD_DEADLINE_MS);
    close(p[0]);
    return;
  }
  char buf[96] = {0};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  long cp = 0, cf = 0, cs = 0;
  if (CHECKF(n > 0 && sscanf(buf, "%ld %ld %ld", &cp, &cf, &cs) == 3,
             "%s: the child reported no counts", what))
    tk_t_add_counts(cp, cf, cs);
  if (WIFSIGNALED(status))
    tk_t_failf(__FILE__, __LINE__, "%s: the child died of signal %d", what, WTERMSIG(status));
  else
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK,
           "%s: child exit code %d, want %d", what, WEXITSTATUS(status), CHILD_OK);
}

/* ---- (a) a child of a process that used the library -------------------------------------- */

/* Calls one function in the child; it must say TK_E_FORKED (err too) within 100 ms. */
#define FORKED(call, errp)                                                                  \
  do {                                                                                      \
    tk_error_t *e_ = (errp);                                                                \
    if (e_) tk_t_poison_err(e_);                                                            \
    int64_t t0_ = tk_t_mono_us();                                                           \
    int rc_ = (call);                                                                       \
    int64_t us_ = tk_t_mono_us() - t0_;                                                     \
    EXPECT_STATUS_CTX(#call, rc_, TK_E_FORKED);                                             \
    if (e_) EXPECT_ERR_CTX(#call, *e_, TK_E_FORKED);                                        \
    CHECKF(us_ < FORKED_MAX_US, "%s took %lld us in the forked child", #call, (long long)us_); \
  } while (0)

static void forked_child_calls(void *arg) {
  tk_handle_t h = *(tk_handle_t *)arg;
  tk_decision_t d;
  tk_forecast_t f;
  tk_error_t err;
  tk_options_t o;
  tk_handle_t h2 = 77;
  const char *keys[2] = {"a", "b"};
  tk_decision_t ds[2];
  const char *url = getenv("THROTTLEKIT_REDIS_URL");
  open_opts(&o);
  int64_t now = tk_t_wall_ms();

  FORKED(tk_check(h, "api", "child", 1, &d, &err), &err);
  FORKED(tk_open_redis(url, policies, &o, &h2, &err), &err);
  FORKED(tk_peek(h, "api", "child", &d, &err), &err);
  FORKED(tk_free(h), NULL);
  FORKED(tk_check_at(h, "api", "child", 1, now, &d, &err), &err);
  FORKED(tk_check_many(h, "api", keys, 2, 1, ds, &err), &err);
  FORKED(tk_check_many_at(h, "api", keys, 2, 1, now, ds, &err), &err);
  FORKED(tk_peek_at(h, "api", "child", now, &d, &err), &err);
  FORKED(tk_forecast(h, "api", "child", 1, &f, &err), &err);
  FORKED(tk_forecast_at(h, "api", "child", 1, now, &f, &err), &err);
  FORKED(tk_debit(h, "llm", "child", 1, &d, &err), &err);
  FORKED(tk_debit_at(h, "llm", "child", 1, now, &d, &err), &err);
  FORKED(tk_open_service("127.0.0.1:1", &o, &h2, &err), &err);
  /* Every call, whatever its arguments: the fork guard comes first. */
  FORKED(tk_open_redis(NULL, NULL, NULL, NULL, &err), &err);
  FORKED(tk_free(0), NULL);
  FORKED(tk_check(h, "api", "child", 1, &d, NULL), NULL);
  /* A second open attempt still refuses: the child never becomes usable. */
  FORKED(tk_open_redis(url, policies, &o, &h2, &err), &err);
  /* Library information works in the child: it never needed the core. */
  EXPECT_STREQ(tk_version(), "0.1.0");
  CHECK(tk_strerror(TK_E_FORKED)[0] != '\0');
}

static void part_a(const char *url) {
  tk_options_t o;
  open_opts(&o);
  tk_handle_t h = 0;
  tk_error_t err;
  tk_decision_t d;
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
    fprintf(stderr, "  open: %s\n", err.message);
    return;
  }
  if (EXPECT_OK(tk_check(h, "api", "parent", 1, &d, &err))) EXPECT_EQ(d.allowed, 1);
  run_in_child("(a) child of an opened process", forked_child_calls, &h);

  /* The parent keeps working after its child ended: the same handle, and a new one. */
  if (EXPECT_OK(tk_check(h, "api", "parent", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.remaining, 3);
  }
  tk_handle_t h2 = 0;
  if (EXPECT_OK(tk_open_redis(url, policies, &o, &h2, &err))) {
    if (EXPECT_OK(tk_check(h2, "fw", "parent", 1, &d, &err))) EXPECT_EQ(d.allowed, 1);
    EXPECT_OK(tk_free(h2));
  }
  /* A second fork after more use: the guard holds for every child, not just the first. */
  run_in_child("(a) second child", forked_child_calls, &h);
  EXPECT_OK(tk_free(h));
}

/* ---- (b) a child of a process that never opened ------------------------------------------ */

static void fresh_child_opens(void *arg) {
  const char *url = arg;
  CHECKF(tk_t_thread_count() == 1, "the forked child has %d threads before opening",
         tk_t_thread_count());
  tk_options_t o;
  open_opts(&o);
  tk_handle_t h = 0;
  tk_error_t err;
  tk_decision_t d;
  tk_t_poison_err(&err);
  if (!EXPECT_OK(tk_open_redis(url, policies, &o, &h, &err))) {
    fprintf(stderr, "  open in the child: %s\n", err.message);
    return;
  }
  EXPECT_ERR(err, TK_OK);
  CHECKF(tk_t_thread_count() > 1, "after the first open: %d threads (the Go runtime starts)",
         tk_t_thread_count());
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 1);
  if (EXPECT_OK(tk_check(h, "api", "fresh-child", 1, &d, &err))) {
    EXPECT_EQ(d.allowed, 1);
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4);
    EXPECT_EQ(d.flags, 0);
  }
  if (EXPECT_OK(tk_debit(h, "llm", "fresh-child", 10, &d, &err))) EXPECT_EQ(d.remaining, 90);
  EXPECT_OK(tk_free(h));
}

/* The fresh process of (b): it has loaded libthrottlekit (linked) and nothing else. */
static int run_fresh(void) {
  const char *url = tk_t_redis_url("the fork test (b)");
  tk_t_namespace(ns, sizeof ns, "fork-b");
  /* The three calls that never start the core. */
  EXPECT_STREQ(tk_version(), "0.1.0");
  CHECK(tk_strerror(TK_OK) != NULL);
  tk_options_t o;
  tk_options_init(&o);
  EXPECT_EQ(o.struct_size, sizeof o);
  /* Loading the library did not start Go: one thread, and no core in the address space. */
  CHECKF(tk_t_thread_count() == 1, "a process that only loaded libthrottlekit has %d threads",
         tk_t_thread_count());
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit.so"), 1);
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 0);
  if (!url) return tk_t_finish();

  run_in_child("(b) child of a process that never opened", fresh_child_opens, (void *)url);

  /* The parent still has never started the core ... */
  CHECKF(tk_t_thread_count() == 1, "the parent has %d threads after its child ran",
         tk_t_thread_count());
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 0);
  /* ... and can itself open now, after which its own children are refused. */
  tk_options_t oo;
  open_opts(&oo);
  tk_handle_t h = 0;
  tk_error_t err;
  tk_decision_t d;
  if (EXPECT_OK(tk_open_redis(url, policies, &oo, &h, &err))) {
    CHECKF(tk_t_thread_count() > 1, "after the first open: %d threads", tk_t_thread_count());
    if (EXPECT_OK(tk_check(h, "api", "fresh-parent", 1, &d, &err))) EXPECT_EQ(d.allowed, 1);
    run_in_child("(b) child after the parent opened", forked_child_calls, &h);
    EXPECT_OK(tk_free(h));
  }
  return tk_t_finish();
}

/* A fresh process whose first tk_open_* fails inside the core (bad YAML): the core has
   started all the same ("successful or not"), so its children are refused. */
static void failed_open_child(void *arg) {
  (void)arg;
  tk_handle_t h = 0;
  tk_error_t err;
  tk_decision_t d;
  FORKED(tk_open_redis("redis://127.0.0.1:1/0", policies, NULL, &h, &err), &err);
  FORKED(tk_check(1, "api", "k", 1, &d, &err), &err);
}

static int run_fresh_failed_open(void) {
  tk_handle_t h = 0;
  tk_error_t err;
  CHECK(tk_t_thread_count() == 1);
  EXPECT_STATUS(tk_open_redis("redis://127.0.0.1:1/0", "limiters: [", NULL, &h, &err),
                TK_E_CONFIG);
  EXPECT_EQ(h, 0);
  run_in_child("child of a process whose only open failed", failed_open_child, NULL);
  return tk_t_finish();
}

/* Re-executes this program with mode as its argument; folds its counts into ours. */
static void run_fresh_process(const char *mode) {
  int p[2];
  if (!CHECK(pipe(p) == 0)) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addclose(&fa, p[1]);
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!CHECK(len > 0)) return;
  exe[len] = '\0';
  char *argv[] = {exe, (char *)mode, NULL};
  pid_t pid;
  fflush(stdout);
  int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (!CHECKF(rc == 0, "posix_spawn %s: %s", exe, strerror(rc))) {
    close(p[0]);
    return;
  }
  FILE *out = fdopen(p[0], "r");
  char line[1024];
  long cp = -1, cf = -1, cs = 0;
  while (fgets(line, sizeof line, out)) {
    long a, b, c = 0;
    int n = sscanf(line, "%ld passed, %ld failed, %ld skipped", &a, &b, &c);
    if (n >= 2 && strstr(line, " passed, ")) {
      cp = a, cf = b, cs = n == 3 ? c : 0;
    } else {
      printf("  [%s] %s", mode, line);
    }
  }
  fclose(out);
  int status;
  waitpid(pid, &status, 0);
  if (CHECKF(cp >= 0, "the %s process printed no summary", mode)) tk_t_add_counts(cp, cf, cs);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == (cf > 0 ? 1 : 0),
         "the %s process ended with status 0x%x", mode, status);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--fresh") == 0) return run_fresh();
  if (argc > 1 && strcmp(argv[1], "--fresh-failed-open") == 0) return run_fresh_failed_open();

  /* (b) first, in fresh processes: this one is about to start the core. */
  run_fresh_process("--fresh");
  run_fresh_process("--fresh-failed-open");

  const char *url = tk_t_redis_url("the fork test (a)");
  tk_t_namespace(ns, sizeof ns, "fork-a");
  if (url) part_a(url);
  return tk_t_finish();
}
