/*
 * tk_test_server.h - a real throttlekit-server for the C ABI tests: the binary's lookup, a
 * start on 127.0.0.1 and a free port that waits for its --ready-file, and the stop.
 *
 * The binary: $THROTTLEKIT_SERVER, else <repo>/build/bin/throttlekit-server. A missing binary
 * is a skip, or a failure when CI=true.
 */
#ifndef TK_TEST_SERVER_H
#define TK_TEST_SERVER_H

#include "tk_test_net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* One server: its scratch directory (policy file, ready file, logs) and its process. */
typedef struct tk_t_server {
  char dir[PATH_MAX];
  char policy_path[PATH_MAX + 32], ready_path[PATH_MAX + 32], log_path[PATH_MAX + 64];
  pid_t pid;
} tk_t_server_t;

/* The server binary in buf, or NULL after recording a skip (a failure when CI=true). */
static TK_T_UNUSED const char *tk_t_server_binary(char *buf, size_t size) {
  const char *env = getenv("THROTTLEKIT_SERVER");
  char root[PATH_MAX];
  if (env && *env)
    snprintf(buf, size, "%s", env);
  else if (tk_t_repo_root(root, sizeof root))
    snprintf(buf, size, "%s/build/bin/throttlekit-server", root);
  else
    snprintf(buf, size, "(the repository root was not found from this executable)");
  if (access(buf, X_OK) == 0) return buf;
  const char *ci = getenv("CI");
  if (ci && strcmp(ci, "true") == 0)
    tk_t_failf(__FILE__, __LINE__,
               "the server binary %s is missing and CI=true: run 'make server' (or set "
               "THROTTLEKIT_SERVER)", buf);
  else
    tk_t_skip("the server binary %s is missing: the service-door tests skipped (run 'make "
              "server', or set THROTTLEKIT_SERVER)", buf);
  return NULL;
}

/* Makes s's scratch directory ($TMPDIR or /tmp, tkctest-<tag>-XXXXXX) and writes the policy
   file. */
static TK_T_UNUSED int tk_t_server_prepare(tk_t_server_t *s, const char *tag, const char *policies) {
  const char *tmp = getenv("TMPDIR");
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s/tkctest-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
  if (!CHECKF(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno))) {
    s->dir[0] = '\0';
    return 0;
  }
  snprintf(s->policy_path, sizeof s->policy_path, "%s/policies.yaml", s->dir);
  snprintf(s->ready_path, sizeof s->ready_path, "%s/server.ready", s->dir);
  FILE *f = fopen(s->policy_path, "w");
  int ok = f && fputs(policies, f) >= 0;
  if (f && fclose(f) != 0) ok = 0;
  return CHECKF(ok, "cannot write %s", s->policy_path);
}

/* Prints the server's log (its first 16 KiB) to stderr, after a failure. */
static TK_T_UNUSED void tk_t_server_dump_log(const tk_t_server_t *s) {
  char log[16384];
  int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, log, sizeof log) : -1;
  if (fd >= 0) close(fd);
  if (n > 0) fprintf(stderr, "  --- %s ---\n%.*s", s->log_path, (int)n, log);
}

/* SIGKILL and reap, when running. */
static TK_T_UNUSED void tk_t_server_kill(tk_t_server_t *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

/* Starts binary on s's policy file, 127.0.0.1 and a free port, plus extra (NULL-terminated,
   may be NULL); stdout and stderr go to log_name in s's directory. Waits for the ready file
   and stores "host:port" in addr: 1; else 0 with the failure recorded and the log shown. */
static TK_T_UNUSED int tk_t_server_spawn(tk_t_server_t *s, const char *binary,
                                         const char *const *extra, const char *log_name,
                                         char *addr, size_t addr_size) {
  const char *argv[32] = {binary, "-c", s->policy_path, "--host", "127.0.0.1", "--port", "0",
                          "--ready-file", s->ready_path};
  int argc = 9;
  for (int i = 0; extra && extra[i] && argc < 31; i++) argv[argc++] = extra[i];
  argv[argc] = NULL;
  snprintf(s->log_path, sizeof s->log_path, "%s/%s", s->dir, log_name);
  unlink(s->ready_path); /* a killed server's file is never read */
  int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!CHECKF(log_fd >= 0 && null_fd >= 0, "cannot open %s or /dev/null: %s", s->log_path,
              strerror(errno))) {
    if (log_fd >= 0) close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return 0;
  }
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) { /* async-signal-safe calls only until exec: the Go runtime runs here */
    /* Killed with us even when we die without atexit (crash, ASan, SIGKILL); forked from the
       main thread, which lives as long as the process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0)
      _exit(126);
    execv(binary, (char *const *)argv);
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  if (!CHECKF(pid > 0, "fork: %s", strerror(errno))) return 0;
  s->pid = pid;
  char why[PATH_MAX + 128];
  int exited;
  if (tk_t_wait_ready(s->ready_path, pid, 30000, addr, addr_size, why, sizeof why, &exited))
    return 1;
  if (exited) s->pid = 0;
  tk_t_failf(__FILE__, __LINE__, "%s (the server's log: %s)", why, s->log_path);
  tk_t_server_dump_log(s);
  tk_t_server_kill(s);
  return 0;
}

/* The usual start: the binary's lookup, the scratch directory with policies, one spawn. */
static TK_T_UNUSED int tk_t_server_start(tk_t_server_t *s, const char *tag, const char *policies,
                                         char *addr, size_t addr_size) {
  char binary[PATH_MAX + 64];
  memset(s, 0, sizeof *s);
  if (!tk_t_server_binary(binary, sizeof binary)) return 0;
  if (!tk_t_server_prepare(s, tag, policies)) return 0;
  return tk_t_server_spawn(s, binary, NULL, "server.log", addr, addr_size);
}

/* Kills the server and removes its directory and the files in it. */
static TK_T_UNUSED void tk_t_server_cleanup(tk_t_server_t *s) {
  tk_t_server_kill(s);
  if (!s->dir[0]) return;
  DIR *d = opendir(s->dir);
  if (d) {
    struct dirent *e;
    char path[PATH_MAX + 300];
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
      unlink(path);
    }
    closedir(d);
  }
  rmdir(s->dir);
  s->dir[0] = '\0';
}

#endif /* TK_TEST_SERVER_H */
