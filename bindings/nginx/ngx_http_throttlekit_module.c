/*
 * ngx_http_throttlekit_module: ThrottleKit rate limits in the access phase.
 *
 * How it fits together (README.md documents the directives):
 *
 *   - The master reads the configuration: rules, keys, the door (a Redis URL
 *     and the policy file's text, a service target, or the policy file's text
 *     alone for the embedded engine) and its options. It
 *     never touches libthrottlekit: once a process has started the library's
 *     Go core, its forked children cannot use it (c-abi.md, "Fork").
 *
 *   - Each worker dlopen()s libthrottlekit in init_process, opens one handle
 *     and watches the handle's completion fd in its event loop through an
 *     ngx_connection_t (around a duplicate of the fd, so that nginx closes
 *     its own copy as it closes any connection). exit_process undoes both.
 *
 *   - In the access phase a request submits its rules' checks and returns
 *     NGX_AGAIN: several rules as one tk_check_all_async, so that a request
 *     one rule rejects spends nothing of the others (one tk_check_async per
 *     rule when the keys span Redis Cluster slots, or with an older library).
 *     Each check carries a cookie: a counter, never a
 *     pointer, found in a per-worker red-black tree whose nodes live in the
 *     request's pool. The pool's cleanup handler takes the request's nodes
 *     out of the tree, so the completion of a request that is gone (the
 *     client hung up) finds nothing and is dropped.
 *
 *   - When a request has all its answers (or its guard timer fires, should
 *     the library miss its own timeout), its verdict is computed and its
 *     phases run again from this module's access handler, which now returns
 *     the verdict.
 *
 *   - A header filter adds the IETF RateLimit-Policy and RateLimit fields,
 *     and Retry-After on a rejection; two variables expose the outcome.
 *
 *   - throttlekit_concurrency rules admit (tk_admit_async) beside the checks,
 *     with cookies from the same counter; an allowed admission's lease id
 *     arrives in its completion. The pool cleanup releases every lease the
 *     request holds (tk_release_async, fire and forget, dropped on a 5xx), so
 *     that no way a request ends (a client that hangs up, an error page, a
 *     subrequest, which never runs the access phase) keeps a slot. An
 *     admission still in flight when its request goes becomes an orphan in
 *     the tree, allocated outside the pool: should it be allowed, its
 *     completion releases the lease at once. The handle renews the leases it
 *     issued (tk_options_t.lease_heartbeat), so a long request keeps its slot.
 *
 * Where things are (ngx_http_throttlekit.h holds the shared types):
 *
 *   ngx_http_throttlekit_module.c       the two modules, their directives,
 *                                       the postconfiguration that installs
 *                                       the access handler and the filter
 *   ngx_http_throttlekit_conf.c         the main and location settings, the
 *                                       doors (redis, service, memory)
 *   ngx_http_throttlekit_rules.c        a rule: "throttlekit" parsed; the
 *                                       key and cost a request sends
 *   ngx_http_throttlekit_load.c         a worker's library, handle and
 *                                       completion fd: init and exit_process
 *   ngx_http_throttlekit_access.c       the access phase: a request's
 *                                       context, its checks submitted
 *   ngx_http_throttlekit_verdict.c      the verdict and outcome of the answers
 *   ngx_http_throttlekit_async.c        checks in flight: the cookie tree,
 *                                       completions, the guard timer, cleanup
 *   ngx_http_throttlekit_concurrency.c  throttlekit_concurrency: admissions,
 *                                       releases, orphans
 *   ngx_http_throttlekit_headers.c      RateLimit, RateLimit-Policy, the
 *                                       triple and legacy fields, Retry-After
 *   ngx_http_throttlekit_status.c       throttlekit_status_json and the
 *                                       counters in shared memory
 *   ngx_http_throttlekit_variables.c    $throttlekit_status and
 *                                       $throttlekit_remaining
 */

#include "ngx_http_throttlekit.h"


static void *ngx_throttlekit_create_conf(ngx_cycle_t *cycle);
static char *ngx_throttlekit_library_path(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_throttlekit_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_throttlekit_fail_modes[] = {
    { ngx_string("open"), NGX_THROTTLEKIT_FAIL_OPEN },
    { ngx_string("closed"), NGX_THROTTLEKIT_FAIL_CLOSED },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_throttlekit_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_throttlekit_status_post = {
    ngx_http_throttlekit_status_code
};


static ngx_conf_post_t  ngx_http_throttlekit_conf_path_post = {
    ngx_http_throttlekit_conf_path
};


static ngx_conf_enum_t  ngx_http_throttlekit_header_styles[] = {
    { ngx_string("off"), NGX_THROTTLEKIT_HEADERS_OFF },
    { ngx_string("on"), NGX_THROTTLEKIT_HEADERS_IETF },
    { ngx_string("ietf"), NGX_THROTTLEKIT_HEADERS_IETF },
    { ngx_string("triple"), NGX_THROTTLEKIT_HEADERS_TRIPLE },
    { ngx_string("legacy"), NGX_THROTTLEKIT_HEADERS_LEGACY },
    { ngx_string("all"), NGX_THROTTLEKIT_HEADERS_ALL },
    { ngx_null_string, 0 }
};


/* ---- The top-level module: throttlekit_library ------------------------- */

static ngx_conf_post_t  ngx_throttlekit_library_post = {
    ngx_throttlekit_library_path
};


static ngx_command_t  ngx_throttlekit_commands[] = {

    { ngx_string("throttlekit_library"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_throttlekit_conf_t, library),
      &ngx_throttlekit_library_post },

      ngx_null_command
};


static ngx_core_module_t  ngx_throttlekit_module_ctx = {
    ngx_string("throttlekit"),
    ngx_throttlekit_create_conf,
    NULL
};


ngx_module_t  ngx_throttlekit_module = {
    NGX_MODULE_V1,
    &ngx_throttlekit_module_ctx,           /* module context */
    ngx_throttlekit_commands,              /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_throttlekit_create_conf(ngx_cycle_t *cycle)
{
    /* zeroed: no library set */
    return ngx_pcalloc(cycle->pool, sizeof(ngx_throttlekit_conf_t));
}


/* A path with a '/' is relative to nginx's prefix, as load_module's is; a
   bare file name is left to the dynamic linker's search. */
static char *
ngx_throttlekit_library_path(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *path = data;

    if (path->len == 0) {
        return "needs a path";
    }

    if (ngx_strlchr(path->data, path->data + path->len, '/') == NULL) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ---- The HTTP module ---------------------------------------------------- */

static ngx_command_t  ngx_http_throttlekit_commands[] = {

    { ngx_string("throttlekit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_throttlekit_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_service"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_throttlekit_service,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_throttlekit_memory,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, timeout),
      NULL },

    { ngx_string("throttlekit_namespace"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, key_namespace),
      NULL },

    { ngx_string("throttlekit_tls_ca"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, tls_ca),
      &ngx_http_throttlekit_conf_path_post },

    { ngx_string("throttlekit_tls_cert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, tls_cert),
      &ngx_http_throttlekit_conf_path_post },

    { ngx_string("throttlekit_tls_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, tls_key),
      &ngx_http_throttlekit_conf_path_post },

    { ngx_string("throttlekit_auth_token"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_main_conf_t, auth_token),
      NULL },

    { ngx_string("throttlekit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_throttlekit_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_throttlekit_concurrency,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_loc_conf_t, status),
      &ngx_http_throttlekit_status_post },

    { ngx_string("throttlekit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_loc_conf_t, headers),
      &ngx_http_throttlekit_header_styles },

    { ngx_string("throttlekit_status_json"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_throttlekit_status_json,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("throttlekit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_loc_conf_t, dry_run),
      NULL },

    { ngx_string("throttlekit_fail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_loc_conf_t, fail),
      &ngx_http_throttlekit_fail_modes },

    { ngx_string("throttlekit_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_throttlekit_loc_conf_t, log_level),
      &ngx_http_throttlekit_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_throttlekit_module_ctx = {
    ngx_http_throttlekit_add_variables,    /* preconfiguration */
    ngx_http_throttlekit_init,             /* postconfiguration */

    ngx_http_throttlekit_create_main_conf, /* create main configuration */
    ngx_http_throttlekit_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_throttlekit_create_loc_conf,  /* create location configuration */
    ngx_http_throttlekit_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_throttlekit_module = {
    NGX_MODULE_V1,
    &ngx_http_throttlekit_module_ctx,      /* module context */
    ngx_http_throttlekit_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_throttlekit_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_throttlekit_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* Postconfiguration: a rule needs a door; then the status zone, when some
   location shows it, and the access handler and header filter in place. */
static ngx_int_t
ngx_http_throttlekit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_throttlekit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_throttlekit_module);

    if (mcf->door == NGX_THROTTLEKIT_DOOR_NONE) {

        if (mcf->rule_file) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"throttlekit\" or \"throttlekit_concurrency\" "
                          "in %s:%ui needs "
                          "\"throttlekit_redis\", \"throttlekit_service\" or "
                          "\"throttlekit_memory\" in the http block",
                          mcf->rule_file, mcf->rule_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* the engine has no network: say so rather than ignore them silently */
    if (mcf->door == NGX_THROTTLEKIT_DOOR_MEMORY
        && (mcf->key_namespace.len || mcf->tls_ca.len || mcf->tls_cert.len
            || mcf->tls_key.len || mcf->auth_token.len))
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "throttlekit_memory ignores throttlekit_namespace, "
                      "the TLS directives and throttlekit_auth_token");
    }

    if (mcf->status_json && mcf->counted.nelts
        && ngx_http_throttlekit_add_zone(cf, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_throttlekit_handler;

    ngx_http_throttlekit_headers_init();

    return NGX_OK;
}
