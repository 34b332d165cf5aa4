/*
 * test_headers.c - tk_format_headers against contract/rate-limit-headers.json: for every case,
 * exactly the headers listed (names case-insensitive, values exact), no more. Also: the length
 * it reports when measuring or cutting, a cut only at line boundaries, bad arguments, and that
 * it never starts the Go core.
 */
#include "tk_test.h"

#include <cjson/cJSON.h>
#include <strings.h>

static const struct {
  const char *name;
  tk_header_style_t style;
} styles[] = {{"off", TK_HEADERS_OFF},
              {"ietf", TK_HEADERS_IETF},
              {"triple", TK_HEADERS_TRIPLE},
              {"legacy", TK_HEADERS_LEGACY},
              {"all", TK_HEADERS_ALL}};

static int style_of(const char *name, tk_header_style_t *out) {
  for (size_t i = 0; i < sizeof styles / sizeof *styles; i++)
    if (!strcmp(styles[i].name, name)) return *out = styles[i].style, 1;
  return 0;
}

static int64_t num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -999;
}

/* Checks the "Name: value\r\n" lines of text against want (an object), both ways. */
static void compare(const char *ctx, const char *text, const cJSON *want) {
  int lines = 0;
  for (const char *p = text; *p;) {
    const char *eol = strstr(p, "\r\n");
    const char *colon = strstr(p, ": ");
    if (!CHECKF(eol && colon && colon < eol, "%s: malformed line in %s", ctx, p)) return;
    char name[128], value[1024];
    snprintf(name, sizeof name, "%.*s", (int)(colon - p), p);
    snprintf(value, sizeof value, "%.*s", (int)(eol - colon - 2), colon + 2);
    const cJSON *item = NULL, *w;
    cJSON_ArrayForEach(w, want) if (!strcasecmp(w->string, name)) item = w;
    if (CHECKF(cJSON_IsString(item), "%s: unexpected header %s: %s", ctx, name, value))
      CHECKF(!strcmp(item->valuestring, value), "%s: %s is %s, want %s", ctx, name, value, item->valuestring);
    lines++;
    p = eol + 2;
  }
  CHECKF(lines == cJSON_GetArraySize(want), "%s: %d headers, want %d", ctx, lines, cJSON_GetArraySize(want));
}

static void replay(const cJSON *c) {
  const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
  const cJSON *dj = cJSON_GetObjectItemCaseSensitive(c, "decision");
  tk_header_style_t style = TK_HEADERS_OFF;
  if (!CHECKF(style_of(cJSON_GetObjectItemCaseSensitive(c, "style")->valuestring, &style), "%s: style", name))
    return;
  tk_decision_t d = {0};
  d.allowed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dj, "allowed"));
  d.flags = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dj, "synthesized")) ? TK_DECISION_SYNTHESIZED : 0;
  d.limit = num(dj, "limit");
  d.remaining = num(dj, "remaining");
  d.reset_at_ms = num(dj, "resetAtMs");
  d.retry_after_ms = num(dj, "retryAfterMs");
  d.window_ms = num(dj, "windowMs");
  const char *policy = cJSON_GetObjectItemCaseSensitive(c, "policy")->valuestring;
  int64_t now = num(c, "nowMs");
  char buf[2048];
  int need = tk_format_headers(style, policy, &d, now, NULL, 0);
  int n = tk_format_headers(style, policy, &d, now, buf, sizeof buf);
  EXPECT_EQ_CTX(name, n, need);
  EXPECT_EQ_CTX(name, (size_t)n, strlen(buf));
  compare(name, buf, cJSON_GetObjectItemCaseSensitive(c, "headers"));
  if (n > 4) { /* a short buffer keeps whole lines only */
    char small[2048];
    int m = tk_format_headers(style, policy, &d, now, small, (size_t)n - 1);
    EXPECT_EQ_CTX(name, m, n);
    size_t len = strlen(small);
    CHECKF(len < (size_t)n - 1 && (len == 0 || !strcmp(small + len - 2, "\r\n")) && !strncmp(small, buf, len),
           "%s: a cut text is %zu bytes of whole lines, got \"%s\"", name, len, small);
  }
}

int main(void) {
  char root[PATH_MAX], path[PATH_MAX + 64];
  CHECK(tk_t_repo_root(root, sizeof root));
  snprintf(path, sizeof path, "%s/contract/rate-limit-headers.json", root);
  size_t len;
  char *text = tk_t_read_file(path, &len);
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  if (CHECKF(doc != NULL, "cannot read %s", path)) {
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases")) replay(c), cases++;
    CHECKF(cases >= 10, "only %d cases", cases);
  }
  tk_decision_t d = {.allowed = 1, .limit = 1};
  char buf[16];
  EXPECT_EQ(tk_format_headers(TK_HEADERS_IETF, NULL, &d, 0, buf, sizeof buf), -1);
  EXPECT_EQ(tk_format_headers(TK_HEADERS_IETF, "p", NULL, 0, buf, sizeof buf), -1);
  EXPECT_EQ(tk_format_headers(TK_HEADERS_IETF, "p", &d, 0, NULL, 4), -1);
  EXPECT_EQ(tk_format_headers((tk_header_style_t)9, "p", &d, 0, buf, sizeof buf), -1);
  EXPECT_EQ(tk_format_headers((tk_header_style_t)-1, "p", &d, 0, buf, sizeof buf), -1);
  EXPECT_EQ(tk_debug_goroutines(), -1); /* the core was never started */
  cJSON_Delete(doc);
  free(text);
  return tk_t_finish();
}
