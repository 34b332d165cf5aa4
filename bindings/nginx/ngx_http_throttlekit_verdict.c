/*
 * ngx_http_throttlekit_verdict.c: what a request's answers add up to: the
 * verdict the access phase returns (a pass, or throttlekit_status), the
 * outcome $throttlekit_status shows, the longest Retry-After, and the log
 * line of a rejection.
 */

#include "ngx_http_throttlekit.h"


/* What a request's checks answered. */
typedef struct {
    ngx_uint_t                     answered;   /* all but SKIPPED */
    ngx_uint_t                     denied;
    ngx_uint_t                     shadowed;   /* a shadow policy's denial */
    ngx_uint_t                     failed;
    ngx_http_throttlekit_check_t  *denier;     /* the policy a log names */
} ngx_http_throttlekit_tally_t;


/* Counts the answers, and keeps the longest wait among the denials. */
static void
ngx_http_throttlekit_tally(ngx_http_throttlekit_ctx_t *ctx,
    ngx_http_throttlekit_tally_t *t)
{
    ngx_uint_t                     i;
    ngx_http_throttlekit_check_t  *check;

    ngx_memzero(t, sizeof(ngx_http_throttlekit_tally_t));
    ctx->retry_after_ms = 0;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        switch (check->state) {

        case NGX_THROTTLEKIT_ALLOWED:
            t->answered++;

            if (check->decision.flags & TK_DECISION_SHADOW) {
                /* a shadow policy (shadow: true) denied: admitted, shown
                   as a dry run */
                t->shadowed++;

                if (t->denier == NULL) {
                    t->denier = check;
                }
            }

            break;

        case NGX_THROTTLEKIT_DENIED:
            t->answered++;
            t->denied++;

            /* a real denial names the policy, not a shadow */
            if (t->denier == NULL
                || t->denier->state == NGX_THROTTLEKIT_ALLOWED)
            {
                t->denier = check;
            }

            if (check->decision.retry_after_ms > ctx->retry_after_ms) {
                ctx->retry_after_ms = check->decision.retry_after_ms;
            }

            break;

        case NGX_THROTTLEKIT_FAILED:
            t->answered++;
            t->failed++;
            break;

        default: /* NGX_THROTTLEKIT_SKIPPED */
            break;
        }
    }
}


/* The outcome and the verdict of a request that some rule denied, for
   real or in a shadow policy, logged at throttlekit_log_level. */
static void
ngx_http_throttlekit_judge_denial(ngx_http_throttlekit_ctx_t *ctx,
    ngx_http_throttlekit_tally_t *t)
{
    if (!t->denied) {
        ctx->outcome = NGX_THROTTLEKIT_DRY_RUN;

        ngx_log_error(ctx->log_level, ctx->request->connection->log, 0,
                      "throttlekit: would be rejected by shadow policy \"%V\" "
                      "(%ui of %ui rules)", &t->denier->policy, t->shadowed,
                      ctx->nchecks);
        return;
    }

    if (ctx->dry_run) {
        ctx->outcome = NGX_THROTTLEKIT_DRY_RUN;

    } else {
        ctx->outcome = NGX_THROTTLEKIT_REJECTED;
        ctx->verdict = ctx->status;
    }

    ngx_log_error(ctx->log_level, ctx->request->connection->log, 0,
                  "throttlekit: %s by policy \"%V\" (%ui of %ui rules "
                  "denied), retry after %L ms",
                  ctx->dry_run ? "would be rejected (dry run)"
                               : "rejected",
                  &t->denier->policy, t->denied, ctx->nchecks,
                  ctx->retry_after_ms);
}


/* The verdict and the outcome, once every check has its answer. */
void
ngx_http_throttlekit_decide(ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_http_throttlekit_tally_t  t;

    ngx_http_throttlekit_tally(ctx, &t);

    ngx_http_throttlekit_count(ctx);

    ctx->verdict = NGX_DECLINED;         /* a pass: no opinion */

    if (t.denied || t.shadowed) {
        ngx_http_throttlekit_judge_denial(ctx, &t);

    } else if (t.failed) {
        ctx->outcome = NGX_THROTTLEKIT_ERROR;

        if (ctx->fail_closed && !ctx->dry_run) {
            ctx->verdict = ctx->status;
        }

    } else if (t.answered) {
        ctx->outcome = NGX_THROTTLEKIT_PASSED;

    } else {
        ctx->outcome = NGX_THROTTLEKIT_NONE;
    }

    ctx->decided = 1;
}
