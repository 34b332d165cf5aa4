/*
 * ngx_http_throttlekit_status.c: the per-policy counters every worker adds
 * to in shared memory (the "throttlekit_status" zone, kept across reloads),
 * and throttlekit_status_json, the location that shows them as JSON.
 */

#include "ngx_http_throttlekit.h"


static ngx_int_t ngx_http_throttlekit_status_handler(ngx_http_request_t *r);


/* The size of a status zone of n policies. */
#define ngx_http_throttlekit_zone_size(n)                                     \
    (sizeof(ngx_http_throttlekit_zone_t)                                      \
     + (n) * sizeof(ngx_http_throttlekit_counters_t))


/*
 * The status zone's counters for this configuration, allocated in the
 * zone's slab pool. A zone nginx keeps from the previous configuration (a
 * reload with the same zone size) passes its counters as data: the policies
 * both configurations name keep their counts, the others start at 0, and the
 * old counters are freed (a draining old worker's last counts may be lost).
 */
static ngx_int_t
ngx_http_throttlekit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_str_t                         *name;
    ngx_uint_t                         i, j, k;
    ngx_slab_pool_t                   *shpool;
    ngx_http_throttlekit_zone_t       *zone, *old = data;
    ngx_http_throttlekit_counters_t   *c;
    ngx_http_throttlekit_main_conf_t  *mcf = shm_zone->data;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    zone = ngx_slab_alloc(shpool,
                          ngx_http_throttlekit_zone_size(mcf->counted.nelts));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone, ngx_http_throttlekit_zone_size(mcf->counted.nelts));

    name = mcf->counted.elts;
    zone->n = mcf->counted.nelts;

    for (i = 0; i < zone->n; i++) {
        c = &zone->policy[i];
        c->len = ngx_min(name[i].len, NGX_THROTTLEKIT_NAME_LEN);
        ngx_memcpy(c->name, name[i].data, c->len);

        for (j = 0; old && j < old->n; j++) {
            if (old->policy[j].len == c->len
                && ngx_memcmp(old->policy[j].name, c->name, c->len) == 0)
            {
                for (k = 0; k < NGX_THROTTLEKIT_COUNTERS; k++) {
                    c->count[k] = old->policy[j].count[k];
                }

                break;
            }
        }
    }

    if (old) {
        ngx_slab_free(shpool, old);
    }

    shpool->data = zone;
    shm_zone->data = zone;

    return NGX_OK;
}


/* The shared memory of the counters that throttlekit_status_json shows:
   every worker adds to it. */
ngx_int_t
ngx_http_throttlekit_add_zone(ngx_conf_t *cf,
    ngx_http_throttlekit_main_conf_t *mcf)
{
    size_t           size;
    ngx_shm_zone_t  *shm_zone;

    static ngx_str_t  zone_name = ngx_string("throttlekit_status");

    /* the slab pool's own pages, and room for the next configuration's
       counters beside these while a reload runs */
    size = 8 * 4096
           + 2 * ngx_align(ngx_http_throttlekit_zone_size(mcf->counted.nelts),
                           4096);

    shm_zone = ngx_shared_memory_add(cf, &zone_name, size,
                                     &ngx_http_throttlekit_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_throttlekit_init_zone;
    shm_zone->data = mcf;

    mcf->status_zone = shm_zone;

    return NGX_OK;
}


/*
 * Adds a decided request's checks to the status zone's counters of their
 * policies: passed (allowed), rejected (denied), rejected_dry_run (denied
 * under throttlekit_dry_run, or a shadow policy's denial), errors (no
 * decision: the fail mode applied), and local (answered from the worker's
 * two-tier credits or cached denial, whichever the answer).
 */
void
ngx_http_throttlekit_count(ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_uint_t                         i, n;
    ngx_http_throttlekit_zone_t       *zone;
    ngx_http_throttlekit_check_t      *check;
    ngx_http_throttlekit_counters_t   *c;
    ngx_http_throttlekit_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(ctx->request,
                                        ngx_http_throttlekit_module);

    if (mcf->status_zone == NULL) {
        return;
    }

    zone = mcf->status_zone->data;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        if (check->state == NGX_THROTTLEKIT_SKIPPED
            || check->counter >= zone->n)
        {
            continue;
        }

        c = &zone->policy[check->counter];

        switch (check->state) {

        case NGX_THROTTLEKIT_ALLOWED:
            n = (check->decision.flags & TK_DECISION_SHADOW)
                ? NGX_THROTTLEKIT_DRY_RUN_N : NGX_THROTTLEKIT_PASSED_N;
            break;

        case NGX_THROTTLEKIT_DENIED:
            n = ctx->dry_run ? NGX_THROTTLEKIT_DRY_RUN_N
                             : NGX_THROTTLEKIT_REJECTED_N;
            break;

        default: /* NGX_THROTTLEKIT_FAILED */
            n = NGX_THROTTLEKIT_ERRORS_N;
            break;
        }

        (void) ngx_atomic_fetch_add(&c->count[n], 1);

        if (n != NGX_THROTTLEKIT_ERRORS_N
            && (check->decision.flags & TK_DECISION_LOCAL))
        {
            (void) ngx_atomic_fetch_add(&c->count[NGX_THROTTLEKIT_LOCAL_N],
                                        1);
        }
    }
}


char *
ngx_http_throttlekit_status_json(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_throttlekit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_throttlekit_module);
    mcf->status_json = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_throttlekit_status_handler;

    return NGX_CONF_OK;
}


/* The length of the JSON of n policies, at most. */
static size_t
ngx_http_throttlekit_status_len(ngx_str_t *name, ngx_uint_t n)
{
    size_t      len;
    ngx_uint_t  i;

    len = sizeof("{\"policies\":{}}\n") - 1;

    for (i = 0; i < n; i++) {
        len += sizeof("\"\":{},") - 1
               + name[i].len + ngx_escape_json(NULL, name[i].data, name[i].len)
               + NGX_THROTTLEKIT_COUNTERS
                 * (sizeof("\"rejected_dry_run\":,") - 1 + NGX_ATOMIC_T_LEN);
    }

    return len;
}


/* Writes the JSON of the zone's first n policies at p; returns its end. */
static u_char *
ngx_http_throttlekit_status_write(u_char *p, ngx_http_throttlekit_zone_t *zone,
    ngx_str_t *name, ngx_uint_t n)
{
    ngx_uint_t                        i, k;
    ngx_http_throttlekit_counters_t  *c;

    static const char  *fields[NGX_THROTTLEKIT_COUNTERS] = {
        "passed", "rejected", "rejected_dry_run", "local", "errors"
    };

    p = ngx_cpymem(p, "{\"policies\":{", sizeof("{\"policies\":{") - 1);

    for (i = 0; i < n; i++) {
        c = &zone->policy[i];

        if (i) {
            *p++ = ',';
        }

        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, name[i].data, name[i].len);
        p = ngx_cpymem(p, "\":{", 3);

        for (k = 0; k < NGX_THROTTLEKIT_COUNTERS; k++) {
            p = ngx_sprintf(p, "%s\"%s\":%uA", k ? "," : "", fields[k],
                            c->count[k]);
        }

        *p++ = '}';
    }

    return ngx_cpymem(p, "}}\n", 3);
}


/* Sends the buffer b as the response: 200, application/json. */
static ngx_int_t
ngx_http_throttlekit_status_send(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The status zone's counters as JSON, e.g.
 *
 *     {"policies":{"api":{"passed":5,"rejected":1,"rejected_dry_run":0,
 *      "local":0,"errors":0}}}
 *
 * one member per policy the configuration's rules name, in order first
 * seen, counted by every worker since the zone was created.
 */
static ngx_int_t
ngx_http_throttlekit_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_buf_t                         *b;
    ngx_str_t                         *name;
    ngx_uint_t                         n;
    ngx_http_throttlekit_zone_t       *zone;
    ngx_http_throttlekit_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_throttlekit_module);

    zone = mcf->status_zone ? mcf->status_zone->data : NULL;
    n = zone ? ngx_min(zone->n, mcf->counted.nelts) : 0;
    name = mcf->counted.elts;

    b = ngx_create_temp_buf(r->pool, ngx_http_throttlekit_status_len(name, n));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_throttlekit_status_write(b->last, zone, name, n);

    return ngx_http_throttlekit_status_send(r, b);
}
