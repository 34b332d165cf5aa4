/*
 * ngx_http_throttlekit_concurrency.c: throttlekit_concurrency. A request's
 * admissions go beside its rate checks (tk_admit_async); an allowed one's
 * lease is released when the request's pool goes (tk_release_async, fire
 * and forget, dropped on a 5xx). An admission whose request goes before its
 * answer becomes an orphan, which releases what it is given.
 */

#include "ngx_http_throttlekit.h"


/*
 * throttlekit_concurrency <policy> key=<value> [cost=<value>];  or  off;
 * a concurrency policy's slot for the request's whole life. As with
 * "throttlekit", a level's rules replace the inherited ones.
 */
char *
ngx_http_throttlekit_concurrency(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_throttlekit_loc_conf_t  *lcf = conf;

    char                              *rv;
    ngx_http_throttlekit_main_conf_t  *mcf;

    rv = ngx_http_throttlekit_rule_list(cf, &lcf->admits);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_throttlekit_module);
    mcf->admits = 1;

    return NGX_CONF_OK;
}


/* Sends one prepared admission: PENDING, or FAILED (logged). */
static void
ngx_http_throttlekit_send_admit(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t *check, u_char *key, int64_t cost)
{
    int                             rc;
    tk_error_t                      err;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (w->admit_async == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "throttlekit: policy \"%V\" not admitted: the library "
                      "has no asynchronous admission (tk_admit_async)",
                      &check->policy);
        return;
    }

    err.message[0] = '\0';

    rc = w->admit_async(w->handle, (const char *) check->policy.data,
                        (const char *) key, cost, (uint64_t) w->next_cookie,
                        &err);

    if (ngx_http_throttlekit_submitted(r, check, rc, &err) == NGX_OK) {
        check->key = key;
    }
}


/* Submits the request's admissions (the checks after its nrules rate checks),
   one call each. */
void
ngx_http_throttlekit_submit_admits(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx, ngx_uint_t nrules,
    ngx_http_throttlekit_rule_t *admits)
{
    int64_t                        cost;
    u_char                        *key;
    ngx_uint_t                     i;
    ngx_http_throttlekit_check_t  *check;

    for (i = nrules; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];
        check->ctx = ctx;
        check->admit = 1;

        if (ngx_http_throttlekit_prepare(r, &admits[i - nrules], check, &key,
                                         &cost)
            == NGX_OK)
        {
            ngx_http_throttlekit_send_admit(r, check, key, cost);
        }
    }
}


/* Gives a lease back, fire and forget: its completion (cookie 0) is only
   logged should it fail. A release that cannot be sent leaves the slot to
   the lease's expiry. */
void
ngx_http_throttlekit_release(ngx_log_t *log, const char *policy,
    const char *key, const char *lease, int dropped)
{
    int                             rc;
    tk_error_t                      err;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (w->handle == 0 || w->release_async == NULL) {
        return;
    }

    err.message[0] = '\0';

    rc = w->release_async(w->handle, policy, key, lease, dropped, 0, &err);

    if (rc != TK_OK) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "throttlekit: policy \"%s\": release failed: %s (%s); "
                      "the slot returns when its lease expires",
                      policy, w->strerror(rc), err.message);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "throttlekit: released %s of policy \"%s\"%s",
                   lease, policy, dropped ? " (dropped)" : "");
}


/* The completion of a release (cookie 0): logged only should it fail. */
void
ngx_http_throttlekit_release_done(tk_completion_t *cpl)
{
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (cpl->status != TK_OK) {
        cpl->message[sizeof(cpl->message) - 1] = '\0';

        ngx_log_error(NGX_LOG_WARN, w->conn->log, 0,
                      "throttlekit: release failed: %s (%s); the slot "
                      "returns when its lease expires",
                      w->strerror(cpl->status), cpl->message);
    }
}


/*
 * An admission still in flight whose request goes: its node leaves the
 * request's pool for an orphan of the worker's, under the same cookie, so
 * that a lease its completion brings is released at once (the handle would
 * otherwise renew it for ever). Nothing is released before the answer.
 */
void
ngx_http_throttlekit_orphan(ngx_http_throttlekit_check_t *check)
{
    size_t                          plen, klen;
    ngx_rbtree_key_t                cookie;
    ngx_http_throttlekit_orphan_t  *o;

    cookie = check->node.key;
    ngx_http_throttlekit_untrack(check);

    plen = check->policy.len;
    klen = ngx_strlen(check->key);

    o = ngx_alloc(sizeof(ngx_http_throttlekit_orphan_t) + plen + klen + 2,
                  ngx_cycle->log);
    if (o == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "throttlekit: policy \"%V\": an admission in flight "
                      "is abandoned; a slot it may take stays held",
                      &check->policy);
        return;
    }

    ngx_memzero(&o->node, sizeof(ngx_rbtree_node_t));
    o->node.key = cookie;
    o->node.data = NGX_THROTTLEKIT_NODE_ORPHAN;

    o->policy = (u_char *) (o + 1);
    ngx_memcpy(o->policy, check->policy.data, plen);
    o->policy[plen] = '\0';

    o->key = o->policy + plen + 1;
    ngx_memcpy(o->key, check->key, klen + 1);

    ngx_rbtree_insert(&ngx_http_throttlekit_worker.inflight, &o->node);
}


/* The completion of an orphan: release what it was given, then forget it. */
void
ngx_http_throttlekit_orphan_done(ngx_http_throttlekit_orphan_t *o,
    tk_completion_t *cpl)
{
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    ngx_rbtree_delete(&w->inflight, &o->node);

    if (cpl->status == TK_OK && cpl->decision.allowed) {
        cpl->message[sizeof(cpl->message) - 1] = '\0';

        ngx_log_error(NGX_LOG_INFO, w->conn->log, 0,
                      "throttlekit: policy \"%s\": releasing the slot of a "
                      "request that is gone", o->policy);

        ngx_http_throttlekit_release(w->conn->log, (const char *) o->policy,
                                     (const char *) o->key, cpl->message, 0);
    }

    ngx_free(o);
}
