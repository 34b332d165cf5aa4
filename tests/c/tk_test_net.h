/*
 * tk_test_net.h - stand-in servers for the C ABI tests: a dead port (nothing listens) and a
 * silent server (accepts connections, reads nothing, never answers); and the wait for a real
 * throttlekit-server's ready file.
 */
#ifndef TK_TEST_NET_H
#define TK_TEST_NET_H

#include "tk_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

/* Binds a listening socket on 127.0.0.1:0; returns its fd and stores the port. */
static TK_T_UNUSED int tk_t_listen_any(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A port nothing listens on: bound and listened to once, then closed. */
static TK_T_UNUSED int tk_t_dead_port(void) {
  int port = 0, fd = tk_t_listen_any(&port);
  if (fd < 0) return -1;
  close(fd);
  return port;
}

#define TK_T_SILENT_MAX_CONNS 256

typedef struct {
  int listen_fd, port;
  pthread_t thread;
  pthread_mutex_t lock;
  int conns[TK_T_SILENT_MAX_CONNS];
  int nconns;
} tk_t_silent_t;

static void *tk_t_silent_loop(void *arg) {
  tk_t_silent_t *s = arg;
  for (;;) {
    int c = accept(s->listen_fd, NULL, NULL);
    if (c < 0) return NULL; /* shut down */
    pthread_mutex_lock(&s->lock);
    if (s->nconns < TK_T_SILENT_MAX_CONNS)
      s->conns[s->nconns++] = c; /* held open, never read, never answered */
    else
      close(c);
    pthread_mutex_unlock(&s->lock);
  }
}

static TK_T_UNUSED int tk_t_silent_start(tk_t_silent_t *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->listen_fd = tk_t_listen_any(&s->port);
  if (s->listen_fd < 0) return -1;
  if (pthread_create(&s->thread, NULL, tk_t_silent_loop, s) != 0) {
    close(s->listen_fd);
    return -1;
  }
  return 0;
}

static TK_T_UNUSED void tk_t_silent_stop(tk_t_silent_t *s) {
  shutdown(s->listen_fd, SHUT_RDWR); /* wakes the blocked accept */
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
  for (int i = 0; i < s->nconns; i++) close(s->conns[i]);
  pthread_mutex_destroy(&s->lock);
}


/* ---- A fake Redis that answers every command with one fixed reply ------------------------ *
 * reply is raw RESP (e.g. "-LOADING ...\r\n"); NULL makes a server that closes every
 * connection as soon as it is accepted (a reset). Each connection is served by its own
 * thread, which parses complete RESP commands (arrays of bulk strings, as clients send them)
 * and answers each one, pipelines included. commands counts the commands given the fixed
 * reply (the handshake's HELLO and CLIENT are answered apart).
 */
#define TK_T_FAKE_MAX_CONNS 64

typedef struct {
  int listen_fd, port;
  const char *reply;
  pthread_t thread;
  pthread_mutex_t lock;
  int conns[TK_T_FAKE_MAX_CONNS];
  int nconns;
  atomic_int live; /* connection threads still running */
  atomic_long commands;
} tk_t_fake_t;

typedef struct {
  tk_t_fake_t *server;
  int fd;
} tk_t_fake_conn_t;

/* Length of the first complete command in buf[0..n), 0 if incomplete, -1 if malformed; its
   name (first word, upper-cased, cut to name_size - 1) goes to name. */
static long tk_t_resp_command_len(const char *buf, size_t n, char *name, size_t name_size) {
  size_t i = 0;
  name[0] = '\0';
  if (n < 1) return 0;
  if (buf[0] != '*') { /* an inline command: one line */
    const char *nl = memchr(buf, '\n', n);
    return nl ? (long)(nl - buf + 1) : 0;
  }
  const char *nl = memchr(buf, '\n', n);
  if (!nl) return 0;
  long items = strtol(buf + 1, NULL, 10);
  i = (size_t)(nl - buf + 1);
  for (long k = 0; k < items; k++) {
    if (i >= n) return 0;
    if (buf[i] != '$') return -1;
    nl = memchr(buf + i, '\n', n - i);
    if (!nl) return 0;
    long len = strtol(buf + i + 1, NULL, 10);
    i = (size_t)(nl - buf + 1);
    if (len < 0) continue;
    if (i + (size_t)len + 2 > n) return 0;
    if (k == 0) {
      size_t m = (size_t)len < name_size - 1 ? (size_t)len : name_size - 1;
      for (size_t j = 0; j < m; j++)
        name[j] = (char)(buf[i + j] >= 'a' && buf[i + j] <= 'z' ? buf[i + j] - 32 : buf[i + j]);
      name[m] = '\0';
    }
    i += (size_t)len + 2;
  }
  return (long)i;
}

static void *tk_t_fake_conn_loop(void *arg) {
  tk_t_fake_conn_t c = *(tk_t_fake_conn_t *)arg;
  free(arg);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) break;
      buf = bigger;
      cap *= 2;
    }
    ssize_t got = read(c.fd, buf + n, cap - n);
    if (got <= 0) break;
    n += (size_t)got;
    long len;
    char name[32];
    while ((len = tk_t_resp_command_len(buf, n, name, sizeof name)) > 0) {
      /* The connection handshake is answered as an old Redis would (HELLO unknown, CLIENT
         fine), so that the fixed reply reaches the commands that matter. */
      const char *reply = strcmp(name, "HELLO") == 0   ? "-ERR unknown command 'HELLO'\r\n"
                          : strcmp(name, "CLIENT") == 0 ? "+OK\r\n"
                                                        : c.server->reply;
      if (reply == c.server->reply) atomic_fetch_add(&c.server->commands, 1);
      size_t rl = strlen(reply);
      if (write(c.fd, reply, rl) != (ssize_t)rl) break;
      memmove(buf, buf + len, n - (size_t)len);
      n -= (size_t)len;
    }
    if (len < 0) break;
  }
  free(buf);
  atomic_fetch_sub(&c.server->live, 1);
  return NULL;
}

static void *tk_t_fake_loop(void *arg) {
  tk_t_fake_t *s = arg;
  for (;;) {
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    if (!s->reply) { /* reset: RST rather than FIN */
      struct linger l = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(fd);
      continue;
    }
    pthread_mutex_lock(&s->lock);
    int tracked = s->nconns < TK_T_FAKE_MAX_CONNS;
    if (tracked) s->conns[s->nconns++] = fd;
    pthread_mutex_unlock(&s->lock);
    tk_t_fake_conn_t *c = malloc(sizeof *c);
    c->server = s;
    c->fd = fd;
    pthread_t t;
    atomic_fetch_add(&s->live, 1);
    if (!tracked || pthread_create(&t, NULL, tk_t_fake_conn_loop, c) != 0) {
      atomic_fetch_sub(&s->live, 1);
      free(c);
      if (!tracked) close(fd);
      continue;
    }
    pthread_detach(t);
  }
}

static TK_T_UNUSED int tk_t_fake_start(tk_t_fake_t *s, const char *reply) {
  memset(s, 0, sizeof *s);
  s->reply = reply;
  pthread_mutex_init(&s->lock, NULL);
  s->listen_fd = tk_t_listen_any(&s->port);
  if (s->listen_fd < 0) return -1;
  if (pthread_create(&s->thread, NULL, tk_t_fake_loop, s) != 0) {
    close(s->listen_fd);
    return -1;
  }
  return 0;
}

static TK_T_UNUSED void tk_t_fake_stop(tk_t_fake_t *s) {
  shutdown(s->listen_fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < s->nconns; i++) shutdown(s->conns[i], SHUT_RDWR); /* ends their reads */
  pthread_mutex_unlock(&s->lock);
  while (atomic_load(&s->live) > 0) tk_t_sleep_ms(1);
  for (int i = 0; i < s->nconns; i++) close(s->conns[i]);
  pthread_mutex_destroy(&s->lock);
}

/* ---- A minimal Redis client, for looking at what the library wrote ------------------------- *
 * tk_t_redis(url, reply, size, "CMD", "arg", ..., NULL) sends one command to the redis:// URL
 * (no credentials; /db honoured with SELECT) and stores the reply's first line (for a bulk
 * string: its content; for an array: "*<n>") in reply. Returns 0, or -1 on any failure.
 */
static int tk_t_redis_send(int fd, const char *const *argv, int argc) {
  char head[32];
  int n = snprintf(head, sizeof head, "*%d\r\n", argc);
  if (write(fd, head, (size_t)n) != n) return -1;
  for (int i = 0; i < argc; i++) {
    size_t len = strlen(argv[i]);
    n = snprintf(head, sizeof head, "$%zu\r\n", len);
    if (write(fd, head, (size_t)n) != n || write(fd, argv[i], len) != (ssize_t)len ||
        write(fd, "\r\n", 2) != 2)
      return -1;
  }
  return 0;
}

static int tk_t_redis_read(int fd, char *reply, size_t size) {
  char buf[8192];
  size_t n = 0;
  for (;;) { /* enough for one short reply */
    ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
    if (got <= 0) return -1;
    n += (size_t)got;
    buf[n] = '\0';
    char *nl = strstr(buf, "\r\n");
    if (!nl) continue;
    if (buf[0] == '$' && atol(buf + 1) >= 0) {
      size_t len = (size_t)atol(buf + 1);
      if ((size_t)(nl + 2 - buf) + len + 2 > n) continue;
      snprintf(reply, size, "%.*s", (int)len, nl + 2);
    } else {
      snprintf(reply, size, "%.*s", (int)(nl - buf), buf);
    }
    return 0;
  }
}

static TK_T_UNUSED int tk_t_redis(const char *url, char *reply, size_t size, ...) {
  const char *argv[16];
  int argc = 0;
  va_list ap;
  va_start(ap, size);
  const char *a;
  while (argc < 16 && (a = va_arg(ap, const char *)) != NULL) argv[argc++] = a;
  va_end(ap);
  if (strncmp(url, "redis://", 8) != 0 || strchr(url, '@')) return -1;
  char host[256];
  snprintf(host, sizeof host, "%s", url + 8);
  char *slash = strchr(host, '/');
  const char *db = slash ? slash + 1 : "";
  if (slash) *slash = '\0';
  char *colon = strrchr(host, ':');
  int port = colon ? atoi(colon + 1) : 6379;
  if (colon) *colon = '\0';
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr) != 1)
    return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int rc = -1;
  char sel[64];
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    rc = 0;
    if (*db && strcmp(db, "0") != 0) {
      const char *s[2] = {"SELECT", db};
      rc = tk_t_redis_send(fd, s, 2) || tk_t_redis_read(fd, sel, sizeof sel) ? -1 : 0;
    }
    if (rc == 0) rc = tk_t_redis_send(fd, argv, argc) || tk_t_redis_read(fd, reply, size) ? -1 : 0;
  }
  close(fd);
  return rc;
}

/* ---- throttlekit-server's ready file ------------------------------------------------------ *
 * A test starts the server with `--ready-file PATH`, having removed PATH first (a killed run
 * leaves its file behind), and waits here for the file: the server writes it atomically once
 * it listens, the gRPC address as host:port on the first line (a second line, metrics=...,
 * when its metrics listener is on).
 *
 * tk_t_wait_ready polls for the file until bound_ms pass or the process pid exits. Returns 1
 * with the address in addr; otherwise 0 with the reason in why, and *exited set when pid has
 * exited (it is then reaped: the caller must not wait for it again).
 */
static TK_T_UNUSED int tk_t_wait_ready(const char *path, pid_t pid, int bound_ms, char *addr,
                                       size_t addr_size, char *why, size_t why_size,
                                       int *exited) {
  *exited = 0;
  int64_t deadline = tk_t_mono_ms() + bound_ms;
  for (;;) {
    FILE *f = fopen(path, "re");
    if (f) {
      char line[256];
      int got = fgets(line, sizeof line, f) != NULL;
      fclose(f);
      size_t n = got ? strcspn(line, "\n") : 0;
      if (!got || line[n] != '\n' || n == 0 || n >= addr_size || !strchr(line, ':')) {
        snprintf(why, why_size, "the ready file %s does not start with a host:port line", path);
        return 0;
      }
      memcpy(addr, line, n);
      addr[n] = '\0';
      return 1;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      *exited = 1;
      snprintf(why, why_size, "the server exited (%s %d) before writing its ready file %s",
               WIFEXITED(status) ? "exit status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), path);
      return 0;
    }
    if (tk_t_mono_ms() > deadline) {
      snprintf(why, why_size, "no ready file %s within %d ms", path, bound_ms);
      return 0;
    }
    tk_t_sleep_ms(10);
  }
}

#endif /* TK_TEST_NET_H */
