/*
 * test_local_credits.c - the slots of leased credits (internal/cabi/credits.c), which answer a
 * hot key's tk_check_async_now without entering Go:
 *
 *   - the same decisions, every field, as a handle answered by the core alone (tk_check on a
 *     twin handle with the same policies), through leases, local hits and denials, for a
 *     window-coupled fixedWindow and an uncoupled gcra; exactly `limit` admitted per window;
 *   - the chunks are in use: a tk_check on the same handle sees the core's remaining, below
 *     what the chunk still hands out;
 *   - tk_reset forgets the chunks (the next decision is the fresh one), and tk_free does too
 *     (TK_E_BADHANDLE, never an answer from a chunk);
 *   - L1 takes a chunk back before it leases (two-tier.md §3: a process leases only when it
 *     holds no credits): a tk_check that drains L1 while the slot holds units is answered
 *     from them, locally, with no lease;
 *   - 8 threads on one key of one handle admit at most the limit, and lose at most a chunk each;
 *     threads mixing both calls on an uncoupled policy end holding less than a batch;
 *   - window-coupled chunks end with their window: over many short windows, no local allow
 *     from a check that started at or after its window's end (a limit never reached, so chunks
 *     are held at every end); and two Redis handles on a limit every window reaches admit at
 *     most the limit in each window, counting the checks that waited for a lease too.
 */
#include "tk_test.h"

#include <pthread.h>
#include <sched.h>

static const char *policies =
    "limiters:\n"
    "  fw: { strategy: fixedWindow, limit: 3000, windowMs: 1h, twoTier: { mode: leased, batch: 1000, windowCoupled: true } }\n"
    "  gcra: { strategy: gcra, limit: 100, period: 1h, burst: 2500, twoTier: { mode: leased, batch: 500 } }\n";

static tk_error_t err;

static tk_handle_t open_memory(void) {
  tk_options_t o;
  tk_options_init(&o);
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_memory(policies, &o, &h, &err))) return 0;
  return h;
}

/* One check through tk_check_async_now on a memory handle: always decided before it returns. */
static int check_now(tk_handle_t h, const char *policy, const char *key, tk_decision_t *d) {
  int32_t done = 0;
  memset(d, 0, sizeof *d);
  if (!EXPECT_OK(tk_check_async_now(h, policy, key, 1, 1, d, &done, &err))) return 0;
  return EXPECT_EQ(done, 1);
}

/* Every field; retry_after_ms within the time between the two calls (denials only). */
static int same(const char *ctx, const tk_decision_t *a, const tk_decision_t *b) {
  int ok = EXPECT_EQ_CTX(ctx, a->allowed, b->allowed);
  ok &= EXPECT_EQ_CTX(ctx, a->flags, b->flags);
  ok &= EXPECT_EQ_CTX(ctx, a->limit, b->limit);
  ok &= EXPECT_EQ_CTX(ctx, a->remaining, b->remaining);
  ok &= EXPECT_EQ_CTX(ctx, a->window_ms, b->window_ms);
  ok &= EXPECT_EQ_CTX(ctx, a->reset_at_ms / 1000, b->reset_at_ms / 1000);
  ok &= CHECKF(llabs(a->retry_after_ms - b->retry_after_ms) <= 1000, "%s: retry_after_ms %lld vs %lld",
               ctx, (long long)a->retry_after_ms, (long long)b->retry_after_ms);
  return ok;
}

/* n checks of key on a (tk_check_async_now, chunked) and b (tk_check, the core alone), side by
   side; returns how many a admitted. */
static int64_t twins(tk_handle_t a, tk_handle_t b, const char *policy, const char *key, int n) {
  int64_t admitted = 0;
  for (int i = 0; i < n; i++) {
    tk_decision_t da, db;
    if (!check_now(a, policy, key, &da)) break;
    if (!EXPECT_OK(tk_check(b, policy, key, 1, &db, &err))) break;
    char ctx[96];
    snprintf(ctx, sizeof ctx, "%s/%s check %d", policy, key, i + 1);
    if (!same(ctx, &da, &db)) break;
    admitted += da.allowed;
  }
  return admitted;
}

static void test_twins(void) {
  /* Away from the hour's end, so that one window holds the whole run. */
  int64_t left = 3600000 - tk_t_wall_ms() % 3600000;
  if (left < 30000) tk_t_sleep_ms(left + 100);
  tk_handle_t a = open_memory(), b = open_memory();
  if (!a || !b) return;
  EXPECT_EQ_CTX("fixedWindow, coupled: the limit exactly", twins(a, b, "fw", "hot", 4000), 3000);
  EXPECT_EQ_CTX("gcra, uncoupled: the burst", twins(a, b, "gcra", "hot", 3000), 2500);

  /* Reset forgets the chunk: both handles start again alike. */
  EXPECT_OK(tk_reset(a, "fw", "hot", &err));
  EXPECT_OK(tk_reset(b, "fw", "hot", &err));
  EXPECT_EQ_CTX("after reset", twins(a, b, "fw", "hot", 500), 500);

  /* The chunk is in use: the core has counted it, the shim still hands it out. */
  tk_decision_t d1, d2, sync;
  for (int i = 0; i < 50; i++) check_now(a, "fw", "seen", &d1);
  check_now(a, "fw", "seen", &d1);
  EXPECT_OK(tk_check(a, "fw", "seen", 1, &sync, &err));
  check_now(a, "fw", "seen", &d2);
  CHECKF(sync.remaining < d2.remaining, "the core's remaining %lld, the chunk's next %lld: no chunk held",
         (long long)sync.remaining, (long long)d2.remaining);
  EXPECT_EQ(d2.remaining, d1.remaining - 1);

  /* Freed: the handle is gone, its chunks with it. */
  EXPECT_OK(tk_free(a));
  int32_t done = 7;
  EXPECT_STATUS(tk_check_async_now(a, "fw", "seen", 1, 1, &d1, &done, &err), TK_E_BADHANDLE);
  EXPECT_EQ(done, 0);
  EXPECT_OK(tk_free(b));
}

/* The slot's units go back to L1 before it leases: a tk_check that finds L1 empty is answered
   from them. */
static void test_take_back(void) {
  tk_handle_t h = open_memory();
  if (!h) return;
  tk_decision_t d1, d2, sync, d;
  /* Hot until the slot holds a chunk: the core's count falls below what the slot hands out. */
  int held = 0;
  for (int i = 0; i < 200 && !held; i++) {
    check_now(h, "fw", "back", &d1);
    if (!EXPECT_OK(tk_check(h, "fw", "back", 1, &sync, &err))) break;
    check_now(h, "fw", "back", &d2);
    held = d2.remaining > sync.remaining && d2.remaining == d1.remaining - 1;
  }
  if (!CHECKF(held, "no chunk held after 200 rounds")) return;
  /* Cost 0 means 1 in the slot too. */
  int32_t done = 0;
  tk_decision_t zero;
  if (EXPECT_OK(tk_check_async_now(h, "fw", "back", 0, 1, &zero, &done, &err)) && EXPECT_EQ(done, 1))
    EXPECT_EQ_CTX("cost 0 from the slot", zero.remaining, d2.remaining - 1);
  d2 = zero;
  /* The slot answered d2 and holds left more; L1 held sync.remaining + 1 before the sync check. */
  int64_t left = d2.remaining - (sync.remaining + 1);
  CHECKF(left >= 0 && left < 64, "units left in the slot: %lld", (long long)left);
  for (int64_t i = 0; i < sync.remaining; i++) {
    if (!EXPECT_OK(tk_check(h, "fw", "back", 1, &d, &err))) return;
  }
  EXPECT_EQ_CTX("L1 drained", d.remaining, 0);
  if (!EXPECT_OK(tk_check(h, "fw", "back", 1, &d, &err))) return;
  if (left > 0) {
    EXPECT_EQ_CTX("answered from the slot's units: local, no lease", d.flags & TK_DECISION_LOCAL, TK_DECISION_LOCAL);
    EXPECT_EQ_CTX("what the slot held, less this check", d.remaining, left - 1);
  }
  EXPECT_OK(tk_free(h));
}

/* Threads checking one key of `shared`: every one through tk_check_async_now, or (mixed) the
   odd ones through tk_check. */
enum { MAX_THREADS = 8 };
static tk_handle_t shared;
static struct {
  const char *policy, *key;
  int per_thread, mixed;
} load;
static int64_t admitted[MAX_THREADS], pending[MAX_THREADS];

static void *hammer(void *arg) {
  int64_t t = (int64_t)(intptr_t)arg;
  for (int i = 0; i < load.per_thread; i++) {
    tk_decision_t d;
    int32_t done = 1;
    tk_error_t e;
    int rc = load.mixed && t % 2 ? tk_check(shared, load.policy, load.key, 1, &d, &e)
                                 : tk_check_async_now(shared, load.policy, load.key, 1, 1, &d, &done, &e);
    if (rc != TK_OK) continue;
    if (done)
      admitted[t] += d.allowed;
    else
      pending[t]++; /* joined a lease in flight: its completion comes through tk_poll */
  }
  return NULL;
}

/* Runs `threads` hammers and polls shared until the checks that joined a lease in flight
   completed; returns how many checks were admitted in all. */
static int64_t hammer_all(int threads) {
  memset(admitted, 0, sizeof admitted);
  memset(pending, 0, sizeof pending);
  pthread_t th[MAX_THREADS];
  for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, hammer, (void *)(intptr_t)t);
  int64_t total = 0, waiting = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    total += admitted[t];
    waiting += pending[t];
  }
  int64_t deadline = tk_t_mono_ms() + 10000;
  while (waiting > 0 && tk_t_mono_ms() < deadline) {
    tk_completion_t c[64];
    size_t n = 0;
    if (!EXPECT_OK(tk_poll(shared, c, 64, &n))) break;
    for (size_t i = 0; i < n; i++) total += c[i].status == TK_OK && c[i].decision.allowed;
    waiting -= (int64_t)n;
    if (n == 0) tk_t_sleep_ms(5);
  }
  EXPECT_EQ_CTX("every check that waited for a lease completed", waiting, 0);
  return total;
}

static void test_threads(void) {
  shared = open_memory();
  if (!shared) return;
  load.policy = "fw", load.key = "threads", load.per_thread = 600, load.mixed = 0;
  int64_t total = hammer_all(8);
  printf("8 threads x 600 checks on a limit of 3000: %lld admitted\n", (long long)total);
  EXPECT_LE(total, 3000);
  EXPECT_GE(total, 3000 - 8 * 64);
  EXPECT_OK(tk_free(shared));
}

/* Threads mixing tk_check_async_now and tk_check on an uncoupled policy (batch 100) through a
   Redis handle: every check admitted, and what the handle leased minus what it admitted (what
   it holds at the end) below a batch. A lease taken while a slot still held units shows here
   only when the run happens to end on one; test_take_back is the check that always fails
   without the take-back. */
/* One fixed window in Redis, leased through one handle and peeked through another. */
static const char *mixed_policies =
    "limiters:\n"
    "  fwu: { strategy: fixedWindow, limit: 1000000, windowMs: 1h, prefix: tk-mixed-%d%s }\n";

static tk_handle_t open_redis(const char *url, const char *tier) {
  char yaml[512];
  snprintf(yaml, sizeof yaml, mixed_policies, (int)getpid(), tier);
  tk_options_t o;
  tk_options_init(&o);
  tk_handle_t h = 0;
  if (!EXPECT_OK(tk_open_redis(url, yaml, &o, &h, &err))) return 0;
  return h;
}

static void test_mixed(void) {
  const char *url = tk_t_redis_url("threads mixing calls on a Redis handle");
  if (!url) return;
  tk_handle_t plain = open_redis(url, "");
  shared = open_redis(url, ", twoTier: { mode: leased, batch: 100 }");
  if (!plain || !shared) return;
  load.policy = "fwu", load.key = "mixed", load.per_thread = 3000, load.mixed = 1;
  int64_t admitted_all = hammer_all(6);
  EXPECT_EQ_CTX("all admitted (the limit is far)", admitted_all, 6 * 3000);
  tk_decision_t peek;
  if (EXPECT_OK(tk_peek(plain, "fwu", "mixed", &peek, &err))) {
    int64_t leased = 1000000 - peek.remaining;
    printf("6 threads x 3000 mixed checks: %lld leased, %lld admitted\n", (long long)leased,
           (long long)admitted_all);
    EXPECT_GE(leased, admitted_all);
    EXPECT_LE(leased - admitted_all, 99);
  }
  EXPECT_OK(tk_free(shared));
  EXPECT_OK(tk_free(plain));
}

/* Threads on a window-coupled policy with windows of 200 ms, for a second and a half, spread
   over one or more handles (each one process of two-tier.md §3). Every admitted check is
   counted under the window it reports (reset_at_ms, L2's); a local allow from a check that
   started at or after that end is late. A check that waits for a lease completes through
   tk_poll: its thread polls the handle until some completion comes (any thread's), and counts
   what it polled, so every admitted check is counted. */
enum { COUPLED = 4, WINDOWS = 64 };
static struct {
  tk_handle_t handles[COUPLED];
  _Atomic int64_t waiting[COUPLED]; /* per handle: queued, not yet polled */
  int nhandles;
  const char *policy;
} run_on;
static int64_t coupled_late[COUPLED], coupled_checks[COUPLED];
static int64_t window_end[WINDOWS], window_admitted[WINDOWS];
static pthread_mutex_t window_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_window(int64_t reset_at) {
  pthread_mutex_lock(&window_mu);
  for (int i = 0; i < WINDOWS; i++) {
    if (window_end[i] == reset_at || window_end[i] == 0) {
      window_end[i] = reset_at;
      window_admitted[i]++;
      break;
    }
  }
  pthread_mutex_unlock(&window_mu);
}

/* Polls handle i until at least `least` completions came, none is outstanding (another thread
   polled them) or 5 s passed, counting what it polled. */
static void poll_some(int i, int64_t least) {
  int64_t got = 0, deadline = tk_t_mono_ms() + 5000;
  while (got < least && atomic_load(&run_on.waiting[i]) > 0 && tk_t_mono_ms() < deadline) {
    tk_completion_t c[16];
    size_t n = 0;
    if (tk_poll(run_on.handles[i], c, 16, &n) != TK_OK) return;
    for (size_t k = 0; k < n; k++)
      if (c[k].status == TK_OK && c[k].decision.allowed) count_window(c[k].decision.reset_at_ms);
    atomic_fetch_sub(&run_on.waiting[i], (int64_t)n);
    got += (int64_t)n;
    if (n == 0) sched_yield();
  }
}

static void *couple(void *arg) {
  int64_t t = (int64_t)(intptr_t)arg, stop = tk_t_mono_ms() + 1500;
  tk_handle_t h = run_on.handles[t % run_on.nhandles];
  while (tk_t_mono_ms() < stop) {
    tk_decision_t d;
    int32_t done = 0;
    tk_error_t e;
    int64_t started = tk_t_wall_ms();
    if (tk_check_async_now(h, run_on.policy, "coupled", 1, (uint64_t)t, &d, &done, &e) != TK_OK) continue;
    if (!done) {
      atomic_fetch_add(&run_on.waiting[t % run_on.nhandles], 1);
      poll_some(t % run_on.nhandles, 1);
      continue;
    }
    coupled_checks[t]++;
    if (!d.allowed) continue;
    if ((d.flags & TK_DECISION_LOCAL) && started >= d.reset_at_ms) coupled_late[t]++;
    count_window(d.reset_at_ms);
  }
  return NULL;
}

/* Runs the threads and checks every window; returns the most admitted in one. */
static int64_t run_coupled(const char *what, int64_t limit) {
  memset(coupled_late, 0, sizeof coupled_late);
  memset(coupled_checks, 0, sizeof coupled_checks);
  memset(window_end, 0, sizeof window_end);
  memset(window_admitted, 0, sizeof window_admitted);
  for (int i = 0; i < COUPLED; i++) atomic_store(&run_on.waiting[i], 0);
  pthread_t th[COUPLED];
  for (int t = 0; t < COUPLED; t++) pthread_create(&th[t], NULL, couple, (void *)(intptr_t)t);
  int64_t late = 0, checks = 0, most = 0;
  for (int t = 0; t < COUPLED; t++) {
    pthread_join(th[t], NULL);
    late += coupled_late[t];
    checks += coupled_checks[t];
  }
  for (int i = 0; i < run_on.nhandles; i++) {
    poll_some(i, atomic_load(&run_on.waiting[i]));
    EXPECT_EQ_CTX("every check that waited for a lease completed", atomic_load(&run_on.waiting[i]), 0);
  }
  int windows = 0;
  for (int i = 0; i < WINDOWS && window_end[i]; i++, windows++) {
    CHECKF(window_admitted[i] <= limit, "%s: window ending at %lld: %lld admitted, limit %lld", what,
           (long long)window_end[i], (long long)window_admitted[i], (long long)limit);
    if (window_admitted[i] > most) most = window_admitted[i];
  }
  printf("%s: %lld checks answered at once over %d windows of 200 ms, at most %lld admitted in one\n",
         what, (long long)checks, windows, (long long)most);
  EXPECT_EQ_CTX(what, late, 0);
  EXPECT_GE(windows, 5);
  return most;
}

static void test_coupled_windows(void) {
  /* A limit never reached, so that chunks are held at every window's end. */
  static const char *yaml =
      "limiters:\n"
      "  short: { strategy: fixedWindow, limit: 1000000000, windowMs: 200, twoTier: { mode: leased, batch: 500, windowCoupled: true } }\n";
  tk_options_t o;
  tk_options_init(&o);
  if (!EXPECT_OK(tk_open_memory(yaml, &o, &run_on.handles[0], &err))) return;
  run_on.nhandles = 1;
  run_on.policy = "short";
  run_coupled("memory, limit never reached", 1000000000);
  EXPECT_OK(tk_free(run_on.handles[0]));

  /* Two handles on one Redis, a limit every window reaches: at most the limit per window. */
  const char *url = tk_t_redis_url("window-coupled chunks on two Redis handles");
  if (!url) return;
  char redis_yaml[256];
  snprintf(redis_yaml, sizeof redis_yaml,
           "limiters:\n"
           "  tight: { strategy: fixedWindow, limit: 2000, windowMs: 200, prefix: tk-coupled-%d, twoTier: { mode: leased, batch: 200, windowCoupled: true } }\n",
           (int)getpid());
  for (int i = 0; i < 2; i++) {
    if (!EXPECT_OK(tk_open_redis(url, redis_yaml, &o, &run_on.handles[i], &err))) return;
  }
  run_on.nhandles = 2;
  run_on.policy = "tight";
  int64_t most = run_coupled("2 Redis handles, limit 2000 per window", 2000);
  EXPECT_GE(most, 2000 - 2 * 200); /* the limit is reached: the bound is not idle */
  for (int i = 0; i < 2; i++) EXPECT_OK(tk_free(run_on.handles[i]));
}

int main(void) {
  test_twins();
  test_take_back();
  test_threads();
  test_mixed();
  test_coupled_windows();
  return tk_t_finish();
}
