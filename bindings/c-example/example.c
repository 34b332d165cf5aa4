/*
 * A two-minute tour of libthrottlekit: open a door, check a burst of requests, print each
 * decision with its retry hint, close.
 *
 *   ./example redis://127.0.0.1:6379 policies.yaml    the Redis door (policies read here)
 *   ./example 127.0.0.1:50051                          the service door (throttlekit-server)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <throttlekit.h>

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
  if (text && fread(text, 1, (size_t)size, f) == (size_t)size) {
    text[size] = '\0';
  } else {
    free(text);
    text = NULL;
  }
  fclose(f);
  return text;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s redis://host:port policies.yaml | %s host:port\n", argv[0], argv[0]);
    return 2;
  }
  const char *where = argv[1];
  int redis_door = strstr(where, "://") != NULL;

  tk_options_t opts;
  tk_error_t err;
  tk_handle_t limiter;
  tk_options_init(&opts);
  opts.timeout_ms = 300;
  opts.key_namespace = "c-example";

  int rc;
  if (redis_door) {
    char *policies = argc > 2 ? read_file(argv[2]) : NULL;
    if (!policies) {
      fprintf(stderr, "cannot read the policy file %s\n", argc > 2 ? argv[2] : "(none given)");
      return 2;
    }
    rc = tk_open_redis(where, policies, &opts, &limiter, &err);
    free(policies);
  } else {
    rc = tk_open_service(where, &opts, &limiter, &err);
  }
  if (rc != TK_OK) {
    fprintf(stderr, "open: %s: %s\n", tk_strerror(err.status), err.message);
    return 1;
  }
  printf("libthrottlekit %s, %s door at %s\n", tk_version(), redis_door ? "Redis" : "service",
         where);
  printf("policy api (5 per second, burst 5), seven requests from alice at once:\n");

  for (int i = 1; i <= 7; i++) {
    tk_decision_t d;
    if (tk_check(limiter, "api", "alice", 1, &d, &err) != TK_OK) {
      fprintf(stderr, "check: %s: %s\n", tk_strerror(err.status), err.message);
      tk_free(limiter);
      return 1;
    }
    if (d.allowed)
      printf("  request %d: allowed, %lld of %lld left\n", i, (long long)d.remaining,
             (long long)d.limit);
    else
      printf("  request %d: denied, retry in %lld ms\n", i, (long long)d.retry_after_ms);
  }

  tk_decision_t d;
  if (tk_debit(limiter, "llm", "team-a", 400, &d, &err) == TK_OK)
    printf("policy llm: debited 400 tokens, %lld of %lld left this minute\n",
           (long long)d.remaining, (long long)d.limit);

  tk_free(limiter);
  return 0;
}
