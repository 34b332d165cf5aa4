/*
 * test_golden.c - replays every rateLimit and tokenBudget golden vector through the C ABI.
 *
 * Each suite gets its own handle and a fresh key (a namespace unique to this run), a policy
 * built from the suite's strategy kind and options, and every op goes through tk_check_at
 * (rateLimit) or tk_debit_at (tokenBudget) at the op's now plus the contract's replay offset
 * (1,000 ms for rateLimit suites, 3,600,000 ms for tokenBudget suites; expected resetAt
 * shifted by the same offset). All five decision fields are compared, and flags, window_ms and reserved[]
 * must be zero.
 *
 * The vectors: $THROTTLEKIT_GOLDEN_VECTORS when set and not empty, else the copy vendored in
 * the repository, <repo root>/contract/golden-vectors.json, the repo root found by walking up
 * from this executable to the directory holding include/throttlekit.h. A missing or unreadable
 * file is a failure, never a skip.
 */
#include "tk_test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>

#define RATE_LIMIT_OFFSET_MS ((int64_t)1000)
#define TOKEN_BUDGET_OFFSET_MS ((int64_t)3600000)

/* The golden-vectors path: the environment's, else the vendored copy, found from this
 * executable's location. */
static int vectors_path(char *out, size_t size) {
  const char *env = getenv("THROTTLEKIT_GOLDEN_VECTORS");
  if (env && *env) {
    snprintf(out, size, "%s", env);
    return 1;
  }
  char root[PATH_MAX];
  if (!tk_t_repo_root(root, sizeof root)) return 0;
  snprintf(out, size, "%s/contract/golden-vectors.json", root);
  return 1;
}

static int json_int(const cJSON *obj, const char *name, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (cJSON_IsBool(v)) {
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 1;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) return 0;
  *out = (int64_t)v->valuedouble;
  return 1;
}

/* Appends "name: value" for every option, numbers printed with %.17g (exact for doubles). */
static int append_options(char *yaml, size_t size, const cJSON *options) {
  const cJSON *o;
  size_t len = strlen(yaml);
  cJSON_ArrayForEach(o, options) {
    if (!cJSON_IsNumber(o) || !o->string) return 0;
    int w = snprintf(yaml + len, size - len, ", %s: %.17g", o->string, o->valuedouble);
    if (w < 0 || (size_t)w >= size - len) return 0;
    len += (size_t)w;
  }
  return 1;
}

/* The policy file of one suite: a single policy named "p". */
static int suite_yaml(const cJSON *suite, int budget, char *yaml, size_t size) {
  if (budget) {
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(suite, "options");
    int64_t b, w;
    if (!json_int(options, "budget", &b) || !json_int(options, "windowMs", &w)) return 0;
    snprintf(yaml, size,
             "limiters:\n  p:\n    tokenBudget: { budget: %" PRId64 ", windowMs: %" PRId64 " }\n",
             b, w);
    return 1;
  }
  const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(suite, "strategy");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(strategy, "kind");
  const cJSON *options = cJSON_GetObjectItemCaseSensitive(strategy, "options");
  if (!cJSON_IsString(kind) || !cJSON_IsObject(options)) return 0;
  snprintf(yaml, size, "limiters:\n  p: { strategy: %s", kind->valuestring);
  if (!append_options(yaml, size, options)) return 0;
  size_t len = strlen(yaml);
  snprintf(yaml + len, size - len, " }\n");
  return 1;
}

/* The policy window every decision of a suite reports (tk_decision_t.window_ms). */
static int64_t suite_window(const cJSON *suite, int budget) {
  int64_t w = 0, cap = 0;
  if (budget) {
    json_int(cJSON_GetObjectItemCaseSensitive(suite, "options"), "windowMs", &w);
    return w;
  }
  const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(suite, "strategy");
  const cJSON *options = cJSON_GetObjectItemCaseSensitive(strategy, "options");
  if (json_int(options, "periodMs", &w) || json_int(options, "windowMs", &w)) return w;
  const cJSON *refill = cJSON_GetObjectItemCaseSensitive(options, "refillPerSec");
  if (json_int(options, "capacity", &cap) && cJSON_IsNumber(refill))
    return (int64_t)ceil((double)cap / refill->valuedouble * 1000);
  return -1;
}

/* Compares one field: loudly (an assertion) on the final attempt, quietly (a count) before. */
#define FIELD(got, want)                                               \
  do {                                                                 \
    if (loud)                                                          \
      EXPECT_EQ_CTX(ctx, (got), (want));                               \
    else if ((int64_t)(got) == (int64_t)(want))                        \
      tk_t_pass();                                                     \
    else                                                               \
      mismatches++;                                                    \
  } while (0)

/*
 * Replays one suite on a fresh key; returns the number of mismatches. The ops' clock is
 * explicit but a key's TTL runs in real time (100 ms for some suites): if the machine stalls
 * between two ops, the key can expire and the replay mismatch for a reason that is not the
 * library's. So a suite is first replayed quietly; only if that mismatches is it replayed
 * again, on another fresh key, with every field an assertion (a real bug fails both times).
 */
static long replay_suite(const char *url, const char *ns, const cJSON *suite, int budget,
                         int loud, long *ops_done) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(suite, "name");
  const char *sname = cJSON_IsString(name) ? name->valuestring : "(unnamed)";
  const cJSON *skey = cJSON_GetObjectItemCaseSensitive(suite, "key");
  const cJSON *ops = cJSON_GetObjectItemCaseSensitive(suite, "ops");
  char yaml[1024], key[512];
  long mismatches = 0;
  if (!CHECKF(suite_yaml(suite, budget, yaml, sizeof yaml) && cJSON_IsArray(ops),
              "suite %s: malformed in the vectors file", sname))
    return 0;
  /* A fresh key per suite and attempt: the namespace is unique to this run. */
  snprintf(key, sizeof key, "%s/%s/%d", sname, cJSON_IsString(skey) ? skey->valuestring : "k",
           loud);

  tk_options_t opts;
  tk_options_init(&opts);
  opts.key_namespace = ns;
  opts.timeout_ms = 2000;
  tk_handle_t h = 0;
  tk_error_t err;
  int rc = tk_open_redis(url, yaml, &opts, &h, &err);
  if (!EXPECT_STATUS_CTX(sname, rc, TK_OK)) {
    fprintf(stderr, "  open: %s\n  policy:\n%s", err.message, yaml);
    return 0;
  }
  const int64_t offset = budget ? TOKEN_BUDGET_OFFSET_MS : RATE_LIMIT_OFFSET_MS;
  const int64_t window = suite_window(suite, budget);
  int i = 0;
  const cJSON *op;
  cJSON_ArrayForEach(op, ops) {
    char ctx[640];
    snprintf(ctx, sizeof ctx, "%s op #%d", sname, i++);
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(op, "expect");
    int64_t now, amount, allowed, limit, remaining, reset_at, retry;
    if (!CHECKF(json_int(op, "now", &now) && json_int(op, budget ? "tokens" : "cost", &amount) &&
                    json_int(expect, "allowed", &allowed) && json_int(expect, "limit", &limit) &&
                    json_int(expect, "remaining", &remaining) &&
                    json_int(expect, "resetAt", &reset_at) &&
                    json_int(expect, "retryAfterMs", &retry),
                "%s: malformed op", ctx))
      continue;
    tk_decision_t d;
    memset(&d, 0xa5, sizeof d); /* so that a field the library leaves alone shows */
    tk_t_poison_err(&err);
    rc = budget ? tk_debit_at(h, "p", key, amount, now + offset, &d, &err)
                : tk_check_at(h, "p", key, amount, now + offset, &d, &err);
    if (!EXPECT_STATUS_CTX(ctx, rc, TK_OK)) {
      fprintf(stderr, "  message: %.256s\n", err.message);
      continue;
    }
    EXPECT_ERR_CTX(ctx, err, TK_OK);
    FIELD(d.allowed, allowed);
    FIELD(d.limit, limit);
    FIELD(d.remaining, remaining);
    FIELD(d.reset_at_ms, reset_at + offset);
    FIELD(d.retry_after_ms, retry);
    FIELD(d.flags, 0);
    FIELD(d.window_ms, window);
    for (int r = 0; r < 3; r++) FIELD(d.reserved[r], 0);
    if (loud || !mismatches) (*ops_done)++;
  }
  EXPECT_OK(tk_free(h));
  return mismatches;
}

int main(void) {
  char path[PATH_MAX + 64];
  if (!CHECKF(vectors_path(path, sizeof path),
              "no repository root (include/throttlekit.h) above this program, so no "
              "contract/golden-vectors.json: set THROTTLEKIT_GOLDEN_VECTORS"))
    return tk_t_finish();
  size_t len = 0;
  char *text = tk_t_read_file(path, &len);
  if (!CHECKF(text != NULL, "cannot read %s: %s", path, strerror(errno))) return tk_t_finish();
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  const cJSON *suites = cJSON_GetObjectItemCaseSensitive(root, "suites");
  if (!CHECKF(cJSON_IsArray(suites), "%s: no suites array", path)) {
    cJSON_Delete(root);
    return tk_t_finish();
  }

  const char *url = tk_t_redis_url("the golden-vector replay");
  if (url) {
    char ns[128];
    tk_t_namespace(ns, sizeof ns, "golden");
    long rate_suites = 0, budget_suites = 0, other = 0, ops_done = 0, ops_total = 0, retried = 0;
    const cJSON *suite;
    cJSON_ArrayForEach(suite, suites) {
      const cJSON *prim = cJSON_GetObjectItemCaseSensitive(suite, "primitive");
      const char *p = cJSON_IsString(prim) ? prim->valuestring : "";
      int budget = strcmp(p, "tokenBudget") == 0;
      if (!budget && strcmp(p, "rateLimit") != 0) {
        other++; /* lease suites: a later feature, not part of this ABI yet */
        continue;
      }
      budget ? budget_suites++ : rate_suites++;
      ops_total += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(suite, "ops"));
      long done = 0;
      if (replay_suite(url, ns, suite, budget, 0, &done)) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(suite, "name");
        printf("suite %s mismatched; replaying it again with assertions\n",
               cJSON_IsString(name) ? name->valuestring : "?");
        done = 0;
        retried++;
        replay_suite(url, ns, suite, budget, 1, &done);
      }
      ops_done += done;
    }
    /* The file must really have been replayed: an empty or renamed section must not pass. */
    CHECKF(rate_suites >= 1 && budget_suites >= 1, "rateLimit suites %ld, tokenBudget suites %ld",
           rate_suites, budget_suites);
    EXPECT_EQ(ops_done, ops_total);
    printf("golden vectors: %ld rateLimit + %ld tokenBudget suites, %ld ops replayed "
           "(%ld suites of other primitives not applicable; %ld replayed twice)\n",
           rate_suites, budget_suites, ops_done, other, retried);
  }
  cJSON_Delete(root);
  return tk_t_finish();
}
