/*
 * tk_test.h - the tiny shared helper of ThrottleKit's C ABI tests (tests/c/).
 *
 * Assertions count passes and failures (thread-safe) and print file:line with what was got
 * and what was wanted. tk_t_finish() prints the summary line exactly as
 *     N passed, N failed            (", N skipped" appended when something was skipped)
 * and returns the process exit status: non-zero when anything failed.
 *
 * Header-only: every helper is static, so each test program gets its own counters.
 */
#ifndef TK_TEST_H
#define TK_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <limits.h>
#include <spawn.h>
#include <sys/wait.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "throttlekit.h"

static atomic_long tk_t_passed, tk_t_failed, tk_t_skipped;

#if defined(__GNUC__)
#define TK_T_UNUSED __attribute__((unused))
#define TK_T_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TK_T_UNUSED
#define TK_T_PRINTF(a, b)
#endif

static TK_T_UNUSED TK_T_PRINTF(3, 4) void tk_t_failf(const char *file, int line, const char *fmt,
                                                      ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* One write per failure, so that lines from concurrent threads do not interleave. */
  fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, buf);
  atomic_fetch_add(&tk_t_failed, 1);
}

static TK_T_UNUSED void tk_t_pass(void) { atomic_fetch_add(&tk_t_passed, 1); }

static TK_T_UNUSED TK_T_PRINTF(1, 2) void tk_t_skip(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "SKIP: ");
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  va_end(ap);
  atomic_fetch_add(&tk_t_skipped, 1);
}

/* Adds another process's counts (e.g. a re-executed copy of the test) to ours. */
static TK_T_UNUSED void tk_t_add_counts(long passed, long failed, long skipped) {
  atomic_fetch_add(&tk_t_passed, passed);
  atomic_fetch_add(&tk_t_failed, failed);
  atomic_fetch_add(&tk_t_skipped, skipped);
}

static TK_T_UNUSED long tk_t_failures(void) { return atomic_load(&tk_t_failed); }

/* Prints the summary line and returns the exit status. */
static TK_T_UNUSED int tk_t_finish(void) {
  long p = atomic_load(&tk_t_passed), f = atomic_load(&tk_t_failed),
       s = atomic_load(&tk_t_skipped);
  fflush(stderr);
  if (s)
    printf("%ld passed, %ld failed, %ld skipped\n", p, f, s);
  else
    printf("%ld passed, %ld failed\n", p, f);
  fflush(stdout);
  return f ? 1 : 0;
}

/* ---- Status names ------------------------------------------------------------------------ */

static TK_T_UNUSED const char *tk_t_status_name(long s) {
  switch (s) {
  case TK_OK: return "TK_OK";
  case TK_E_INVALID: return "TK_E_INVALID";
  case TK_E_BADHANDLE: return "TK_E_BADHANDLE";
  case TK_E_NOT_FOUND: return "TK_E_NOT_FOUND";
  case TK_E_UNSUPPORTED: return "TK_E_UNSUPPORTED";
  case TK_E_UNAVAILABLE: return "TK_E_UNAVAILABLE";
  case TK_E_TIMEOUT: return "TK_E_TIMEOUT";
  case TK_E_CONFIG: return "TK_E_CONFIG";
  case TK_E_FORKED: return "TK_E_FORKED";
  case TK_E_INTERNAL: return "TK_E_INTERNAL";
  case TK_E_AUTH: return "TK_E_AUTH";
  default: return "(not a tk_status_t)";
  }
}

/* ---- Assertions ---------------------------------------------------------------------------
 * Each evaluates its arguments once and yields 1 when it passed, 0 when it failed, so that a
 * test can stop a sequence that no longer makes sense: if (!EXPECT_OK(...)) return;
 */

#define CHECK(cond) tk_t_check(!!(cond), __FILE__, __LINE__, #cond)
static TK_T_UNUSED int tk_t_check(int ok, const char *file, int line, const char *what) {
  if (ok) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "CHECK(%s)", what);
  return 0;
}

/* CHECKF(cond, fmt, ...): CHECK with a message saying more. */
#define CHECKF(cond, ...) tk_t_checkf(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
static TK_T_UNUSED TK_T_PRINTF(5, 6) int tk_t_checkf(int ok, const char *file, int line,
                                                      const char *what, const char *fmt, ...) {
  if (ok) {
    tk_t_pass();
    return 1;
  }
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tk_t_failf(file, line, "CHECK(%s): %s", what, buf);
  return 0;
}

#define EXPECT_EQ(got, want) tk_t_expect_eq((int64_t)(got), (int64_t)(want), __FILE__, __LINE__, #got, #want, NULL)
/* EXPECT_EQ_CTX: the same, naming the case (e.g. a golden-vector suite and op). */
#define EXPECT_EQ_CTX(ctx, got, want) tk_t_expect_eq((int64_t)(got), (int64_t)(want), __FILE__, __LINE__, #got, #want, (ctx))
static TK_T_UNUSED int tk_t_expect_eq(int64_t got, int64_t want, const char *file, int line,
                                      const char *gs, const char *ws, const char *ctx) {
  if (got == want) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s%s%s%s == %s: got %" PRId64 ", want %" PRId64, ctx ? "[" : "",
             ctx ? ctx : "", ctx ? "] " : "", gs, ws, got, want);
  return 0;
}

#define EXPECT_GE(got, bound) tk_t_expect_cmp((int64_t)(got), (int64_t)(bound), 1, __FILE__, __LINE__, #got, #bound)
#define EXPECT_LE(got, bound) tk_t_expect_cmp((int64_t)(got), (int64_t)(bound), -1, __FILE__, __LINE__, #got, #bound)
#define EXPECT_LT(got, bound) tk_t_expect_cmp((int64_t)(got), (int64_t)(bound), -2, __FILE__, __LINE__, #got, #bound)
#define EXPECT_GT(got, bound) tk_t_expect_cmp((int64_t)(got), (int64_t)(bound), 2, __FILE__, __LINE__, #got, #bound)
static TK_T_UNUSED int tk_t_expect_cmp(int64_t got, int64_t bound, int how, const char *file,
                                       int line, const char *gs, const char *bs) {
  int ok = how == 1 ? got >= bound : how == -1 ? got <= bound : how == -2 ? got < bound : got > bound;
  const char *op = how == 1 ? ">=" : how == -1 ? "<=" : how == -2 ? "<" : ">";
  if (ok) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s %s %s: got %" PRId64 ", want %s %" PRId64, gs, op, bs, got, op, bound);
  return 0;
}

/* A status, compared by name. */
#define EXPECT_STATUS(got, want) tk_t_expect_status((long)(got), (long)(want), __FILE__, __LINE__, #got, NULL)
#define EXPECT_STATUS_CTX(ctx, got, want) tk_t_expect_status((long)(got), (long)(want), __FILE__, __LINE__, #got, (ctx))
#define EXPECT_OK(got) EXPECT_STATUS(got, TK_OK)
static TK_T_UNUSED int tk_t_expect_status(long got, long want, const char *file, int line,
                                          const char *gs, const char *ctx) {
  if (got == want) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s%s%s%s: got %ld %s, want %ld %s", ctx ? "[" : "", ctx ? ctx : "",
             ctx ? "] " : "", gs, got, tk_t_status_name(got), want, tk_t_status_name(want));
  return 0;
}

/* One of two statuses (e.g. TK_E_UNAVAILABLE or TK_E_TIMEOUT). */
#define EXPECT_STATUS2(got, want1, want2) tk_t_expect_status2((long)(got), (long)(want1), (long)(want2), __FILE__, __LINE__, #got)
static TK_T_UNUSED int tk_t_expect_status2(long got, long w1, long w2, const char *file, int line,
                                           const char *gs) {
  if (got == w1 || got == w2) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s: got %ld %s, want %s or %s", gs, got, tk_t_status_name(got),
             tk_t_status_name(w1), tk_t_status_name(w2));
  return 0;
}

#define EXPECT_STREQ(got, want) tk_t_expect_streq((got), (want), __FILE__, __LINE__, #got)
static TK_T_UNUSED int tk_t_expect_streq(const char *got, const char *want, const char *file,
                                         int line, const char *gs) {
  if (got && want && strcmp(got, want) == 0) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s: got \"%s\", want \"%s\"", gs, got ? got : "(null)",
             want ? want : "(null)");
  return 0;
}

/* The haystack must (or must not) contain needle. */
#define EXPECT_CONTAINS(hay, needle) tk_t_expect_contains((hay), (needle), 1, __FILE__, __LINE__, #hay)
#define EXPECT_NOT_CONTAINS(hay, needle) tk_t_expect_contains((hay), (needle), 0, __FILE__, __LINE__, #hay)
static TK_T_UNUSED int tk_t_expect_contains(const char *hay, const char *needle, int want,
                                            const char *file, int line, const char *hs) {
  int has = hay && strstr(hay, needle) != NULL;
  if (has == want) {
    tk_t_pass();
    return 1;
  }
  tk_t_failf(file, line, "%s %s \"%s\": it is \"%s\"", hs, want ? "lacks" : "contains", needle,
             hay ? hay : "(null)");
  return 0;
}

/* ---- tk_error_t checks ------------------------------------------------------------------- */

/* Fills err with a non-zero pattern, so that a test sees whether the library wrote it. */
static TK_T_UNUSED void tk_t_poison_err(tk_error_t *err) {
  memset(err, 0x5a, sizeof *err);
}

/* After a failing call: err.status is the returned status and the message is a non-empty,
   NUL-terminated string inside the buffer. */
#define EXPECT_ERR(err, status) tk_t_expect_err(&(err), (long)(status), __FILE__, __LINE__, NULL)
#define EXPECT_ERR_CTX(ctx, err, status) tk_t_expect_err(&(err), (long)(status), __FILE__, __LINE__, (ctx))
static TK_T_UNUSED int tk_t_expect_err(const tk_error_t *err, long status, const char *file,
                                       int line, const char *ctx) {
  int ok = 1;
  if (err->status != status) {
    tk_t_failf(file, line, "%s%s%serr.status: got %ld %s, want %ld %s", ctx ? "[" : "",
               ctx ? ctx : "", ctx ? "] " : "", (long)err->status,
               tk_t_status_name(err->status), status, tk_t_status_name(status));
    ok = 0;
  }
  if (!memchr(err->message, '\0', sizeof err->message)) {
    tk_t_failf(file, line, "%s%s%serr.message is not NUL-terminated", ctx ? "[" : "",
               ctx ? ctx : "", ctx ? "] " : "");
    ok = 0;
  } else if (status != TK_OK && err->message[0] == '\0') {
    tk_t_failf(file, line, "%s%s%serr.message is empty for %s", ctx ? "[" : "", ctx ? ctx : "",
               ctx ? "] " : "", tk_t_status_name(status));
    ok = 0;
  } else if (status == TK_OK && err->message[0] != '\0') {
    tk_t_failf(file, line, "%s%s%serr.message is \"%.200s\" on success, want \"\"",
               ctx ? "[" : "", ctx ? ctx : "", ctx ? "] " : "", err->message);
    ok = 0;
  }
  if (ok) tk_t_pass();
  return ok;
}

/* ---- Time -------------------------------------------------------------------------------- */

static TK_T_UNUSED int64_t tk_t_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static TK_T_UNUSED int64_t tk_t_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static TK_T_UNUSED int64_t tk_t_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static TK_T_UNUSED void tk_t_sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- Environment ------------------------------------------------------------------------- */

/* The Redis URL from THROTTLEKIT_REDIS_URL. When unset: NULL, after recording a skip, or a
   failure when CI=true (CI must never silently skip the Redis tests). */
static TK_T_UNUSED const char *tk_t_redis_url(const char *what) {
  const char *url = getenv("THROTTLEKIT_REDIS_URL");
  if (url && *url) return url;
  const char *ci = getenv("CI");
  if (ci && strcmp(ci, "true") == 0)
    tk_t_failf(__FILE__, __LINE__, "THROTTLEKIT_REDIS_URL is unset and CI=true: cannot run %s",
               what);
  else
    tk_t_skip("THROTTLEKIT_REDIS_URL is unset: %s skipped", what);
  return NULL;
}

/* A key namespace no other run (or test program) shares: tkctest-<tag>-<pid>-<ns clock>. */
static TK_T_UNUSED void tk_t_namespace(char *buf, size_t size, const char *tag) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(buf, size, "tkctest-%s-%ld-%lld%09ld", tag, (long)getpid(), (long long)ts.tv_sec,
           ts.tv_nsec);
}

/* The number of entries of directory path, not counting those whose names start with a dot
   ("." and ".."), or -1 when it cannot be listed. */
static TK_T_UNUSED int tk_t_dir_entries(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* The number of open descriptors of this process (entries of /proc/self/fd), not counting
   the one opendir holds while listing them, or -1. */
static TK_T_UNUSED int tk_t_fd_count(void) {
  int n = tk_t_dir_entries("/proc/self/fd");
  return n < 0 ? -1 : n - 1;
}

/* The number of threads of this process (entries of /proc/self/task), or -1. */
static TK_T_UNUSED int tk_t_thread_count(void) { return tk_t_dir_entries("/proc/self/task"); }

/* Whether a file whose path contains name is mapped into this process. */
static TK_T_UNUSED int tk_t_is_mapped(const char *name) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f))
    if (strstr(line, name)) found = 1;
  fclose(f);
  return found;
}


/* Runs this program again (/proc/self/exe) with arguments arg1 (and arg2 when not NULL), in a
   fresh process: its stdout and stderr are captured into out (cut to out_size - 1 bytes).
   Returns the wait status, or -1 when it could not be started. */
static TK_T_UNUSED int tk_t_run_self(const char *arg1, const char *arg2, char *out,
                                     size_t out_size) {
  extern char **environ;
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return -1;
  exe[len] = '\0';
  int p[2];
  if (pipe(p) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addclose(&fa, p[1]);
  char *argv[] = {exe, (char *)arg1, (char *)arg2, NULL};
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    return -1;
  }
  size_t n = 0;
  char sink[4096];
  for (;;) {
    ssize_t got = read(p[0], n + 1 < out_size ? out + n : sink,
                       n + 1 < out_size ? out_size - 1 - n : sizeof sink);
    if (got <= 0) break;
    if (n + 1 < out_size) n += (size_t)got;
  }
  if (out_size) out[n] = '\0';
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

/* tk_t_read_file reads a whole file into a NUL-terminated buffer the caller frees (NULL if it
 * cannot), its length in *len. */
static TK_T_UNUSED char *tk_t_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2 + 1);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  *len = n;
  return buf;
}

/* The repository root: the first ancestor of this executable holding include/throttlekit.h. */
static TK_T_UNUSED int tk_t_repo_root(char *out, size_t size) {
  char dir[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0) return 0;
  dir[n] = '\0';
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/include/throttlekit.h", dir);
    if (access(probe, R_OK) == 0) {
      snprintf(out, size, "%s", dir);
      return 1;
    }
  }
}

#endif /* TK_TEST_H */
