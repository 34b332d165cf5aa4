/*
 * test_upstream_blocks.c - a policy file holding every block of the later upstream cores
 * (contract/upstream-blocks.yaml) opens through tk_open_redis: the served policies answer (a
 * leased two-tier policy from local credits after its first lease), and
 * each unserved one answers TK_E_UNSUPPORTED with a message naming its feature.
 */
#include "tk_test.h"

static char *policies(void) {
  char root[PATH_MAX], path[PATH_MAX + 64];
  if (!tk_t_repo_root(root, sizeof root)) return NULL;
  snprintf(path, sizeof path, "%s/contract/upstream-blocks.yaml", root);
  size_t len;
  return tk_t_read_file(path, &len);
}

static void test_blocks(tk_handle_t h) {
  tk_decision_t d;
  tk_error_t err;
  const char *served[] = {"api", "monthly", "trailing"};
  for (size_t i = 0; i < sizeof served / sizeof *served; i++) {
    if (EXPECT_STATUS_CTX(served[i], tk_check(h, served[i], "k", 1, &d, &err), TK_OK))
      EXPECT_EQ_CTX(served[i], d.allowed, 1);
  }
  tk_admission_t a;
  if (EXPECT_OK(tk_admit(h, "checkout", "k", 1, &a, &err))) {
    EXPECT_EQ(a.decision.allowed, 1);
    CHECK(a.lease_id[0] != '\0');
    EXPECT_OK(tk_release(h, "checkout", "k", a.lease_id, 0, &err));
  }
  /* leased (gcra burst 100, batch 50): the first check leases, the next ones are local. */
  for (int i = 0; i < 3; i++) {
    if (EXPECT_OK(tk_check(h, "leased", "k", 1, &d, &err))) {
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.limit, 100);
      EXPECT_EQ(d.remaining, 49 - i);
      EXPECT_EQ(d.flags & TK_DECISION_LOCAL, i == 0 ? 0 : TK_DECISION_LOCAL);
    }
  }
  EXPECT_STATUS(tk_peek(h, "leased", "k", &d, &err), TK_E_UNSUPPORTED);
  EXPECT_CONTAINS(err.message, "does not support peek");
  /* federated (fixedWindow 10,000 per minute, batch 16): the handle leases 16 from the
     coordinator in Redis and spends them. */
  for (int i = 0; i < 2; i++) {
    if (EXPECT_OK(tk_check(h, "global-api", "k", 1, &d, &err))) {
      EXPECT_EQ(d.allowed, 1);
      EXPECT_EQ(d.limit, 10000);
      EXPECT_EQ(d.remaining, 15 - i);
      EXPECT_EQ(d.window_ms, 60000);
    }
  }
  if (EXPECT_OK(tk_debit(h, "completions", "k", 40, &d, &err))) {
    EXPECT_EQ(d.limit, 1000000);
    EXPECT_EQ(d.remaining, 1000000 - 40);
  }
  static const struct {
    const char *policy, *feature;
  } unserved[] = {{"fleet-pool", "distributedConcurrency"},
                  {"tenants", "fairEscrow"},
                  {"regions", "federatedFairEscrow"}};
  for (size_t i = 0; i < sizeof unserved / sizeof *unserved; i++) {
    EXPECT_STATUS_CTX(unserved[i].policy, tk_check(h, unserved[i].policy, "k", 1, &d, &err), TK_E_UNSUPPORTED);
    CHECKF(strstr(err.message, unserved[i].feature) != NULL, "%s: message %s does not name %s",
           unserved[i].policy, err.message, unserved[i].feature);
  }
}

int main(void) {
  const char *url = tk_t_redis_url("the upstream-blocks test");
  char *yaml = policies();
  CHECKF(yaml != NULL, "cannot read contract/upstream-blocks.yaml");
  if (url && yaml) {
    char ns[128];
    tk_t_namespace(ns, sizeof ns, "blocks");
    tk_options_t o;
    tk_options_init(&o);
    o.key_namespace = ns;
    o.timeout_ms = 5000;
    tk_handle_t h = 0;
    tk_error_t err;
    if (EXPECT_OK(tk_open_redis(url, yaml, &o, &h, &err))) {
      test_blocks(h);
      EXPECT_OK(tk_free(h));
    } else {
      fprintf(stderr, "  open: %s\n", err.message);
    }
  }
  free(yaml);
  return tk_t_finish();
}
