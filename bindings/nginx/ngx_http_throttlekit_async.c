/*
 * ngx_http_throttlekit_async.c: checks in flight. Each carries a cookie,
 * found in the worker's red-black tree; the completion fd's handler polls
 * the library and hands each answer to its check; a request with all its
 * answers (or whose guard timer fired) runs its phases again. The pool
 * cleanup takes a request's checks out of the tree, however it ends.
 */

#include "ngx_http_throttlekit.h"


/* Makes a submitted check findable by its cookie, the worker's next one. */
void
ngx_http_throttlekit_track(ngx_http_throttlekit_check_t *check)
{
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    check->node.key = w->next_cookie;
    ngx_rbtree_insert(&w->inflight, &check->node);
    check->in_tree = 1;

    if (++w->next_cookie == 0) {
        w->next_cookie = 1;              /* 0 is never a cookie */
    }
}


/* What a call that submitted one check returned: TK_OK makes the check
   PENDING and tracked; anything else is logged (the check stays FAILED). */
ngx_int_t
ngx_http_throttlekit_submitted(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t *check, int rc, tk_error_t *err)
{
    if (rc != TK_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "throttlekit: policy \"%V\": %s (%s)",
                      &check->policy, ngx_http_throttlekit_worker.strerror(rc),
                      err->message);
        return NGX_ERROR;
    }

    check->state = NGX_THROTTLEKIT_PENDING;
    ngx_http_throttlekit_track(check);

    return NGX_OK;
}


/* Takes a check out of the tree, so that its completion, should it come,
   finds nothing and is dropped. */
void
ngx_http_throttlekit_untrack(ngx_http_throttlekit_check_t *check)
{
    ngx_rbtree_delete(&ngx_http_throttlekit_worker.inflight, &check->node);
    check->in_tree = 0;
}


/* All checks of a request have their answers: run its phases again, from
   this module's access handler, which now returns the verdict. */
static void
ngx_http_throttlekit_resume(ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (ctx->guard.timer_set) {
        ngx_del_timer(&ctx->guard);
    }

    ngx_http_throttlekit_decide(ctx);

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);

    /* r may be gone; c is still valid (nginx recycles connections) */

    ngx_http_run_posted_requests(c);
}


/* The tree node of a cookie: a check (node.data NODE_CHECK) or an orphan. */
static ngx_rbtree_node_t *
ngx_http_throttlekit_lookup(ngx_rbtree_key_t cookie)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = ngx_http_throttlekit_worker.inflight.root;
    sentinel = ngx_http_throttlekit_worker.inflight.sentinel;

    while (node != sentinel) {

        if (cookie == node->key) {
            return node;
        }

        node = (cookie < node->key) ? node->left : node->right;
    }

    return NULL;
}


/* A check's answer: the decision (and an admission's lease id), or FAILED,
   logged. */
static void
ngx_http_throttlekit_answer(ngx_http_throttlekit_check_t *check,
    tk_completion_t *cpl)
{
    if (cpl->status == TK_OK) {
        check->decision = cpl->decision;
        check->state = cpl->decision.allowed ? NGX_THROTTLEKIT_ALLOWED
                                             : NGX_THROTTLEKIT_DENIED;

        if (check->admit && cpl->decision.allowed) {
            /* the lease id, which the pool cleanup releases */
            ngx_cpystrn((u_char *) check->lease, (u_char *) cpl->message,
                        sizeof(check->lease));
        }

        return;
    }

    check->state = NGX_THROTTLEKIT_FAILED;
    cpl->message[sizeof(cpl->message) - 1] = '\0';

    ngx_log_error(NGX_LOG_WARN, check->ctx->request->connection->log, 0,
                  "throttlekit: policy \"%V\": %s (%s)", &check->policy,
                  ngx_http_throttlekit_worker.strerror(cpl->status),
                  cpl->message);
}


/* One completion from the library. */
static void
ngx_http_throttlekit_complete(tk_completion_t *cpl)
{
    ngx_rbtree_node_t              *node;
    ngx_http_throttlekit_ctx_t     *ctx;
    ngx_http_throttlekit_check_t   *check;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (cpl->cookie == 0) {
        /* a release (0 is never a check's cookie) */
        ngx_http_throttlekit_release_done(cpl);
        return;
    }

    node = ngx_http_throttlekit_lookup((ngx_rbtree_key_t) cpl->cookie);

    if (node != NULL && node->data == NGX_THROTTLEKIT_NODE_ORPHAN) {
        ngx_http_throttlekit_orphan_done((ngx_http_throttlekit_orphan_t *) node,
                                         cpl);
        return;
    }

    check = (ngx_http_throttlekit_check_t *) node;

    if (check == NULL) {
        /* the client left, or the guard timer gave up: info level, as
           nginx logs clients that close early */
        ngx_log_error(NGX_LOG_INFO, w->conn->log, 0,
                      "throttlekit: completion %uL dropped: "
                      "its request is gone", cpl->cookie);
        return;
    }

    ngx_http_throttlekit_untrack(check);

    ctx = check->ctx;

    ngx_http_throttlekit_answer(check, cpl);

    if (--ctx->pending == 0) {
        ngx_http_throttlekit_resume(ctx);
    }
}


/* The completion fd is readable: take every completion waiting. */
void
ngx_http_throttlekit_completion_handler(ngx_event_t *rev)
{
    int                             rc;
    size_t                          i, n;
    tk_completion_t                 batch[NGX_THROTTLEKIT_POLL_BATCH];
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (w->handle == 0) {
        return;
    }

    /* Until the queue is empty: the fd is edge-triggered under epoll, and
       a new edge comes only when the queue goes from empty to non-empty. */

    do {
        n = 0;

        rc = w->poll(w->handle, batch, NGX_THROTTLEKIT_POLL_BATCH, &n);

        if (rc != TK_OK) {
            ngx_log_error(NGX_LOG_ALERT, rev->log, 0,
                          "throttlekit: tk_poll failed: %s",
                          w->strerror(rc));
            break;
        }

        for (i = 0; i < n; i++) {
            ngx_http_throttlekit_complete(&batch[i]);
        }

    } while (n == NGX_THROTTLEKIT_POLL_BATCH);

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, rev->log, 0,
                      "throttlekit: watching the completion fd failed");
    }
}


/* The library missed its own timeout: give up the checks still in flight;
   their completions, should they come, are dropped. */
void
ngx_http_throttlekit_guard_handler(ngx_event_t *ev)
{
    ngx_uint_t                     i;
    ngx_http_throttlekit_ctx_t    *ctx = ev->data;
    ngx_http_throttlekit_check_t  *check;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (!check->in_tree) {
            continue;
        }

        if (check->admit) {
            ngx_http_throttlekit_orphan(check);

        } else {
            ngx_http_throttlekit_untrack(check);
        }

        check->state = NGX_THROTTLEKIT_FAILED;

        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "throttlekit: policy \"%V\": no completion within "
                      "%M ms", &check->policy, ngx_http_throttlekit_guard_ms());
    }

    ctx->pending = 0;

    ngx_http_throttlekit_resume(ctx);
}


/* The status the request ends with, as $status says it. */
static ngx_uint_t
ngx_http_throttlekit_final_status(ngx_http_request_t *r)
{
    return r->err_status ? r->err_status : r->headers_out.status;
}


/*
 * The request's pool goes away, however the request ended: none of its
 * checks may stay findable, and every slot it holds goes back (dropped when
 * the response is a 5xx). An admission still in flight becomes an orphan.
 */
void
ngx_http_throttlekit_cleanup(void *data)
{
    ngx_http_throttlekit_ctx_t  *ctx = data;

    int                            dropped;
    ngx_uint_t                     i;
    ngx_http_throttlekit_check_t  *check;

    dropped = (ngx_http_throttlekit_final_status(ctx->request) >= 500);

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (check->in_tree) {

            if (check->admit) {
                ngx_http_throttlekit_orphan(check);

            } else {
                ngx_http_throttlekit_untrack(check);
            }

            continue;
        }

        if (check->admit && check->state == NGX_THROTTLEKIT_ALLOWED
            && check->lease[0] != '\0')
        {
            ngx_http_throttlekit_release(ctx->request->connection->log,
                                         (const char *) check->policy.data,
                                         (const char *) check->key,
                                         check->lease, dropped);
            check->lease[0] = '\0';
        }
    }

    if (ctx->guard.timer_set) {
        ngx_del_timer(&ctx->guard);
    }
}
