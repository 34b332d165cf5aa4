/* tk_format_headers: RateLimit response headers of a decision (docs/headers.md). Pure C, so
   that a C or C++ server (and a forked child) can use it without the Go core. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "throttlekit.h"

/* ceil(a / 1000) for any a (C division truncates toward zero). */
static int64_t ceil_seconds(int64_t ms) {
  return ms > 0 ? (ms + 999) / 1000 : -((-ms) / 1000);
}

/* The lines, appended to out while they fit whole; the length they all need. */
typedef struct {
  char *buf;
  size_t size, used, need;
  int cut;
} lines_t;

static void line(lines_t *l, const char *name, const char *value) {
  int n = snprintf(NULL, 0, "%s: %s\r\n", name, value);
  if (n < 0) return;
  l->need += (size_t)n;
  if (l->cut || l->used + (size_t)n >= l->size) {
    l->cut = 1;
    return;
  }
  snprintf(l->buf + l->used, l->size - l->used, "%s: %s\r\n", name, value);
  l->used += (size_t)n;
}

static void number_line(lines_t *l, const char *name, int64_t v) {
  char value[24];
  snprintf(value, sizeof value, "%" PRId64, v);
  line(l, name, value);
}

/* policy as a structured-field string: quoted, with " and \\ escaped; bytes outside printable
   ASCII are dropped (a field cannot carry them). */
static void sf_string(char *out, size_t size, const char *policy) {
  size_t o = 0;
  out[o++] = '"';
  for (const char *p = policy; *p && o + 3 < size; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c > 0x7e) continue;
    if (c == '"' || c == '\\') out[o++] = '\\';
    out[o++] = (char)c;
  }
  out[o++] = '"';
  out[o] = '\0';
}

static void rate_fields(lines_t *l, tk_header_style_t style, const char *policy, const tk_decision_t *d,
                        int64_t now_ms) {
  int64_t t = ceil_seconds(d->reset_at_ms - now_ms);
  if (t < 0) t = 0;
  if (style == TK_HEADERS_IETF || style == TK_HEADERS_ALL) {
    char name[600], value[700];
    sf_string(name, sizeof name, policy);
    if (d->window_ms > 0)
      snprintf(value, sizeof value, "%s;q=%" PRId64 ";w=%" PRId64, name, d->limit, ceil_seconds(d->window_ms));
    else
      snprintf(value, sizeof value, "%s;q=%" PRId64, name, d->limit);
    line(l, "RateLimit-Policy", value);
    snprintf(value, sizeof value, "%s;r=%" PRId64 ";t=%" PRId64, name, d->remaining, t);
    line(l, "RateLimit", value);
  }
  if (style == TK_HEADERS_TRIPLE || style == TK_HEADERS_ALL) {
    number_line(l, "RateLimit-Limit", d->limit);
    number_line(l, "RateLimit-Remaining", d->remaining);
    number_line(l, "RateLimit-Reset", t);
  }
  if (style == TK_HEADERS_LEGACY || style == TK_HEADERS_ALL) {
    number_line(l, "X-RateLimit-Limit", d->limit);
    number_line(l, "X-RateLimit-Remaining", d->remaining);
    number_line(l, "X-RateLimit-Reset", ceil_seconds(d->reset_at_ms));
  }
}

int tk_format_headers(tk_header_style_t style, const char *policy, const tk_decision_t *d,
                      int64_t now_ms, char *buf, size_t size) {
  if (!policy || !d || (!buf && size > 0) || style < TK_HEADERS_OFF || style > TK_HEADERS_ALL) return -1;
  lines_t l = {buf, size, 0, 0, 0};
  if (size > 0) buf[0] = '\0';
  if (style == TK_HEADERS_OFF) return 0;
  if (!(d->flags & TK_DECISION_SYNTHESIZED)) rate_fields(&l, style, policy, d, now_ms);
  if (!d->allowed) {
    int64_t retry = ceil_seconds(d->retry_after_ms);
    number_line(&l, "Retry-After", retry < 1 ? 1 : retry);
  }
  if (size > 0) buf[l.used] = '\0';
  return l.need > INT32_MAX ? INT32_MAX : (int)l.need;
}
