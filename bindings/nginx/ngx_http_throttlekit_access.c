/*
 * ngx_http_throttlekit_access.c: the access phase. A request of a location
 * with rules gets a context, submits its checks and admissions and returns
 * NGX_AGAIN until every answer is in (ngx_http_throttlekit_async.c); its
 * phases then run again and the handler returns the verdict, once.
 */

#include "ngx_http_throttlekit.h"


/*
 * The request's context. An internal redirect clears r->ctx, so the context
 * is also found through its pool cleanup handler (as the realip module does);
 * only a redirected request (r->internal) needs that search.
 */
ngx_http_throttlekit_ctx_t *
ngx_http_throttlekit_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_throttlekit_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_throttlekit_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_throttlekit_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_throttlekit_module);
            return ctx;
        }
    }

    return NULL;
}


/*
 * Sends one prepared check: PENDING, or FAILED (logged), or, when the library
 * decided it before returning (a two-tier policy's local credits or cached
 * denial, the embedded engine), ALLOWED or DENIED at once: no completion
 * comes for it, and a request whose checks are all decided so is judged in
 * the same run of the access phase.
 */
static void
ngx_http_throttlekit_send(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t *check, u_char *key, int64_t cost)
{
    int                             rc;
    int32_t                         done;
    tk_error_t                      err;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    err.message[0] = '\0';

    if (w->check_async_now) {
        done = 0;

        rc = w->check_async_now(w->handle, (const char *) check->policy.data,
                                (const char *) key, cost,
                                (uint64_t) w->next_cookie, &check->decision,
                                &done, &err);

        if (rc == TK_OK && done) {
            check->state = check->decision.allowed ? NGX_THROTTLEKIT_ALLOWED
                                                   : NGX_THROTTLEKIT_DENIED;
            return;
        }

    } else {
        rc = w->check_async(w->handle, (const char *) check->policy.data,
                            (const char *) key, cost,
                            (uint64_t) w->next_cookie, &err);
    }

    (void) ngx_http_throttlekit_submitted(r, check, rc, &err);
}


/*
 * Sends the n prepared checks of a request as one all-or-nothing call: a
 * request that one rule rejects spends nothing of the others. Its completions
 * carry n consecutive cookies, the worker's next ones, in rule order. NGX_OK
 * once sent; NGX_DECLINED when the library refused the call at once (keys in
 * several Cluster slots, for one), which the caller answers rule by rule.
 */
static ngx_int_t
ngx_http_throttlekit_send_together(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t **checks, tk_check_item_t *items,
    ngx_uint_t n)
{
    int                             rc;
    ngx_uint_t                      i;
    tk_error_t                      err;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (w->next_cookie > (ngx_rbtree_key_t) -1 - n) {
        w->next_cookie = 1;              /* keep the n cookies consecutive */
    }

    err.message[0] = '\0';

    rc = w->check_all_async(w->handle, items, n, (uint64_t) w->next_cookie,
                            &err);

    if (rc != TK_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "throttlekit: the location's rules are checked one by "
                      "one: %s (%s)", w->strerror(rc), err.message);
        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {
        checks[i]->state = NGX_THROTTLEKIT_PENDING;
        ngx_http_throttlekit_track(checks[i]);
    }

    return NGX_OK;
}


/* The request's context, with the location's settings of the moment and a
   pool cleanup that exists before any of its checks enters the tree. */
static ngx_http_throttlekit_ctx_t *
ngx_http_throttlekit_create_ctx(ngx_http_request_t *r,
    ngx_http_throttlekit_loc_conf_t *lcf)
{
    ngx_uint_t                   n;
    ngx_pool_cleanup_t          *cln;
    ngx_http_throttlekit_ctx_t  *ctx;

    n = ngx_http_throttlekit_nrules(lcf->rules)
        + ngx_http_throttlekit_nrules(lcf->admits);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_throttlekit_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->checks = ngx_pcalloc(r->pool,
                              n * sizeof(ngx_http_throttlekit_check_t));
    if (ctx->checks == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_throttlekit_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->nchecks = n;
    ctx->status = lcf->status;
    ctx->log_level = lcf->log_level;
    ctx->headers = lcf->headers;
    ctx->dry_run = lcf->dry_run ? 1 : 0;
    ctx->fail_closed = (lcf->fail == NGX_THROTTLEKIT_FAIL_CLOSED);

    ngx_http_set_ctx(r, ctx, ngx_http_throttlekit_module);

    return ctx;
}


/* Submits the request's checks and counts those left in flight: the rate
   checks all in one all-or-nothing call when the library has one and two or
   more can be sent, else one per rule; then the admissions. */
static void
ngx_http_throttlekit_submit_all(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx, ngx_http_throttlekit_loc_conf_t *lcf)
{
    int64_t                         cost;
    u_char                         *key;
    ngx_uint_t                      i, n, nrules;
    tk_check_item_t                *items;
    ngx_http_throttlekit_rule_t    *rules;
    ngx_http_throttlekit_check_t  **ready;

    nrules = ngx_http_throttlekit_nrules(lcf->rules);
    rules = nrules ? lcf->rules->elts : NULL;

    items = ngx_palloc(r->pool, (nrules + 1) * sizeof(tk_check_item_t));
    ready = ngx_palloc(r->pool, (nrules + 1) * sizeof(*ready));
    n = 0;

    for (i = 0; i < nrules; i++) {
        ctx->checks[i].ctx = ctx;

        if (ngx_http_throttlekit_prepare(r, &rules[i], &ctx->checks[i], &key,
                                         &cost)
            != NGX_OK)
        {
            continue;
        }

        if (items == NULL || ready == NULL) {
            ngx_http_throttlekit_send(r, &ctx->checks[i], key, cost);
            continue;
        }

        items[n].policy = (const char *) rules[i].policy.data;
        items[n].key = (const char *) key;
        items[n].cost = cost;
        ready[n++] = &ctx->checks[i];
    }

    if (n >= 2 && ngx_http_throttlekit_worker.check_all_async != NULL
        && ngx_http_throttlekit_send_together(r, ready, items, n) == NGX_OK)
    {
        n = 0;
    }

    for (i = 0; i < n; i++) {
        ngx_http_throttlekit_send(r, ready[i], (u_char *) items[i].key,
                                  items[i].cost);
    }

    if (nrules < ctx->nchecks) {
        ngx_http_throttlekit_submit_admits(r, ctx, nrules, lcf->admits->elts);
    }

    for (i = 0; i < ctx->nchecks; i++) {
        if (ctx->checks[i].state == NGX_THROTTLEKIT_PENDING) {
            ctx->pending++;
        }
    }
}


/*
 * Waits for the completions. A client that leaves meanwhile is noticed:
 * ngx_http_test_reading finalizes the request, and its pool cleanup takes
 * its checks out of the tree. Write events do nothing until the completion
 * handler runs the phases again.
 */
static void
ngx_http_throttlekit_wait(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx)
{
    ctx->guard.handler = ngx_http_throttlekit_guard_handler;
    ctx->guard.data = ctx;
    ctx->guard.log = r->connection->log;

    ngx_add_timer(&ctx->guard, ngx_http_throttlekit_guard_ms());

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


/* What the access phase returns for a request that has a context: the
   verdict once decided, and only once, as an internal redirect runs the
   phases again and must not be judged twice. */
static ngx_int_t
ngx_http_throttlekit_verdict(ngx_http_throttlekit_ctx_t *ctx)
{
    if (!ctx->decided) {
        return NGX_AGAIN;                /* woken before the last answer */
    }

    if (ctx->judged) {
        return NGX_DECLINED;             /* internal redirect: judged once */
    }

    ctx->judged = 1;

    return ctx->verdict;
}


ngx_int_t
ngx_http_throttlekit_handler(ngx_http_request_t *r)
{
    ngx_http_throttlekit_ctx_t       *ctx;
    ngx_http_throttlekit_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_throttlekit_module);

    if (ngx_http_throttlekit_nrules(lcf->rules) == 0
        && ngx_http_throttlekit_nrules(lcf->admits) == 0)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_throttlekit_get_ctx(r);

    if (ctx) {
        return ngx_http_throttlekit_verdict(ctx);
    }

    ctx = ngx_http_throttlekit_create_ctx(r, lcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_throttlekit_submit_all(r, ctx, lcf);

    if (ctx->pending == 0) {
        ngx_http_throttlekit_decide(ctx);
        return ngx_http_throttlekit_verdict(ctx);
    }

    ngx_http_throttlekit_wait(r, ctx);

    return NGX_AGAIN;
}
