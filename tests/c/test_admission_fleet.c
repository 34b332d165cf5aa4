/*
 * test_admission_fleet.c - the Redis door's admission ceiling is exact for a fleet
 * (admission.md §9, issue 22's proof).
 *
 * (a) 4 processes x 8 threads admit and release on one key of a pinned policy (limit 5) for
 *     RUN_MS. Each holder counts itself in a counter in shared memory, outside the library:
 *     after tk_admit says allowed and before it calls tk_release, so the counter never
 *     exceeds the slots really held. Its maximum must stay <= 5 (and reach 2 or more, so the
 *     run really overlapped), with no call failing.
 * (b) A process takes all 5 slots and is killed with SIGKILL. Another process sees the
 *     policy full before the kill, and admitted again within the lease TTL (2 s) plus 1 s.
 *
 * The parent never opens a handle before it forks (a child of a process that started the
 * core could not use the library); each child opens its own.
 */
#include "tk_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PROCS 4
#define THREADS 8
#define LIMIT 5
#define RUN_MS 3000
#define CHILD_DEADLINE_MS 60000
#define TTL_MS 2000
#define RECLAIM_BOUND_MS (TTL_MS + 1000)

static const char *policies =
    "limiters:\n"
    "  pool: { concurrency: { minLimit: 5, maxLimit: 5 } }\n";

typedef struct {
  atomic_int inflight, max_inflight;
  atomic_long admitted, refused, errors;
  char first_error[256];
  atomic_int error_written;
} shared_t;

static shared_t *shared;
static const char *url;
static char ns[128];

static tk_handle_t open_handle(tk_error_t *err) {
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 10000; /* a loaded machine must not turn into errors */
  tk_handle_t h = 0;
  if (tk_open_redis(url, policies, &o, &h, err) != TK_OK) return 0;
  return h;
}

static void record_error(const tk_error_t *err) {
  atomic_fetch_add(&shared->errors, 1);
  if (!atomic_exchange(&shared->error_written, 1))
    snprintf(shared->first_error, sizeof shared->first_error, "%s", err->message);
}

static tk_handle_t child_handle;
static int64_t run_until;

static void *worker(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u ^ (unsigned)getpid();
  while (tk_t_mono_ms() < run_until) {
    tk_admission_t a;
    tk_error_t err;
    if (tk_admit(child_handle, "pool", "k", 1, &a, &err) != TK_OK) {
      record_error(&err);
      continue;
    }
    if (!a.decision.allowed) {
      atomic_fetch_add(&shared->refused, 1);
      usleep(200 + rand_r(&seed) % 800);
      continue;
    }
    atomic_fetch_add(&shared->admitted, 1);
    int now = atomic_fetch_add(&shared->inflight, 1) + 1;
    int seen = atomic_load(&shared->max_inflight);
    while (now > seen && !atomic_compare_exchange_weak(&shared->max_inflight, &seen, now)) {
    }
    usleep(500 + rand_r(&seed) % 3000); /* the work the slot protects */
    atomic_fetch_sub(&shared->inflight, 1);
    if (tk_release(child_handle, "pool", "k", a.lease_id, 0, &err) != TK_OK) record_error(&err);
  }
  return NULL;
}

static void hammer(void) {
  tk_error_t err;
  child_handle = open_handle(&err);
  if (!child_handle) {
    record_error(&err);
    _exit(1);
  }
  run_until = tk_t_mono_ms() + RUN_MS;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  tk_free(child_handle);
  _exit(0);
}

/* Waits for pid, killing it once the deadline has passed; returns its wait status. */
static int reap(pid_t pid, int64_t deadline) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (tk_t_mono_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      tk_t_failf(__FILE__, __LINE__, "child %d did not finish in time", (int)pid);
      return status;
    }
    tk_t_sleep_ms(20);
  }
}

static void test_exact_ceiling(void) {
  pid_t pids[PROCS];
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < PROCS; i++) {
    pids[i] = fork();
    if (pids[i] == 0) hammer();
    CHECKF(pids[i] > 0, "fork: %s", strerror(errno));
  }
  int64_t deadline = tk_t_mono_ms() + CHILD_DEADLINE_MS;
  for (int i = 0; i < PROCS; i++) {
    if (pids[i] <= 0) continue;
    int status = reap(pids[i], deadline);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", i, status);
  }
  int max = atomic_load(&shared->max_inflight);
  printf("  %d processes x %d threads, %d ms: %ld admitted, %ld refused, %ld errors, at most %d in flight\n",
         PROCS, THREADS, RUN_MS, atomic_load(&shared->admitted), atomic_load(&shared->refused),
         atomic_load(&shared->errors), max);
  EXPECT_LE(max, LIMIT);
  EXPECT_GE(max, 2);
  EXPECT_GT(atomic_load(&shared->admitted), 10);
  CHECKF(atomic_load(&shared->errors) == 0, "first error: %s", shared->first_error);
  EXPECT_EQ(atomic_load(&shared->inflight), 0);
}

static void test_killed_holder(void) {
  int ready[2];
  if (!CHECK(pipe(ready) == 0)) return;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    tk_error_t err;
    tk_handle_t h = open_handle(&err);
    int held = 0;
    /* The hammer's leases are all released; take every slot. */
    for (int tries = 0; h && held < LIMIT && tries < 1000; tries++) {
      tk_admission_t a;
      if (tk_admit(h, "pool", "k", 1, &a, &err) == TK_OK && a.decision.allowed) held++;
      else tk_t_sleep_ms(10);
    }
    char c = held == LIMIT ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    for (;;) pause(); /* holds its leases until killed */
  }
  close(ready[1]);
  if (!CHECKF(pid > 0, "fork: %s", strerror(errno))) return;
  char c = 0;
  ssize_t got = read(ready[0], &c, 1);
  close(ready[0]);
  if (!CHECKF(got == 1 && c == 'y', "the holder did not take all %d slots", LIMIT)) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return;
  }
  tk_error_t err;
  tk_handle_t h = open_handle(&err);
  if (!CHECKF(h != 0, "open: %s", err.message)) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return;
  }
  tk_admission_t a;
  EXPECT_OK(tk_admit(h, "pool", "k", 1, &a, &err));
  EXPECT_EQ(a.decision.allowed, 0); /* full while the holder lives */
  kill(pid, SIGKILL);
  int64_t killed = tk_t_mono_ms();
  waitpid(pid, NULL, 0);
  int64_t back = -1;
  while (tk_t_mono_ms() - killed < RECLAIM_BOUND_MS + 10000) {
    int64_t asked = tk_t_mono_ms(); /* the call's own duration is not the lease's */
    if (tk_admit(h, "pool", "k", 1, &a, &err) == TK_OK && a.decision.allowed) {
      back = asked - killed;
      break;
    }
    tk_t_sleep_ms(50);
  }
  printf("  a killed holder's slots came back after %lld ms\n", (long long)back);
  CHECKF(back >= 0, "no slot came back");
  EXPECT_LE(back, RECLAIM_BOUND_MS);
  tk_release(h, "pool", "k", a.lease_id, 0, &err);
  tk_free(h);
}

int main(void) {
  url = tk_t_redis_url("the fleet admission tests");
  if (!url) return tk_t_finish();
  tk_t_namespace(ns, sizeof ns, "fleet");
  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(shared != MAP_FAILED)) return tk_t_finish();
  memset(shared, 0, sizeof *shared);
  test_exact_ceiling();
  test_killed_holder();
  return tk_t_finish();
}
