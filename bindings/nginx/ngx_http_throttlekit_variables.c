/*
 * ngx_http_throttlekit_variables.c: $throttlekit_status (the request's
 * outcome) and $throttlekit_remaining (the least remaining of its rules).
 */

#include "ngx_http_throttlekit.h"


static ngx_str_t  ngx_http_throttlekit_outcomes[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("REJECTED_DRY_RUN"),     /* as $limit_req_status says */
    ngx_string("ERROR")
};


/* $throttlekit_status: PASSED, REJECTED, DRY_RUN, ERROR; empty: no rule */
static ngx_int_t
ngx_http_throttlekit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_throttlekit_ctx_t  *ctx;

    ctx = ngx_http_throttlekit_get_ctx(r);

    if (ctx == NULL || !ctx->decided
        || ctx->outcome == NGX_THROTTLEKIT_NONE)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_http_throttlekit_outcomes[ctx->outcome].data;
    v->len = ngx_http_throttlekit_outcomes[ctx->outcome].len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $throttlekit_remaining: the least "remaining" of the rules' decisions */
static ngx_int_t
ngx_http_throttlekit_remaining_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    int64_t                        least;
    ngx_uint_t                     i, found;
    ngx_http_throttlekit_ctx_t    *ctx;
    ngx_http_throttlekit_check_t  *check;

    ctx = ngx_http_throttlekit_get_ctx(r);

    found = 0;
    least = 0;

    for (i = 0; ctx && ctx->decided && i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (!ngx_http_throttlekit_has_decision(check)) {
            continue;
        }

        if (!found || check->decision.remaining < least) {
            least = check->decision.remaining;
        }

        found = 1;
    }

    if (!found) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%L", least) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_throttlekit_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    static ngx_str_t  status_name = ngx_string("throttlekit_status");
    static ngx_str_t  remaining_name = ngx_string("throttlekit_remaining");

    var = ngx_http_add_variable(cf, &status_name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_throttlekit_status_variable;

    var = ngx_http_add_variable(cf, &remaining_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_throttlekit_remaining_variable;

    return NGX_OK;
}
