/*
 * ngx_http_throttlekit_headers.c: the response's fields, in the styles of
 * docs/headers.md that throttlekit_headers chooses: RateLimit-Policy and
 * RateLimit (ietf), RateLimit-Limit/-Remaining/-Reset (triple),
 * X-RateLimit-* (legacy); and Retry-After on a rejection.
 */

#include "ngx_http_throttlekit.h"


/* Whether a check has a decision of the backend's to show. */
#define ngx_http_throttlekit_shown(check)                                     \
    (ngx_http_throttlekit_has_decision(check)                                 \
     && !((check)->decision.flags & TK_DECISION_SYNTHESIZED))


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* Writes a structured-field string: "name", '"' and '\' escaped. */
static u_char *
ngx_http_throttlekit_sf_string(u_char *p, ngx_str_t *s)
{
    size_t  i;

    *p++ = '"';

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            *p++ = '\\';
        }

        *p++ = s->data[i];
    }

    *p++ = '"';

    return p;
}


static ngx_int_t
ngx_http_throttlekit_add_header(ngx_http_request_t *r, ngx_str_t *name,
    u_char *start, u_char *end)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *name;
    h->value.data = start;
    h->value.len = end - start;

    return NGX_OK;
}


/* Milliseconds as whole seconds, rounded up; 0 for a time already past. */
static int64_t
ngx_http_throttlekit_seconds(int64_t ms)
{
    return (ms > 0) ? (ms + 999) / 1000 : 0;
}


/* Room for one field's value: per shown check, the longer of the two
   members ("name" escaped, ";r=N;t=N") and a ", ". 0: nothing to show. */
static size_t
ngx_http_throttlekit_fields_len(ngx_http_throttlekit_ctx_t *ctx)
{
    size_t                         len;
    ngx_uint_t                     i;
    ngx_http_throttlekit_check_t  *check;

    len = 0;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (ngx_http_throttlekit_shown(check)) {
            len += 2 * check->policy.len + 2
                   + sizeof(";r=;t=;w=, ") - 1 + 3 * NGX_INT64_LEN;
        }
    }

    return len;
}


/* A RateLimit-Policy member: "name";q=<quota>;w=<window, s>, without w=
   when the window is unknown (0) */
static u_char *
ngx_http_throttlekit_policy_member(u_char *p,
    ngx_http_throttlekit_check_t *check)
{
    p = ngx_http_throttlekit_sf_string(p, &check->policy);

    p = ngx_sprintf(p, ";q=%L", check->decision.limit);

    if (check->decision.window_ms > 0) {
        p = ngx_sprintf(p, ";w=%L",
                        ngx_http_throttlekit_seconds(check->decision.window_ms));
    }

    return p;
}


/* A RateLimit member: "name";r=<remaining>;t=<seconds to a whole quota> */
static u_char *
ngx_http_throttlekit_state_member(u_char *p,
    ngx_http_throttlekit_check_t *check, int64_t now_ms)
{
    int64_t  t;

    t = ngx_http_throttlekit_seconds(check->decision.reset_at_ms - now_ms);

    p = ngx_http_throttlekit_sf_string(p, &check->policy);

    return ngx_sprintf(p, ";r=%L;t=%L", check->decision.remaining, t);
}


/* Writes the members of both fields, in the order of the rules, at *policy
   and *state, and moves both past what it wrote. */
static void
ngx_http_throttlekit_write_members(ngx_http_throttlekit_ctx_t *ctx,
    u_char **policy, u_char **state)
{
    u_char                        *p, *q;
    int64_t                        now_ms;
    ngx_uint_t                     i;
    ngx_time_t                    *tp;
    ngx_http_throttlekit_check_t  *check;

    p = *policy;
    q = *state;

    tp = ngx_timeofday();
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (!ngx_http_throttlekit_shown(check)) {
            continue;
        }

        if (p != *policy) {
            p = ngx_cpymem(p, ", ", 2);
            q = ngx_cpymem(q, ", ", 2);
        }

        p = ngx_http_throttlekit_policy_member(p, check);
        q = ngx_http_throttlekit_state_member(q, check, now_ms);
    }

    *policy = p;
    *state = q;
}


/* RateLimit-Policy and RateLimit, in the two halves of one buffer. */
static ngx_int_t
ngx_http_throttlekit_set_ratelimit(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx)
{
    u_char  *policy, *state, *p, *q;
    size_t   len;

    static ngx_str_t  policy_name = ngx_string("RateLimit-Policy");
    static ngx_str_t  state_name = ngx_string("RateLimit");

    len = ngx_http_throttlekit_fields_len(ctx);
    if (len == 0) {
        return NGX_OK;
    }

    policy = ngx_pnalloc(r->pool, 2 * len);
    if (policy == NULL) {
        return NGX_ERROR;
    }

    state = policy + len;
    p = policy;
    q = state;

    ngx_http_throttlekit_write_members(ctx, &p, &q);

    if (ngx_http_throttlekit_add_header(r, &policy_name, policy, p) != NGX_OK
        || ngx_http_throttlekit_add_header(r, &state_name, state, q) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* The most restrictive shown decision, which triple and legacy show: the
   fewest remaining, the first of equals; NULL when none is shown. */
static ngx_http_throttlekit_check_t *
ngx_http_throttlekit_tightest(ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_uint_t                     i;
    ngx_http_throttlekit_check_t  *check, *tightest;

    tightest = NULL;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (ngx_http_throttlekit_shown(check)
            && (tightest == NULL
                || check->decision.remaining < tightest->decision.remaining))
        {
            tightest = check;
        }
    }

    return tightest;
}


/* <prefix>Limit, <prefix>Remaining and <prefix>Reset: triple's reset is in
   seconds from now, legacy's in epoch seconds. */
static ngx_int_t
ngx_http_throttlekit_set_three(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t *check, ngx_str_t *names, ngx_uint_t epoch)
{
    u_char      *p, *limit, *remaining, *reset;
    int64_t      now_ms, t;
    ngx_time_t  *tp;

    p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (epoch) {
        t = ngx_http_throttlekit_seconds(check->decision.reset_at_ms);

    } else {
        tp = ngx_timeofday();
        now_ms = (int64_t) tp->sec * 1000 + tp->msec;
        t = ngx_http_throttlekit_seconds(check->decision.reset_at_ms - now_ms);
    }

    limit = p;
    remaining = ngx_sprintf(limit, "%L", check->decision.limit);
    reset = ngx_sprintf(remaining, "%L", check->decision.remaining);
    p = ngx_sprintf(reset, "%L", t);

    if (ngx_http_throttlekit_add_header(r, &names[0], limit, remaining)
           != NGX_OK
        || ngx_http_throttlekit_add_header(r, &names[1], remaining, reset)
           != NGX_OK
        || ngx_http_throttlekit_add_header(r, &names[2], reset, p) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* The styles of docs/headers.md that throttlekit_headers chose. */
static ngx_int_t
ngx_http_throttlekit_set_fields(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_http_throttlekit_check_t  *tightest;

    static ngx_str_t  triple[] = {
        ngx_string("RateLimit-Limit"),
        ngx_string("RateLimit-Remaining"),
        ngx_string("RateLimit-Reset")
    };

    static ngx_str_t  legacy[] = {
        ngx_string("X-RateLimit-Limit"),
        ngx_string("X-RateLimit-Remaining"),
        ngx_string("X-RateLimit-Reset")
    };

    if ((ctx->headers & NGX_THROTTLEKIT_HEADERS_IETF)
        && ngx_http_throttlekit_set_ratelimit(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!(ctx->headers & (NGX_THROTTLEKIT_HEADERS_TRIPLE
                          |NGX_THROTTLEKIT_HEADERS_LEGACY)))
    {
        return NGX_OK;
    }

    tightest = ngx_http_throttlekit_tightest(ctx);
    if (tightest == NULL) {
        return NGX_OK;
    }

    if ((ctx->headers & NGX_THROTTLEKIT_HEADERS_TRIPLE)
        && ngx_http_throttlekit_set_three(r, tightest, triple, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((ctx->headers & NGX_THROTTLEKIT_HEADERS_LEGACY)
        && ngx_http_throttlekit_set_three(r, tightest, legacy, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Retry-After on a rejection: the longest wait among the denials, in whole
   seconds rounded up, at least 1. */
static ngx_int_t
ngx_http_throttlekit_set_retry_after(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx)
{
    u_char  *p, *last;

    static ngx_str_t  retry_name = ngx_string("Retry-After");

    if (ctx->outcome != NGX_THROTTLEKIT_REJECTED) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%L",
                       ngx_max(1, ngx_http_throttlekit_seconds(
                                      ctx->retry_after_ms)));

    return ngx_http_throttlekit_add_header(r, &retry_name, p, last);
}


/*
 * RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers): a
 * list member per rule with a decision, named after its policy, e.g.
 *
 *     RateLimit-Policy: "api";q=5
 *     RateLimit: "api";r=0;t=12
 *
 * q: the quota, r: what remains, t: seconds until the quota is whole again;
 * and Retry-After (seconds, rounded up) on a rejection.
 */
static ngx_int_t
ngx_http_throttlekit_header_filter(ngx_http_request_t *r)
{
    ngx_http_throttlekit_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_throttlekit_get_ctx(r);

    if (ctx == NULL || !ctx->decided || !ctx->headers) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_throttlekit_set_fields(r, ctx) != NGX_OK
        || ngx_http_throttlekit_set_retry_after(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* Puts the module's filter at the top of the header filter chain. */
void
ngx_http_throttlekit_headers_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_throttlekit_header_filter;
}
