/*
 * A two-minute tour of libthrottlekit: open the Redis door, check a burst of requests,
 * print each decision with its retry hint, close.
 *
 *   ./example redis://127.0.0.1:6379
 */
#include <stdio.h>
#include <throttlekit.h>

static const char *policies =
    "limiters:\n"
    "  api: { strategy: gcra, limit: 5, period: 1s, burst: 5 }\n";

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
  tk_options_t opts;
  tk_error_t err;
  tk_handle_t limiter;

  tk_options_init(&opts);
  opts.timeout_ms = 300;
  opts.key_namespace = "c-example";

  if (tk_open_redis(url, policies, &opts, &limiter, &err) != TK_OK) {
    fprintf(stderr, "open: %s: %s\n", tk_strerror(err.status), err.message);
    return 1;
  }
  printf("libthrottlekit %s, policy api: 5 requests per second, burst 5\n", tk_version());

  for (int i = 1; i <= 7; i++) {
    tk_decision_t d;
    if (tk_check(limiter, "api", "alice", 1, &d, &err) != TK_OK) {
      fprintf(stderr, "check: %s: %s\n", tk_strerror(err.status), err.message);
      tk_free(limiter);
      return 1;
    }
    if (d.allowed)
      printf("request %d: allowed, %lld of %lld left\n", i, (long long)d.remaining,
             (long long)d.limit);
    else
      printf("request %d: denied, retry in %lld ms\n", i, (long long)d.retry_after_ms);
  }

  tk_free(limiter);
  return 0;
}
