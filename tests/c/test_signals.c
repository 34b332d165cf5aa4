/*
 * test_signals.c - the library and the host's signal handling (c-abi.md "Signals").
 *
 * A fresh process (nothing opened yet) records every signal disposition, installs its own
 * handlers for SIGUSR1 and SIGTERM (SA_ONSTACK, Go's rule) and ignores SIGPIPE, as servers do.
 * Then it starts the core (first tk_open_redis, a few calls) and checks:
 *   - the host's handlers are still installed and still run (raised from the main thread and
 *     from another thread), and a handler installed after the open runs too;
 *   - asynchronous signals the host left alone (SIGINT, SIGHUP, SIGQUIT, SIGUSR2, SIGCHLD,
 *     SIGALRM, SIGWINCH, ...) keep their disposition: the core never calls signal.Notify;
 *   - an ignored SIGPIPE stays harmless: writing to a closed socket gives EPIPE, no death;
 *   - what the header documents: the Go runtime's SIGPIPE and SIGURG handlers pass what is
 *     not Go's on to the host's previous disposition.
 */
#include "tk_test_net.h"

#include <errno.h>
#include <signal.h>

static volatile sig_atomic_t got_usr1, got_term, got_usr2;

static void on_usr1(int sig) {
  (void)sig;
  got_usr1++;
}

static void on_term(int sig, siginfo_t *info, void *ctx) {
  (void)sig;
  (void)info;
  (void)ctx;
  got_term++;
}

static void on_usr2(int sig) {
  (void)sig;
  got_usr2++;
}

typedef struct {
  int sig;
  const char *name;
} signame_t;

static const signame_t untouched[] = {
    {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"},       {SIGQUIT, "SIGQUIT"}, {SIGUSR2, "SIGUSR2"},
    {SIGCHLD, "SIGCHLD"}, {SIGALRM, "SIGALRM"},     {SIGWINCH, "SIGWINCH"}, {SIGCONT, "SIGCONT"},
    {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},     {SIGTTOU, "SIGTTOU"}, {SIGVTALRM, "SIGVTALRM"},
    {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},     {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},
};

static void *handler_of(int sig) {
  struct sigaction sa;
  if (sigaction(sig, NULL, &sa) != 0) return NULL;
  return (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
}

static void *raise_usr1(void *arg) {
  (void)arg;
  raise(SIGUSR1); /* raise() targets the calling thread */
  return NULL;
}

int main(void) {
  CHECKF(tk_t_is_mapped("libthrottlekit-core.so") == 0, "the core is loaded before any open");
  void *before[sizeof untouched / sizeof untouched[0]];
  for (size_t i = 0; i < sizeof untouched / sizeof untouched[0]; i++)
    before[i] = handler_of(untouched[i].sig);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  sa.sa_handler = NULL;
  sa.sa_sigaction = on_term;
  sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
  CHECK(sigaction(SIGTERM, &sa, NULL) == 0);
  signal(SIGPIPE, SIG_IGN);

  /* Start the core and use it: calls to Redis if there is one, else a refused connection. */
  const char *url = getenv("THROTTLEKIT_REDIS_URL");
  char dead[64];
  if (!url || !*url) {
    snprintf(dead, sizeof dead, "redis://127.0.0.1:%d/0", tk_t_dead_port());
    url = dead;
  }
  char ns[128];
  tk_t_namespace(ns, sizeof ns, "signals");
  tk_options_t o;
  tk_options_init(&o);
  o.key_namespace = ns;
  o.timeout_ms = 300;
  tk_handle_t h = 0;
  tk_error_t err;
  if (EXPECT_OK(tk_open_redis(url, "limiters:\n  api: { strategy: gcra, limit: 5, period: 1s }\n",
                              &o, &h, &err))) {
    tk_decision_t d;
    for (int i = 0; i < 5; i++) tk_check(h, "api", "k", 1, &d, &err);
  }
  EXPECT_EQ(tk_t_is_mapped("libthrottlekit-core.so"), 1);
  CHECKF(tk_t_thread_count() > 1, "the Go runtime runs (%d threads)", tk_t_thread_count());

  /* The host's handlers stay, and run. */
  CHECK(handler_of(SIGUSR1) == (void *)on_usr1);
  CHECK(handler_of(SIGTERM) == (void *)on_term);
  raise(SIGUSR1);
  EXPECT_EQ(got_usr1, 1);
  pthread_t t;
  if (CHECK(pthread_create(&t, NULL, raise_usr1, NULL) == 0)) pthread_join(t, NULL);
  EXPECT_EQ(got_usr1, 2);
  raise(SIGTERM);
  EXPECT_EQ(got_term, 1);
  kill(getpid(), SIGUSR1); /* process-directed: any thread, Go's included, may take it */
  for (int i = 0; i < 100 && got_usr1 < 3; i++) tk_t_sleep_ms(2);
  EXPECT_EQ(got_usr1, 3);
  /* A handler installed after the open (with SA_ONSTACK, as the header asks) runs too. */
  sa.sa_sigaction = NULL;
  sa.sa_handler = on_usr2;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  raise(SIGUSR2);
  EXPECT_EQ(got_usr2, 1);
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  sigaction(SIGUSR2, &sa, NULL);

  /* Asynchronous signals the host left alone keep their disposition. */
  for (size_t i = 0; i < sizeof untouched / sizeof untouched[0]; i++)
    CHECKF(handler_of(untouched[i].sig) == before[i],
           "%s: disposition changed from %p to %p by the library", untouched[i].name, before[i],
           handler_of(untouched[i].sig));

  /* An ignored SIGPIPE stays ignored in effect: EPIPE, not death. */
  int sv[2];
  if (CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)) {
    close(sv[1]);
    errno = 0;
    ssize_t w = write(sv[0], "x", 1);
    CHECKF(w == -1 && errno == EPIPE, "write to a closed socket: %zd (%s)", w, strerror(errno));
    close(sv[0]);
  }

  /* throttlekit.h: Go's handlers for SIGPIPE and SIGURG pass what is not Go's to the host's
     previous disposition (the EPIPE check above); nothing else asynchronous is taken. */
  CHECKF(handler_of(SIGPIPE) != SIG_DFL, "SIGPIPE: the host's SIG_IGN became SIG_DFL");
  if (h) EXPECT_OK(tk_free(h));
  return tk_t_finish();
}
