/*
 * test_two_tier_fleet.c - the fleet bounds of two-tier leasing (two-tier.md §3, §8 "Proof, not
 * belief"), measured with several processes on one key of one real Redis.
 *
 * PROCS processes x THREADS threads each hold their own handle (one handle = one process of
 * §3, N_p = PROCS) and check one key of a fixedWindow policy (LIMIT per window) at explicit
 * instants (tk_check_at), so that L1's comparison and L2's window use the same clock. The
 * instants come from a virtual clock every process computes alike: base + (real µs since a
 * start the parent fixes) x SPEED / 1000. Each admitted check is counted in shared memory under
 * the window of the instant it passed. SPEED is above 1 because Redis expires a window's state
 * on its own clock (PEXPIRE resetAt - now, counted from when the script ran): an explicit clock
 * running at Redis's pace can see the state expire a millisecond or two before the virtual
 * window ends (the count restarts: seen as 205 admitted in a window of 200 at SPEED 1); a faster
 * virtual clock reaches the window's end first, and the script ignores a previous window's
 * state.
 *
 * The windows are gated: a check holds a process-shared read lock from reading its instant to
 * the end of its tk_check_at, and the current window only moves on under the write lock. So
 * every check of window k ends before any check of window k+1 starts, which is §3's setting
 * ("process clocks equal Redis's clock"). Without the gate, instants reach the library out of
 * order around a boundary, and two things then blur the count per window: a check that read
 * its instant before a boundary but reaches L1 after a lease of the next window landed spends
 * a next-window credit (no discard: its instant is before that lease's resetAt), and, in L2,
 * an instant of the old window arriving after the state rolled restarts the count, since
 * fixedWindow keeps the count only when the stored window start equals this instant's
 * (lua-contract.md; tokenBudget, by contrast, never rolls back). Measured ungated on 2 cores
 * under load: the plain policy (no two-tier at all) admitted up to 416 in a window of 200,
 * and the coupled one up to 1,376 of 1,000. The gate keeps the test about the library.
 *
 * Workload of the leased runs: windows alternate light and heavy. In a light window one thread
 * per process makes a single check in the window's second half: it leases BATCH and spends 1,
 * so each process goes into the boundary holding BATCH - 1 credits (§3: "the bound is
 * reachable"; on a loaded machine a process may miss its slot, which only lowers the carry).
 * In a heavy window every thread of every process checks without pause, so all keep asking.
 *
 *  (a) windowCoupled, lowWater 0: at most LIMIT admitted in every window, and at least
 *      LIMIT - PROCS x BATCH in each full heavy window.
 *  (b) not coupled: at most LIMIT + PROCS x (BATCH - 1) in every window; with this workload
 *      the carried credits are spent on top of a full window's leases, so a heavy window goes
 *      beyond LIMIT: asserted, which shows that (a)'s assertion can fail.
 *  (c) cached-deny (and the plain policy as its reference, same workload, all windows heavy):
 *      exactly LIMIT_CD admitted per window for both; a check that starts after its process
 *      saw L2 deny, before that denial's retry time, is answered locally (TK_DECISION_LOCAL,
 *      denied) with no Redis call; and Redis's own count of script calls (INFO commandstats:
 *      eval, evalsha and their _ro twins) grows by exactly the checks not answered locally.
 *
 * The parent never opens a handle (a child of a process that started the core could not use
 * the library); it forks, fixes the start once every child is ready, and reads the counters.
 */
#include "tk_test.h"
#include "tk_test_net.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PROCS 4
#define THREADS 8
#define LIMIT 1000
#define BATCH 50
#define WINDOW_MS 500 /* virtual ms: 250 real ms */
#define SPEED 2       /* virtual ms per real ms: see below */
#define LEASED_WINDOWS 10
#define LIMIT_CD 200
#define CD_WINDOWS 10
#define MAX_WINDOWS 16
#define CHILD_DEADLINE_MS 60000
/* No check starts in the last QUIET_MS (virtual) of a window. Redis's TTL on the window's
   state runs in real time from each script run (resetAt - instant ms), so without the quiet
   tail a check made a millisecond before the window's end leaves the state a TTL of a
   millisecond, and a slower check of the same window still on its way then finds the state
   expired and restarts the count (seen on a machine at load 15: 212 admitted in a window of
   200). With it, the state outlives every check that takes less than QUIET_MS; a window with
   a slower one is reported "(slow)" and not held to the exact bounds. */
#define QUIET_MS 150

static const char *policies =
    "limiters:\n"
    "  coupled:\n"
    "    strategy: fixedWindow\n"
    "    limit: 1000\n"
    "    windowMs: 500\n"
    "    twoTier: { mode: leased, batch: 50, windowCoupled: true, lowWater: 0 }\n"
    "  uncoupled:\n"
    "    strategy: fixedWindow\n"
    "    limit: 1000\n"
    "    windowMs: 500\n"
    "    twoTier: { mode: leased, batch: 50, windowCoupled: false, lowWater: 0 }\n"
    "  plain: { strategy: fixedWindow, limit: 200, windowMs: 500 }\n"
    "  denies: { strategy: fixedWindow, limit: 200, windowMs: 500, twoTier: { mode: cached-deny } }\n";

typedef struct {
  const char *policy, *key;
  int windows;
  int alternate; /* 1: light (even) and heavy (odd) windows; 0: every window heavy */
} scenario_t;

typedef struct {
  pthread_rwlock_t gate;      /* first: run() clears what follows it */
  int cur;                    /* the current window, under gate */
  int64_t entered[MAX_WINDOWS]; /* virtual ms into its window at which it became current */
  int64_t base;               /* virtual epoch ms of window 0's start, a multiple of WINDOW_MS */
  int64_t start_us;           /* CLOCK_MONOTONIC µs at which the virtual clock reads base */
  atomic_int ready, go;
  atomic_long admitted[MAX_WINDOWS], denied[MAX_WINDOWS], local[MAX_WINDOWS];
  atomic_long remote;         /* decisions that were not local: one L2 script call each */
  atomic_int slow[MAX_WINDOWS]; /* a check of the window came back after the window's end */
  atomic_long errors, stale_local, bad_cached;
  char first_error[256];
  atomic_int error_written;
} shared_t;

static shared_t *shared;
static const char *url;
static char ns[128];

static int64_t vclock(void) {
  return shared->base + (tk_t_mono_us() - shared->start_us) * SPEED / 1000;
}

static void record_error(const char *what) {
  atomic_fetch_add(&shared->errors, 1);
  if (!atomic_exchange(&shared->error_written, 1))
    snprintf(shared->first_error, sizeof shared->first_error, "%s", what);
}

/* ---- a child: one handle, THREADS threads ------------------------------------------------ */

static tk_handle_t child_handle;
static const scenario_t *child_sc;
static atomic_int light_done; /* the last light window this process checked in, + 1 */
static _Atomic int64_t deny_until; /* cached-deny: this process saw L2 deny until then */

/* Moves the current window on to the one the clock shows, once no check is in flight. */
static void advance(void) {
  pthread_rwlock_wrlock(&shared->gate);
  int64_t off = vclock() - shared->base;
  int w = (int)(off / WINDOW_MS);
  if (w > shared->cur) {
    shared->cur = w;
    if (w < MAX_WINDOWS) shared->entered[w] = off % WINDOW_MS;
  }
  pthread_rwlock_unlock(&shared->gate);
}

static void *worker(void *arg) {
  int id = (int)(uintptr_t)arg;
  for (;;) {
    pthread_rwlock_rdlock(&shared->gate);
    int64_t t = vclock();
    int64_t off = t - shared->base;
    int w = (int)(off / WINDOW_MS);
    if (w >= child_sc->windows) {
      pthread_rwlock_unlock(&shared->gate);
      break;
    }
    if (w != shared->cur) {
      pthread_rwlock_unlock(&shared->gate);
      advance();
      continue;
    }
    if (off % WINDOW_MS >= WINDOW_MS - QUIET_MS) { /* the quiet tail */
      pthread_rwlock_unlock(&shared->gate);
      tk_t_sleep_ms(1);
      continue;
    }
    if (child_sc->alternate && w % 2 == 0) { /* light: one late check per process */
      if (id != 0 || atomic_load(&light_done) == w + 1 || off % WINDOW_MS < WINDOW_MS / 2) {
        pthread_rwlock_unlock(&shared->gate);
        tk_t_sleep_ms(1);
        continue;
      }
      atomic_store(&light_done, w + 1);
    }
    int64_t until = atomic_load(&deny_until);
    tk_decision_t d;
    tk_error_t err;
    int rc = tk_check_at(child_handle, child_sc->policy, child_sc->key, 1, t, &d, &err);
    int slow = vclock() - t > QUIET_MS;
    pthread_rwlock_unlock(&shared->gate);
    if (rc != TK_OK) {
      record_error(err.message);
      continue;
    }
    int local = (d.flags & TK_DECISION_LOCAL) != 0;
    if (slow && !local) atomic_store(&shared->slow[w], 1); /* a local answer reached no Redis */
    atomic_fetch_add(d.allowed ? &shared->admitted[w] : &shared->denied[w], 1);
    if (local) atomic_fetch_add(&shared->local[w], 1);
    else atomic_fetch_add(&shared->remote, 1);
    if (t < until && (!local || d.allowed)) atomic_fetch_add(&shared->bad_cached, 1);
    if (!d.allowed && !local) { /* L2 denied: the handle caches it until t + retry */
      int64_t u = t + d.retry_after_ms, seen = atomic_load(&deny_until);
      while (u > seen && !atomic_compare_exchange_weak(&deny_until, &seen, u)) {
      }
    }
    if (local && d.allowed && d.reset_at_ms <= t) atomic_fetch_add(&shared->stale_local, 1);
  }
  return NULL;
}

static void child(const scenario_t *sc) {
  child_sc = sc;
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 10000; /* a loaded machine must not turn into errors */
  tk_error_t err;
  if (tk_open_redis(url, policies, &o, &child_handle, &err) != TK_OK) {
    record_error(err.message);
    atomic_fetch_add(&shared->ready, 1);
    _exit(1);
  }
  /* Load the script before the parent reads Redis's command counts: a key of its own. */
  tk_decision_t d;
  if (tk_check(child_handle, sc->policy, "warm-up", 1, &d, &err) != TK_OK) record_error(err.message);
  atomic_fetch_add(&shared->ready, 1);
  while (!atomic_load(&shared->go)) tk_t_sleep_ms(1);
  while (tk_t_mono_us() < shared->start_us) tk_t_sleep_ms(1);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  tk_free(child_handle);
  _exit(0);
}

/* ---- the parent ------------------------------------------------------------------------- */

/* Redis's count of script calls: the calls= of cmdstat_eval, _evalsha, _eval_ro, _evalsha_ro. */
static long script_calls(void) {
  char info[8192];
  if (tk_t_redis(url, info, sizeof info, "INFO", "commandstats", NULL) != 0) return -1;
  static const char *const names[] = {"cmdstat_eval:", "cmdstat_evalsha:", "cmdstat_eval_ro:",
                                      "cmdstat_evalsha_ro:"};
  long total = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *p = strstr(info, names[i]);
    if (p && (p = strstr(p, "calls="))) total += atol(p + 6);
  }
  return total;
}

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

/* Runs sc with fresh processes; returns the script calls Redis counted during the run (-1 if
   it could not be read), the counters being in shared. */
static long run(const scenario_t *sc) {
  /* everything but the gate, which stays initialised and unlocked between runs */
  memset((char *)shared + offsetof(shared_t, cur), 0, sizeof *shared - offsetof(shared_t, cur));
  for (int w = 1; w < MAX_WINDOWS; w++) shared->entered[w] = WINDOW_MS; /* never entered: skipped */
  fflush(stdout);
  fflush(stderr);
  pid_t pids[PROCS];
  for (int i = 0; i < PROCS; i++) {
    pids[i] = fork();
    if (pids[i] == 0) child(sc);
    CHECKF(pids[i] > 0, "fork: %s", strerror(errno));
  }
  int64_t deadline = tk_t_mono_ms() + CHILD_DEADLINE_MS;
  while (atomic_load(&shared->ready) < PROCS && tk_t_mono_ms() < deadline) tk_t_sleep_ms(5);
  long before = script_calls();
  /* Window 0 starts 100 ms from now; windows are epoch-aligned, as the script's are. */
  shared->base = (tk_t_wall_ms() / WINDOW_MS + 1) * WINDOW_MS;
  shared->start_us = tk_t_mono_us() + 100000;
  atomic_store(&shared->go, 1);
  for (int i = 0; i < PROCS; i++) {
    if (pids[i] <= 0) continue;
    int status = reap(pids[i], deadline);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", i, status);
  }
  long after = script_calls();
  CHECKF(atomic_load(&shared->errors) == 0, "%ld errors; first: %s", atomic_load(&shared->errors),
         shared->first_error);
  return before < 0 || after < 0 ? -1 : after - before;
}

/* A heavy window is full when it became current in its first half (the gate can hold a window
   back while a check is slow, or skip it entirely on a loaded machine) and none of its checks
   was slow (SLOW_MS). */
static int full(int w) { return shared->entered[w] < WINDOW_MS / 2 && !atomic_load(&shared->slow[w]); }

static void report(const char *name, const scenario_t *sc, long *min_heavy, long *max_any,
                   int *full_heavy) {
  *min_heavy = -1;
  *max_any = 0;
  *full_heavy = 0;
  printf("  %-9s admitted per window:", name);
  for (int w = 0; w < sc->windows; w++) {
    long a = atomic_load(&shared->admitted[w]);
    int heavy = !sc->alternate || w % 2 == 1;
    printf(" %ld%s", a, heavy ? (full(w) ? "" : atomic_load(&shared->slow[w]) ? "(slow)" : "(late)") : "(light)");
    if (a > *max_any && !atomic_load(&shared->slow[w])) *max_any = a;
    if (heavy && w > 0 && full(w)) { /* window 0 of an all-heavy run starts cold: skipped */
      (*full_heavy)++;
      if (*min_heavy < 0 || a < *min_heavy) *min_heavy = a;
    }
  }
  long checks = 0, local = 0;
  for (int w = 0; w < sc->windows; w++) {
    checks += atomic_load(&shared->admitted[w]) + atomic_load(&shared->denied[w]);
    local += atomic_load(&shared->local[w]);
  }
  printf("\n  %-9s %ld checks, %ld answered locally, %ld by Redis\n", name, checks, local,
         atomic_load(&shared->remote));
}

static void test_leased(void) {
  const long upper_coupled = LIMIT, lower_coupled = LIMIT - PROCS * BATCH;
  const long upper_uncoupled = LIMIT + PROCS * (BATCH - 1);
  long min_heavy, max_any;
  int full_heavy;

  scenario_t coupled = {"coupled", "k-coupled", LEASED_WINDOWS, 1};
  run(&coupled);
  report("coupled", &coupled, &min_heavy, &max_any, &full_heavy);
  printf("  coupled   max %ld <= %ld (limit); full heavy windows min %ld >= %ld (limit - N_p x batch)\n",
         max_any, upper_coupled, min_heavy, lower_coupled);
  EXPECT_LE(max_any, upper_coupled);
  EXPECT_GE(full_heavy, LEASED_WINDOWS / 2 - 2);
  EXPECT_GE(min_heavy, lower_coupled);
  EXPECT_EQ(atomic_load(&shared->stale_local), 0); /* no local allow past its grant's window */

  scenario_t uncoupled = {"uncoupled", "k-uncoupled", LEASED_WINDOWS, 1};
  run(&uncoupled);
  report("uncoupled", &uncoupled, &min_heavy, &max_any, &full_heavy);
  printf("  uncoupled max %ld <= %ld (limit + N_p x (batch - 1)), and > %d (limit): the carried "
         "credits are spent\n",
         max_any, upper_uncoupled, LIMIT);
  EXPECT_LE(max_any, upper_uncoupled);
  EXPECT_GT(max_any, LIMIT); /* the same workload does exceed limit without coupling */
  EXPECT_GE(full_heavy, LEASED_WINDOWS / 2 - 2);
  EXPECT_GE(min_heavy, lower_coupled);
}

static void test_cached_deny(void) {
  long min_heavy, max_any;
  int full_heavy;

  scenario_t plain = {"plain", "k-plain", CD_WINDOWS, 0};
  long plain_calls = run(&plain);
  report("plain", &plain, &min_heavy, &max_any, &full_heavy);
  long plain_remote = atomic_load(&shared->remote);
  printf("  plain     Redis counted %ld script calls; admitted per full window %ld..%ld (limit %d)\n",
         plain_calls, min_heavy, max_any, LIMIT_CD);
  EXPECT_GE(full_heavy, CD_WINDOWS / 2);
  EXPECT_EQ(min_heavy, LIMIT_CD); /* the workload fills every window */
  EXPECT_EQ(plain_calls, plain_remote);

  scenario_t denies = {"denies", "k-denies", CD_WINDOWS, 0};
  long cd_calls = run(&denies);
  report("cached", &denies, &min_heavy, &max_any, &full_heavy);
  long cd_remote = atomic_load(&shared->remote);
  long local = 0;
  for (int w = 0; w < CD_WINDOWS; w++) local += atomic_load(&shared->local[w]);
  printf("  cached    Redis counted %ld script calls (plain: %ld); admitted per full window "
         "%ld..%ld (plain: exactly %d); %ld checks after a denial not answered locally\n",
         cd_calls, plain_calls, min_heavy, max_any, LIMIT_CD, atomic_load(&shared->bad_cached));
  EXPECT_GE(full_heavy, CD_WINDOWS / 2);
  EXPECT_EQ(min_heavy, LIMIT_CD); /* allowed traffic exact: what the plain policy allows */
  EXPECT_EQ(max_any, LIMIT_CD);
  EXPECT_EQ(atomic_load(&shared->bad_cached), 0);
  EXPECT_EQ(cd_calls, cd_remote); /* a local answer made no Redis call */
  EXPECT_GT(local, 0);
  EXPECT_LT(cd_calls, plain_calls);
}

int main(void) {
  url = tk_t_redis_url("the two-tier fleet tests");
  if (!url) return tk_t_finish();
  tk_t_namespace(ns, sizeof ns, "twotier");
  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(shared != MAP_FAILED)) return tk_t_finish();
  memset(shared, 0, sizeof *shared);
  pthread_rwlockattr_t a;
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  /* a writer (the window's move) is not starved by the readers (the checks) */
  pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  if (!CHECK(pthread_rwlock_init(&shared->gate, &a) == 0)) return tk_t_finish();
  pthread_rwlockattr_destroy(&a);
  test_leased();
  test_cached_deny();
  pthread_rwlock_destroy(&shared->gate);
  return tk_t_finish();
}
