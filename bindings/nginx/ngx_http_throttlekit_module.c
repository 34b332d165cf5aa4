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
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <dlfcn.h>

#include "ngx_http_throttlekit_abi.h"


/* The library the worker asks the dynamic linker for by default. */
#define NGX_THROTTLEKIT_DEFAULT_LIB    "libthrottlekit.so.0"

/* How long after the library's own timeout the module gives up a check. */
#define NGX_THROTTLEKIT_GUARD_SLACK    1000

/* Completions taken per tk_poll call. */
#define NGX_THROTTLEKIT_POLL_BATCH     64

#define NGX_THROTTLEKIT_DOOR_NONE      0
#define NGX_THROTTLEKIT_DOOR_REDIS     1
#define NGX_THROTTLEKIT_DOOR_SERVICE   2
#define NGX_THROTTLEKIT_DOOR_MEMORY    3    /* the embedded engine, per worker */

#define NGX_THROTTLEKIT_FAIL_OPEN      0
#define NGX_THROTTLEKIT_FAIL_CLOSED    1

/* The state of one check: one rule applied to one request. */
#define NGX_THROTTLEKIT_SKIPPED        0    /* empty key: the rule is idle */
#define NGX_THROTTLEKIT_PENDING        1    /* waiting for its completion */
#define NGX_THROTTLEKIT_ALLOWED        2
#define NGX_THROTTLEKIT_DENIED         3
#define NGX_THROTTLEKIT_FAILED         4    /* no decision: fail mode applies */

/* The outcome of a request, as $throttlekit_status shows it. */
#define NGX_THROTTLEKIT_NONE           0    /* no rule applied: empty */
#define NGX_THROTTLEKIT_PASSED         1
#define NGX_THROTTLEKIT_REJECTED       2
#define NGX_THROTTLEKIT_DRY_RUN        3    /* REJECTED_DRY_RUN */
#define NGX_THROTTLEKIT_ERROR          4


/* throttlekit_headers: the styles of docs/headers.md, as bits. */
#define NGX_THROTTLEKIT_HEADERS_OFF     0
#define NGX_THROTTLEKIT_HEADERS_IETF    1    /* RateLimit, RateLimit-Policy */
#define NGX_THROTTLEKIT_HEADERS_TRIPLE  2    /* RateLimit-Limit/-Remaining/-Reset */
#define NGX_THROTTLEKIT_HEADERS_LEGACY  4    /* X-RateLimit-* */
#define NGX_THROTTLEKIT_HEADERS_ALL     7

/* The counters of one policy in the status zone (throttlekit_status_json). */
#define NGX_THROTTLEKIT_COUNTERS       5
#define NGX_THROTTLEKIT_NAME_LEN       128  /* of a name kept in the zone */

typedef struct {
    ngx_atomic_t                   count[NGX_THROTTLEKIT_COUNTERS];
    size_t                         len;
    u_char                         name[NGX_THROTTLEKIT_NAME_LEN];
} ngx_http_throttlekit_counters_t;

/* The status zone: a header and one entry per policy, in the order of
   ngx_http_throttlekit_main_conf_t.counted. */
typedef struct {
    ngx_uint_t                       n;
    ngx_http_throttlekit_counters_t  policy[1];
} ngx_http_throttlekit_zone_t;

#define NGX_THROTTLEKIT_PASSED_N       0
#define NGX_THROTTLEKIT_REJECTED_N     1
#define NGX_THROTTLEKIT_DRY_RUN_N      2
#define NGX_THROTTLEKIT_LOCAL_N        3
#define NGX_THROTTLEKIT_ERRORS_N       4


/* ---- Configuration ------------------------------------------------------ */

/* ngx_throttlekit_module: the settings of nginx.conf's top level. */
typedef struct {
    ngx_str_t                      library;    /* empty: not set */
} ngx_throttlekit_conf_t;

/* throttlekit <policy> key=<value> [cost=<value>]; */
typedef struct {
    ngx_str_t                      policy;     /* NUL-terminated */
    ngx_http_complex_value_t       key;
    ngx_http_complex_value_t      *cost;       /* NULL: a cost of 1 */
    ngx_uint_t                     counter;    /* index in the status zone */
} ngx_http_throttlekit_rule_t;

/* The http block's settings: the door. Strings are NUL-terminated. */
typedef struct {
    ngx_uint_t                     door;
    ngx_str_t                      redis_url;
    ngx_str_t                      policy_file;
    ngx_str_t                      policies;   /* the policy file's text */
    ngx_str_t                      target;
    ngx_msec_t                     timeout;
    ngx_str_t                      key_namespace;
    ngx_str_t                      tls_ca;
    ngx_str_t                      tls_cert;
    ngx_str_t                      tls_key;
    ngx_str_t                      auth_token;

    /* where a "throttlekit" rule was first seen, for a missing door */
    u_char                        *rule_file;
    ngx_uint_t                     rule_line;

    ngx_flag_t                     admits;     /* throttlekit_concurrency seen */

    ngx_array_t                    counted;    /* ngx_str_t: every rule's policy,
                                                  once, in order first seen */
    ngx_flag_t                     status_json; /* throttlekit_status_json seen */
    ngx_shm_zone_t                *status_zone; /* NULL: no counters */
} ngx_http_throttlekit_main_conf_t;

typedef struct {
    ngx_array_t                   *rules;      /* NULL or empty: none */
    ngx_array_t                   *admits;     /* throttlekit_concurrency */
    ngx_uint_t                     status;
    ngx_uint_t                     headers;    /* NGX_THROTTLEKIT_HEADERS_* bits */
    ngx_flag_t                     dry_run;
    ngx_uint_t                     fail;
    ngx_uint_t                     log_level;
} ngx_http_throttlekit_loc_conf_t;


/* ---- Per-worker and per-request state ----------------------------------- */

/* The library in one worker; set up after fork only, in init_process. */
typedef struct {
    void                          *dl;
    tk_version_pt                  version;
    tk_strerror_pt                 strerror;
    tk_open_redis_pt               open_redis;
    tk_open_service_pt             open_service;
    tk_open_memory_pt              open_memory;    /* NULL: an older library */
    tk_free_pt                     free;
    tk_completion_fd_pt            completion_fd;
    tk_check_async_pt              check_async;
    tk_check_async_now_pt          check_async_now; /* NULL: an older library */
    tk_check_all_async_pt          check_all_async; /* NULL: an older library */
    tk_poll_pt                     poll;
    tk_admit_async_pt              admit_async;     /* NULL: an older library */
    tk_release_async_pt            release_async;

    tk_handle_t                    handle;     /* 0: checks cannot run */
    ngx_connection_t              *conn;       /* the completion fd's */
    ngx_msec_t                     timeout;

    ngx_rbtree_t                   inflight;   /* cookie -> check */
    ngx_rbtree_node_t              sentinel;
    ngx_rbtree_key_t               next_cookie;

    char                           why[320];   /* why checks cannot run */
} ngx_http_throttlekit_worker_t;

typedef struct ngx_http_throttlekit_ctx_s  ngx_http_throttlekit_ctx_t;

/* node.data of a tree node: what the node is. */
#define NGX_THROTTLEKIT_NODE_CHECK     0
#define NGX_THROTTLEKIT_NODE_ORPHAN    1

/* The size of a lease id with its NUL, as tk_admission_t holds it. */
#define NGX_THROTTLEKIT_LEASE_LEN      40

/* One rule applied to one request. The tree node comes first: a node
   found in the tree is the check it belongs to. */
typedef struct {
    ngx_rbtree_node_t              node;       /* key: the cookie */
    ngx_http_throttlekit_ctx_t    *ctx;
    ngx_str_t                      policy;
    ngx_uint_t                     counter;    /* index in the status zone */
    ngx_uint_t                     state;
    unsigned                       in_tree:1;
    unsigned                       admit:1;    /* throttlekit_concurrency */
    tk_decision_t                  decision;   /* ALLOWED and DENIED */
    u_char                        *key;        /* admit: as sent, for release */
    char                           lease[NGX_THROTTLEKIT_LEASE_LEN];
                                               /* admit, ALLOWED: "" once
                                                  released */
} ngx_http_throttlekit_check_t;

/* An admission whose request went before its completion came: allocated
   outside any pool, it waits in the tree to release what it may be given. */
typedef struct {
    ngx_rbtree_node_t              node;       /* data: NODE_ORPHAN */
    u_char                        *policy;     /* both point into the */
    u_char                        *key;        /* allocation's tail */
} ngx_http_throttlekit_orphan_t;

struct ngx_http_throttlekit_ctx_s {
    ngx_http_request_t            *request;
    ngx_http_throttlekit_check_t  *checks;
    ngx_uint_t                     nchecks;
    ngx_uint_t                     pending;    /* checks in flight */
    ngx_event_t                    guard;      /* overdue completions */

    ngx_int_t                      verdict;    /* for the access phase */
    ngx_uint_t                     outcome;    /* NGX_THROTTLEKIT_PASSED... */
    int64_t                        retry_after_ms;

    /* the location's settings when the request was checked */
    ngx_uint_t                     status;
    ngx_uint_t                     log_level;
    unsigned                       headers:3;  /* NGX_THROTTLEKIT_HEADERS_* */
    unsigned                       dry_run:1;
    unsigned                       fail_closed:1;

    unsigned                       decided:1;  /* verdict, outcome final */
    unsigned                       judged:1;   /* verdict returned */
};


static void *ngx_throttlekit_create_conf(ngx_cycle_t *cycle);
static void *ngx_http_throttlekit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_throttlekit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_throttlekit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_throttlekit_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_throttlekit_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_throttlekit_init(ngx_conf_t *cf);
static char *ngx_http_throttlekit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_throttlekit_memory(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_throttlekit_service(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_throttlekit_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_throttlekit_concurrency(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_throttlekit_status_code(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_throttlekit_conf_path(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_throttlekit_library_path(ngx_conf_t *cf, void *post,
    void *data);

static ngx_int_t ngx_http_throttlekit_init_process(ngx_cycle_t *cycle);
static void ngx_http_throttlekit_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_http_throttlekit_handler(ngx_http_request_t *r);
static void ngx_http_throttlekit_decide(ngx_http_throttlekit_ctx_t *ctx);
static void ngx_http_throttlekit_completion_handler(ngx_event_t *rev);
static void ngx_http_throttlekit_guard_handler(ngx_event_t *ev);
static void ngx_http_throttlekit_cleanup(void *data);
static ngx_int_t ngx_http_throttlekit_header_filter(ngx_http_request_t *r);
static char *ngx_http_throttlekit_status_json(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_throttlekit_status_handler(ngx_http_request_t *r);


static ngx_http_throttlekit_worker_t  ngx_http_throttlekit_worker;

static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


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


static ngx_str_t  ngx_http_throttlekit_outcomes[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("REJECTED_DRY_RUN"),     /* as $limit_req_status says */
    ngx_string("ERROR")
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


/* ---- Configuration ------------------------------------------------------ */

static void *
ngx_http_throttlekit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_throttlekit_main_conf_t  *mcf;

    /* zeroed: no door, every string empty, no rule seen */
    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_throttlekit_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->timeout = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&mcf->counted, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static char *
ngx_http_throttlekit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_throttlekit_main_conf_t  *mcf = conf;

    ngx_conf_init_msec_value(mcf->timeout, 500);

    /* tk_options_t.timeout_ms is an int32_t; 0 would mean "the default" */
    if (mcf->timeout == 0 || mcf->timeout > 0x7fffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"throttlekit_timeout\" must be from 1ms to 24d");
        return NGX_CONF_ERROR;
    }

    if ((mcf->tls_cert.len == 0) != (mcf->tls_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"throttlekit_tls_cert\" and "
                           "\"throttlekit_tls_key\" go together");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_throttlekit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_throttlekit_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_throttlekit_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->rules = NGX_CONF_UNSET_PTR;
    lcf->admits = NGX_CONF_UNSET_PTR;
    lcf->status = NGX_CONF_UNSET_UINT;
    lcf->headers = NGX_CONF_UNSET_UINT;
    lcf->dry_run = NGX_CONF_UNSET;
    lcf->fail = NGX_CONF_UNSET_UINT;
    lcf->log_level = NGX_CONF_UNSET_UINT;

    return lcf;
}


static char *
ngx_http_throttlekit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_throttlekit_loc_conf_t  *prev = parent;
    ngx_http_throttlekit_loc_conf_t  *conf = child;

    /* as limit_req: a level's rules replace the inherited ones */
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_ptr_value(conf->admits, prev->admits, NULL);

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->headers, prev->headers,
                              NGX_THROTTLEKIT_HEADERS_IETF);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_uint_value(conf->fail, prev->fail,
                              NGX_THROTTLEKIT_FAIL_OPEN);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);

    return NGX_CONF_OK;
}


/* A copy of s ending in a NUL: the library takes C strings. */
static ngx_int_t
ngx_http_throttlekit_cstr(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *s)
{
    dst->data = ngx_pnalloc(pool, s->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s->data, s->len);
    dst->data[s->len] = '\0';
    dst->len = s->len;

    return NGX_OK;
}


/* Reads a whole policy file into a NUL-terminated string. */
static ngx_int_t
ngx_http_throttlekit_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    if (ngx_file_size(&fi) > 16 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" is over 16M", name);
        goto done;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->pool, text->len + 1);
    if (text->data == NULL) {
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, text->data, text->len, 0);
    if (n == NGX_ERROR) {
        goto done;
    }

    if ((size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" changed while read", name);
        goto done;
    }

    text->data[text->len] = '\0';

    if (ngx_strlen(text->data) != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" has a NUL byte", name);
        goto done;
    }

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}


/* The first argument of throttlekit_redis or throttlekit_service, copied
   as a C string; an http block has one door, named by a non-empty value. */
static char *
ngx_http_throttlekit_door_arg(ngx_conf_t *cf,
    ngx_http_throttlekit_main_conf_t *mcf, ngx_str_t *dst, char *empty)
{
    ngx_str_t  *value;

    if (mcf->door != NGX_THROTTLEKIT_DOOR_NONE) {
        return "is duplicate: one throttlekit_redis, throttlekit_service "
               "or throttlekit_memory";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return empty;
    }

    if (ngx_http_throttlekit_cstr(cf->pool, dst, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* throttlekit_redis <url> <policy-file>; */
static char *
ngx_http_throttlekit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_main_conf_t  *mcf = conf;

    char       *rv;
    ngx_str_t  *value;

    rv = ngx_http_throttlekit_door_arg(cf, mcf, &mcf->redis_url,
                                       "needs a Redis URL");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    /* relative to the configuration's prefix; the result ends in a NUL */
    mcf->policy_file = value[2];

    if (ngx_conf_full_name(cf->cycle, &mcf->policy_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_throttlekit_read_file(cf, &mcf->policy_file, &mcf->policies)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf->door = NGX_THROTTLEKIT_DOOR_REDIS;

    return NGX_CONF_OK;
}


/*
 * throttlekit_memory <policy-file>; the embedded engine: the same decisions
 * as the Redis door, but each worker opens its own store, so a limit holds
 * per worker (and starts over when a worker is replaced).
 */
static char *
ngx_http_throttlekit_memory(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_main_conf_t  *mcf = conf;

    ngx_str_t  *value;

    if (mcf->door != NGX_THROTTLEKIT_DOOR_NONE) {
        return "is duplicate: one throttlekit_redis, throttlekit_service "
               "or throttlekit_memory";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs a policy file";
    }

    mcf->policy_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &mcf->policy_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_throttlekit_read_file(cf, &mcf->policy_file, &mcf->policies)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf->door = NGX_THROTTLEKIT_DOOR_MEMORY;

    return NGX_CONF_OK;
}


/* throttlekit_service <host:port>; */
static char *
ngx_http_throttlekit_service(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_main_conf_t  *mcf = conf;

    char  *rv;

    rv = ngx_http_throttlekit_door_arg(cf, mcf, &mcf->target,
                                       "needs a target (host:port)");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    mcf->door = NGX_THROTTLEKIT_DOOR_SERVICE;

    return NGX_CONF_OK;
}


/* Compiles the complex value of "name=<value>", skip being "name=". */
static ngx_int_t
ngx_http_throttlekit_compile(ngx_conf_t *cf, ngx_str_t *arg, size_t skip,
    ngx_http_complex_value_t *cv)
{
    ngx_str_t                          value;
    ngx_http_compile_complex_value_t   ccv;

    value.data = arg->data + skip;
    value.len = arg->len - skip;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value;
    ccv.complex_value = cv;

    return ngx_http_compile_complex_value(&ccv);
}


/* The policy name goes into the RateLimit fields as a structured-field
   string: it must be non-empty printable ASCII. */
static char *
ngx_http_throttlekit_policy_name(ngx_conf_t *cf, ngx_str_t *name)
{
    u_char  *p;

    if (name->len == 0) {
        return "needs a policy name";
    }

    for (p = name->data; p < name->data + name->len; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "policy name \"%V\" is not printable ASCII",
                               name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* cost=<value>: allocated only when given, as most rules have none. */
static ngx_int_t
ngx_http_throttlekit_rule_cost(ngx_conf_t *cf,
    ngx_http_throttlekit_rule_t *rule, ngx_str_t *arg)
{
    rule->cost = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (rule->cost == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_throttlekit_compile(cf, arg, 5, rule->cost);
}


/* The parameters after the policy name: key= once (required), cost= at
   most once; anything else, an empty value included, is an error. */
static char *
ngx_http_throttlekit_rule_params(ngx_conf_t *cf,
    ngx_http_throttlekit_rule_t *rule, ngx_str_t *args, ngx_uint_t nargs)
{
    ngx_uint_t  i, has_key;

    has_key = 0;

    for (i = 0; i < nargs; i++) {

        if (ngx_strncmp(args[i].data, "key=", 4) == 0
            && args[i].len > 4 && !has_key)
        {
            if (ngx_http_throttlekit_compile(cf, &args[i], 4, &rule->key)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            has_key = 1;
            continue;
        }

        if (ngx_strncmp(args[i].data, "cost=", 5) == 0
            && args[i].len > 5 && rule->cost == NULL)
        {
            if (ngx_http_throttlekit_rule_cost(cf, rule, &args[i]) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid or repeated parameter \"%V\"", &args[i]);
        return NGX_CONF_ERROR;
    }

    if (!has_key) {
        return "needs key=<value>";
    }

    return NGX_CONF_OK;
}


/* Remembers where the first rule is, so that ngx_http_throttlekit_init
   can point at it when the http block names no door. */
static void
ngx_http_throttlekit_note_rule(ngx_conf_t *cf)
{
    ngx_http_throttlekit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_throttlekit_module);

    if (mcf->rule_file == NULL) {
        mcf->rule_file = cf->conf_file->file.name.data;
        mcf->rule_line = cf->conf_file->line;
    }
}


/* The rule's policy's index among the http block's policies (the status
   zone's entries), added when first seen. */
static ngx_int_t
ngx_http_throttlekit_counter(ngx_conf_t *cf, ngx_http_throttlekit_rule_t *rule)
{
    ngx_str_t                         *name;
    ngx_uint_t                         i;
    ngx_http_throttlekit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_throttlekit_module);

    name = mcf->counted.elts;

    for (i = 0; i < mcf->counted.nelts; i++) {
        if (name[i].len == rule->policy.len
            && ngx_strncmp(name[i].data, rule->policy.data, name[i].len) == 0)
        {
            rule->counter = i;
            return NGX_OK;
        }
    }

    name = ngx_array_push(&mcf->counted);
    if (name == NULL) {
        return NGX_ERROR;
    }

    *name = rule->policy;
    rule->counter = i;

    return NGX_OK;
}


/* Adds the rule "<policy> key=<value> [cost=<value>]" to a level's list. */
static char *
ngx_http_throttlekit_add_rule(ngx_conf_t *cf, ngx_array_t *rules,
    ngx_str_t *value, ngx_uint_t nvalues)
{
    char                         *rv;
    ngx_http_throttlekit_rule_t  *rule;

    rv = ngx_http_throttlekit_policy_name(cf, &value[1]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rule = ngx_array_push(rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_throttlekit_rule_t));

    if (ngx_http_throttlekit_cstr(cf->pool, &rule->policy, &value[1])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_throttlekit_rule_params(cf, rule, &value[2], nvalues - 2);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_throttlekit_counter(cf, rule) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_throttlekit_note_rule(cf);

    return NGX_CONF_OK;
}


/* "<policy> key=<value> [cost=<value>]" or "off", into a level's list. */
static char *
ngx_http_throttlekit_rule_list(ngx_conf_t *cf, ngx_array_t **rules)
{
    ngx_str_t   *value;
    ngx_uint_t   off;

    value = cf->args->elts;
    off = (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0);

    if (*rules == NGX_CONF_UNSET_PTR) {
        *rules = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_throttlekit_rule_t));
        if (*rules == NULL) {
            return NGX_CONF_ERROR;
        }

        if (off) {
            return NGX_CONF_OK;          /* an empty list: no rule here */
        }

    } else if (off || (*rules)->nelts == 0) {
        return "is duplicate: \"off\" and rules on one level";
    }

    return ngx_http_throttlekit_add_rule(cf, *rules, value, cf->args->nelts);
}


/* throttlekit <policy> key=<value> [cost=<value>];  or  throttlekit off; */
static char *
ngx_http_throttlekit_rule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_loc_conf_t  *lcf = conf;

    return ngx_http_throttlekit_rule_list(cf, &lcf->rules);
}


/*
 * throttlekit_concurrency <policy> key=<value> [cost=<value>];  or  off;
 * a concurrency policy's slot for the request's whole life. As with
 * "throttlekit", a level's rules replace the inherited ones.
 */
static char *
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


static char *
ngx_http_throttlekit_status_code(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *code = data;

    if (*code < 400 || *code > 599) {
        return "must be between 400 and 599";
    }

    return NGX_CONF_OK;
}


/* A file named by the configuration: relative to its prefix, as nginx's own
   ssl_certificate is. */
static char *
ngx_http_throttlekit_conf_path(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *path = data;

    if (path->len == 0) {
        return "needs a file name";
    }

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


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
static ngx_int_t
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

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_throttlekit_header_filter;

    return NGX_OK;
}


/* ---- Worker start and exit ---------------------------------------------- */

#define ngx_http_throttlekit_why(w, ...)                                      \
    ngx_snprintf((u_char *) (w)->why, sizeof((w)->why) - 1, __VA_ARGS__)


/* Loads the library and resolves its functions; on failure, sets why. */
static ngx_int_t
ngx_http_throttlekit_load(ngx_cycle_t *cycle,
    ngx_http_throttlekit_worker_t *w)
{
    const char              *path, *name;
    ngx_throttlekit_conf_t  *tcf;

    tcf = (ngx_throttlekit_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                                  ngx_throttlekit_module);

    if (tcf && tcf->library.len) {
        path = (const char *) tcf->library.data;

    } else {
        /* nginx empties its workers' environment: THROTTLEKIT_LIB is seen
           only if nginx.conf says "env THROTTLEKIT_LIB;" */
        path = getenv("THROTTLEKIT_LIB");

        if (path == NULL || path[0] == '\0') {
            path = NGX_THROTTLEKIT_DEFAULT_LIB;
        }
    }

    w->dl = dlopen(path, RTLD_NOW|RTLD_LOCAL);
    if (w->dl == NULL) {
        ngx_http_throttlekit_why(w, "dlopen(\"%s\") failed: %s%Z",
                                 path, dlerror());
        return NGX_ERROR;
    }

#define ngx_http_throttlekit_resolve(field, symbol)                           \
    name = symbol;                                                            \
    *(void **) &w->field = dlsym(w->dl, name);                                \
    if (w->field == NULL) {                                                   \
        goto missing;                                                         \
    }

    ngx_http_throttlekit_resolve(version, "tk_version");
    ngx_http_throttlekit_resolve(strerror, "tk_strerror");
    ngx_http_throttlekit_resolve(open_redis, "tk_open_redis");
    ngx_http_throttlekit_resolve(open_service, "tk_open_service");
    ngx_http_throttlekit_resolve(free, "tk_free");

    /* optional: a library older than tk_open_memory serves the other doors */
    *(void **) &w->open_memory = dlsym(w->dl, "tk_open_memory");

    ngx_http_throttlekit_resolve(completion_fd, "tk_completion_fd");
    ngx_http_throttlekit_resolve(check_async, "tk_check_async");
    ngx_http_throttlekit_resolve(poll, "tk_poll");

    /* optional: without it, every check waits for its completion, even one
       the library answers before the call returns */
    *(void **) &w->check_async_now = dlsym(w->dl, "tk_check_async_now");

    /* optional: without it, a location's rules are checked one by one */
    *(void **) &w->check_all_async = dlsym(w->dl, "tk_check_all_async");

    /* optional: without both, throttlekit_concurrency cannot admit */
    *(void **) &w->admit_async = dlsym(w->dl, "tk_admit_async");
    *(void **) &w->release_async = dlsym(w->dl, "tk_release_async");

    if (w->admit_async == NULL || w->release_async == NULL) {
        w->admit_async = NULL;
        w->release_async = NULL;
    }

#undef ngx_http_throttlekit_resolve

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "throttlekit: loaded \"%s\", library version %s",
                  path, w->version());

    return NGX_OK;

missing:

    ngx_http_throttlekit_why(w, "\"%s\" has no %s: a libthrottlekit with "
                             "asynchronous checks is needed%Z", path, name);

    /* nothing of the library has run: unloading it is safe */
    dlclose(w->dl);
    w->dl = NULL;

    return NGX_ERROR;
}


/*
 * The Go runtime's rule for its hosts (include/throttlekit.h, "Signals"):
 * every signal handler of the process uses SA_ONSTACK, since a signal may be
 * delivered to one of the runtime's threads, whose stacks are small. nginx
 * installed its handlers in the master without the flag; it is added here,
 * in the worker, before the runtime starts (it changes nothing for the
 * worker's own thread, which has no alternate stack).
 */
static void
ngx_http_throttlekit_onstack_signals(ngx_log_t *log)
{
    int               signo;
    struct sigaction  sa;

    for (signo = 1; signo < NSIG; signo++) {

        if (sigaction(signo, NULL, &sa) == -1
            || sa.sa_handler == SIG_DFL
            || sa.sa_handler == SIG_IGN
            || (sa.sa_flags & SA_ONSTACK))
        {
            continue;
        }

        sa.sa_flags |= SA_ONSTACK;

        if (sigaction(signo, &sa, NULL) == -1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "throttlekit: sigaction(%d) failed", signo);
        }
    }
}


/* The module declares tk_options_t itself, so it initialises it itself
   (tk_options_init writes the library's size, which may be larger). */
static void
ngx_http_throttlekit_options(tk_options_t *opts,
    ngx_http_throttlekit_main_conf_t *mcf)
{
    ngx_memzero(opts, sizeof(tk_options_t));
    opts->struct_size = sizeof(tk_options_t);
    opts->timeout_ms = (int32_t) mcf->timeout;

    /* the module applies throttlekit_fail itself, per location */
    opts->fail_mode = TK_FAIL_ERROR;

#define ngx_http_throttlekit_opt(s)  ((s).len ? (const char *) (s).data : NULL)

    opts->key_namespace = ngx_http_throttlekit_opt(mcf->key_namespace);
    opts->tls_ca_file = ngx_http_throttlekit_opt(mcf->tls_ca);
    opts->tls_cert_file = ngx_http_throttlekit_opt(mcf->tls_cert);
    opts->tls_key_file = ngx_http_throttlekit_opt(mcf->tls_key);
    opts->auth_token = ngx_http_throttlekit_opt(mcf->auth_token);

#undef ngx_http_throttlekit_opt
}


/* Opens the handle through the configured door; on failure, sets why. */
static ngx_int_t
ngx_http_throttlekit_open_handle(ngx_http_throttlekit_worker_t *w,
    ngx_http_throttlekit_main_conf_t *mcf)
{
    int           rc;
    tk_error_t    err;
    tk_options_t  opts;

    ngx_http_throttlekit_options(&opts, mcf);
    ngx_memzero(&err, sizeof(tk_error_t));

    /* A long request (an upload, a websocket) keeps its slots: the handle
       renews every lease it issued until the request releases it. Only a
       library with asynchronous admission is asked (an older one would
       refuse the field), and only when a location admits. */
    if (mcf->admits && w->admit_async) {
        opts.lease_heartbeat = 1;
    }

    if (mcf->door == NGX_THROTTLEKIT_DOOR_REDIS) {
        rc = w->open_redis((const char *) mcf->redis_url.data,
                           (const char *) mcf->policies.data, &opts,
                           &w->handle, &err);

    } else if (mcf->door == NGX_THROTTLEKIT_DOOR_MEMORY) {

        if (w->open_memory == NULL) {
            w->handle = 0;
            ngx_http_throttlekit_why(w, "the library has no tk_open_memory: "
                                     "throttlekit_memory needs a newer "
                                     "libthrottlekit%Z");
            return NGX_ERROR;
        }

        rc = w->open_memory((const char *) mcf->policies.data, &opts,
                            &w->handle, &err);

    } else {
        rc = w->open_service((const char *) mcf->target.data, &opts,
                             &w->handle, &err);
    }

    /* the library's messages never contain a password (c-abi.md) */

    if (rc != TK_OK) {
        w->handle = 0;
        ngx_http_throttlekit_why(w, "%s failed: %s (%s)%Z",
                                 mcf->door == NGX_THROTTLEKIT_DOOR_REDIS
                                 ? "tk_open_redis"
                                 : mcf->door == NGX_THROTTLEKIT_DOOR_MEMORY
                                 ? "tk_open_memory" : "tk_open_service",
                                 w->strerror(rc), err.message);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* A non-blocking duplicate of the handle's completion fd, or -1 (why set):
   the handle owns its fd, and nginx closes a connection's fd with it. */
static ngx_socket_t
ngx_http_throttlekit_dup_completion_fd(ngx_http_throttlekit_worker_t *w)
{
    int         rc, fd;
    tk_error_t  err;

    ngx_memzero(&err, sizeof(tk_error_t));

    rc = w->completion_fd(w->handle, &fd, &err);
    if (rc != TK_OK) {
        ngx_http_throttlekit_why(w, "tk_completion_fd failed: %s (%s)%Z",
                                 w->strerror(rc), err.message);
        return -1;
    }

    fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd == -1) {
        ngx_http_throttlekit_why(w, "dup of the completion fd failed: %s%Z",
                                 strerror(ngx_errno));
        return -1;
    }

    if (ngx_nonblocking(fd) == -1) {
        ngx_http_throttlekit_why(w, ngx_nonblocking_n " failed: %s%Z",
                                 strerror(ngx_errno));
        close(fd);
        return -1;
    }

    return fd;
}


/* Puts the completion fd in the event loop as a connection of its own;
   on failure, sets why (exit_process closes a connection already made). */
static ngx_int_t
ngx_http_throttlekit_watch(ngx_cycle_t *cycle,
    ngx_http_throttlekit_worker_t *w, ngx_socket_t fd)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        ngx_http_throttlekit_why(w, "no free connection for the "
                                 "completion fd%Z");
        close(fd);
        return NGX_ERROR;
    }

    c->log = cycle->log;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->read->handler = ngx_http_throttlekit_completion_handler;
    c->data = w;

    w->conn = c;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_throttlekit_why(w, "watching the completion fd failed%Z");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Opens the handle and watches its completion fd; on failure, sets why. */
static ngx_int_t
ngx_http_throttlekit_open(ngx_cycle_t *cycle,
    ngx_http_throttlekit_worker_t *w, ngx_http_throttlekit_main_conf_t *mcf)
{
    ngx_socket_t  fd;

    if (ngx_http_throttlekit_open_handle(w, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_http_throttlekit_dup_completion_fd(w);
    if (fd == -1) {
        return NGX_ERROR;
    }

    return ngx_http_throttlekit_watch(cycle, w, fd);
}


static ngx_int_t
ngx_http_throttlekit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_throttlekit_worker_t     *w = &ngx_http_throttlekit_worker;
    ngx_http_throttlekit_main_conf_t  *mcf;

    ngx_memzero(w, sizeof(ngx_http_throttlekit_worker_t));
    ngx_rbtree_init(&w->inflight, &w->sentinel, ngx_rbtree_insert_value);
    w->next_cookie = 1;

    /* workers (or the single process): never the master or cache processes */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;                   /* no http block */
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_throttlekit_module);

    if (mcf == NULL || mcf->door == NGX_THROTTLEKIT_DOOR_NONE) {
        return NGX_OK;
    }

    w->timeout = mcf->timeout;

    if (ngx_http_throttlekit_load(cycle, w) == NGX_OK) {

        ngx_http_throttlekit_onstack_signals(cycle->log);

        if (ngx_http_throttlekit_open(cycle, w, mcf) == NGX_OK) {

            if (mcf->admits && w->admit_async == NULL) {
                /* the checks work; the admissions end in ERROR, each with
                   the location's throttlekit_fail */
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "throttlekit: \"throttlekit_concurrency\" "
                              "needs a libthrottlekit with tk_admit_async "
                              "and tk_release_async (asynchronous "
                              "admission): every admission of this worker "
                              "ends in ERROR");
            }

            return NGX_OK;
        }
    }

    /* A worker without the library still serves: its checks end in ERROR
       and throttlekit_fail answers. Said loudly, once. */

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "throttlekit: %s; every check of this worker ends in ERROR",
                  w->why);

    ngx_http_throttlekit_exit_process(cycle);

    return NGX_OK;
}


static void
ngx_http_throttlekit_exit_process(ngx_cycle_t *cycle)
{
    size_t                          n;
    tk_completion_t                 batch[NGX_THROTTLEKIT_POLL_BATCH];
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    if (w->conn) {
        /* Out of the event set first: epoll forgets an fd when the last
           descriptor of its file closes, and the library holds another. */

        if (ngx_del_conn) {
            ngx_del_conn(w->conn, 0);

        } else if (w->conn->read->active) {
            ngx_del_event(w->conn->read, NGX_READ_EVENT, 0);
        }

        ngx_close_connection(w->conn);
        w->conn = NULL;
    }

    if (w->handle == 0) {
        return;
    }

    /* tk_free, once the fd has left the event loop as the library asks,
       completes the checks in flight with TK_E_BADHANDLE; those and any
       completions not yet taken are drained and dropped, which lets the
       library forget the handle. The library itself stays mapped: a
       started Go runtime cannot be unloaded, and the process is exiting. */

    (void) w->free(w->handle);

    do {
        n = 0;

        if (w->poll(w->handle, batch, NGX_THROTTLEKIT_POLL_BATCH, &n)
            != TK_OK)
        {
            break;
        }

    } while (n == NGX_THROTTLEKIT_POLL_BATCH);

    w->handle = 0;
}


/* ---- The access phase --------------------------------------------------- */

/* The rules of a level's list, which may be NULL. */
#define ngx_http_throttlekit_nrules(list)  ((list) ? (list)->nelts : 0)


/*
 * The request's context. An internal redirect clears r->ctx, so the context
 * is also found through its pool cleanup handler (as the realip module does);
 * only a redirected request (r->internal) needs that search.
 */
static ngx_http_throttlekit_ctx_t *
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


/* Whether a key byte is sent as %XX. */
#define ngx_http_throttlekit_escaped(c)  ((c) <= 0x20 || (c) >= 0x7f          \
                                          || (c) == '%')

/*
 * The key as sent to the library: bytes outside printable ASCII, the space
 * and '%' become %XX. One-to-one, readable keys stay readable, and the result
 * is valid UTF-8 without NUL, as both doors need ($binary_remote_addr has
 * NULs and invalid UTF-8).
 */
static u_char *
ngx_http_throttlekit_encode_key(ngx_pool_t *pool, ngx_str_t *raw)
{
    u_char  *key, *p;
    size_t   i, escapes;

    static u_char  hex[] = "0123456789ABCDEF";

    escapes = 0;

    for (i = 0; i < raw->len; i++) {
        if (ngx_http_throttlekit_escaped(raw->data[i])) {
            escapes++;
        }
    }

    key = ngx_pnalloc(pool, raw->len + 2 * escapes + 1);
    if (key == NULL) {
        return NULL;
    }

    p = key;

    for (i = 0; i < raw->len; i++) {
        if (ngx_http_throttlekit_escaped(raw->data[i])) {
            *p++ = '%';
            *p++ = hex[raw->data[i] >> 4];
            *p++ = hex[raw->data[i] & 0x0f];

        } else {
            *p++ = raw->data[i];
        }
    }

    *p = '\0';

    return key;
}


/* Makes a submitted check findable by its cookie, the worker's next one. */
static void
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


/* Takes a check out of the tree, so that its completion, should it come,
   finds nothing and is dropped. */
static void
ngx_http_throttlekit_untrack(ngx_http_throttlekit_check_t *check)
{
    ngx_rbtree_delete(&ngx_http_throttlekit_worker.inflight, &check->node);
    check->in_tree = 0;
}


/* Evaluates one rule's key and cost: NGX_OK with them when the check can be
   sent; otherwise the check is SKIPPED (an empty key) or FAILED (logged). */
static ngx_int_t
ngx_http_throttlekit_prepare(ngx_http_request_t *r,
    ngx_http_throttlekit_rule_t *rule, ngx_http_throttlekit_check_t *check,
    u_char **key_out, int64_t *cost_out)
{
    off_t                           cost;
    u_char                         *key;
    ngx_str_t                       raw, text;
    ngx_http_throttlekit_worker_t  *w = &ngx_http_throttlekit_worker;

    check->policy = rule->policy;
    check->counter = rule->counter;
    check->state = NGX_THROTTLEKIT_FAILED;

    if (ngx_http_complex_value(r, &rule->key, &raw) != NGX_OK) {
        return NGX_ERROR;
    }

    if (raw.len == 0) {
        /* as limit_req: an empty key is not accounted */
        check->state = NGX_THROTTLEKIT_SKIPPED;
        return NGX_DECLINED;
    }

    cost = 1;

    if (rule->cost) {
        if (ngx_http_complex_value(r, rule->cost, &text) != NGX_OK) {
            return NGX_ERROR;
        }

        cost = ngx_atoof(text.data, text.len);

        if (cost == NGX_ERROR) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "throttlekit: policy \"%V\": invalid cost \"%V\"",
                          &rule->policy, &text);
            return NGX_ERROR;
        }
    }

    if (w->handle == 0) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "throttlekit: policy \"%V\" not checked: %s",
                      &rule->policy, w->why);
        return NGX_ERROR;
    }

    key = ngx_http_throttlekit_encode_key(r->pool, &raw);
    if (key == NULL) {
        return NGX_ERROR;
    }

    *key_out = key;
    *cost_out = (int64_t) cost;

    return NGX_OK;
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

    if (rc != TK_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "throttlekit: policy \"%V\": %s (%s)",
                      &check->policy, w->strerror(rc), err.message);
        return;
    }

    check->state = NGX_THROTTLEKIT_PENDING;
    ngx_http_throttlekit_track(check);
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

    if (rc != TK_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "throttlekit: policy \"%V\": %s (%s)",
                      &check->policy, w->strerror(rc), err.message);
        return;
    }

    check->key = key;
    check->state = NGX_THROTTLEKIT_PENDING;
    ngx_http_throttlekit_track(check);
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


/* Submits the request's admissions (the checks after its nrules rate checks),
   one call each. */
static void
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


/* How long a check may stay in flight before the guard timer ends it. */
#define ngx_http_throttlekit_guard_ms()                                       \
    (ngx_http_throttlekit_worker.timeout + NGX_THROTTLEKIT_GUARD_SLACK)


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


static ngx_int_t
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


/*
 * Adds a decided request's checks to the status zone's counters of their
 * policies: passed (allowed), rejected (denied), rejected_dry_run (denied
 * under throttlekit_dry_run, or a shadow policy's denial), errors (no
 * decision: the fail mode applied), and local (answered from the worker's
 * two-tier credits or cached denial, whichever the answer).
 */
static void
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


/* The verdict and the outcome, once every check has its answer. */
static void
ngx_http_throttlekit_decide(ngx_http_throttlekit_ctx_t *ctx)
{
    ngx_uint_t                     i, denied, failed, answered, shadowed;
    ngx_http_throttlekit_check_t  *check, *denier;

    denied = 0;
    shadowed = 0;
    failed = 0;
    answered = 0;
    denier = NULL;
    ctx->retry_after_ms = 0;

    for (i = 0; i < ctx->nchecks; i++) {
        check = &ctx->checks[i];

        switch (check->state) {

        case NGX_THROTTLEKIT_ALLOWED:
            answered++;

            if (check->decision.flags & TK_DECISION_SHADOW) {
                /* a shadow policy (shadow: true) denied: admitted, shown as a dry run */
                shadowed++;

                if (denier == NULL) {
                    denier = check;
                }
            }

            break;

        case NGX_THROTTLEKIT_DENIED:
            answered++;
            denied++;

            if (denier == NULL || denier->state == NGX_THROTTLEKIT_ALLOWED) {
                denier = check;          /* a real denial names the policy, not a shadow */
            }

            if (check->decision.retry_after_ms > ctx->retry_after_ms) {
                ctx->retry_after_ms = check->decision.retry_after_ms;
            }

            break;

        case NGX_THROTTLEKIT_FAILED:
            answered++;
            failed++;
            break;

        default: /* NGX_THROTTLEKIT_SKIPPED */
            break;
        }
    }

    ngx_http_throttlekit_count(ctx);

    ctx->verdict = NGX_DECLINED;         /* a pass: no opinion */

    if (!denied && shadowed) {
        ctx->outcome = NGX_THROTTLEKIT_DRY_RUN;

        ngx_log_error(ctx->log_level, ctx->request->connection->log, 0,
                      "throttlekit: would be rejected by shadow policy \"%V\" "
                      "(%ui of %ui rules)", &denier->policy, shadowed,
                      ctx->nchecks);

    } else if (denied) {

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
                      &denier->policy, denied, ctx->nchecks,
                      ctx->retry_after_ms);

    } else if (failed) {
        ctx->outcome = NGX_THROTTLEKIT_ERROR;

        if (ctx->fail_closed && !ctx->dry_run) {
            ctx->verdict = ctx->status;
        }

    } else if (answered) {
        ctx->outcome = NGX_THROTTLEKIT_PASSED;

    } else {
        ctx->outcome = NGX_THROTTLEKIT_NONE;
    }

    ctx->decided = 1;
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


/* Gives a lease back, fire and forget: its completion (cookie 0) is only
   logged should it fail. A release that cannot be sent leaves the slot to
   the lease's expiry. */
static void
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


/*
 * An admission still in flight whose request goes: its node leaves the
 * request's pool for an orphan of the worker's, under the same cookie, so
 * that a lease its completion brings is released at once (the handle would
 * otherwise renew it for ever). Nothing is released before the answer.
 */
static void
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
static void
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
        if (cpl->status != TK_OK) {
            cpl->message[sizeof(cpl->message) - 1] = '\0';

            ngx_log_error(NGX_LOG_WARN, w->conn->log, 0,
                          "throttlekit: release failed: %s (%s); the slot "
                          "returns when its lease expires",
                          w->strerror(cpl->status), cpl->message);
        }

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

    if (cpl->status == TK_OK) {
        check->decision = cpl->decision;
        check->state = cpl->decision.allowed ? NGX_THROTTLEKIT_ALLOWED
                                             : NGX_THROTTLEKIT_DENIED;

        if (check->admit && cpl->decision.allowed) {
            /* the lease id, which the pool cleanup releases */
            ngx_cpystrn((u_char *) check->lease, (u_char *) cpl->message,
                        sizeof(check->lease));
        }

    } else {
        check->state = NGX_THROTTLEKIT_FAILED;
        cpl->message[sizeof(cpl->message) - 1] = '\0';

        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "throttlekit: policy \"%V\": %s (%s)", &check->policy,
                      w->strerror(cpl->status), cpl->message);
    }

    if (--ctx->pending == 0) {
        ngx_http_throttlekit_resume(ctx);
    }
}


/* The completion fd is readable: take every completion waiting. */
static void
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
static void
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
static void
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


/* ---- Response fields ---------------------------------------------------- */

/* Whether a rate check has a decision, allowed or denied (an admission's
   is not a quota: neither field nor variable shows it). */
#define ngx_http_throttlekit_has_decision(check)                              \
    (((check)->state == NGX_THROTTLEKIT_ALLOWED                               \
      || (check)->state == NGX_THROTTLEKIT_DENIED)                            \
     && !(check)->admit)

/* Whether a check has a decision of the backend's to show. */
#define ngx_http_throttlekit_shown(check)                                     \
    (ngx_http_throttlekit_has_decision(check)                                 \
     && !((check)->decision.flags & TK_DECISION_SYNTHESIZED))


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


/* ---- throttlekit_status_json -------------------------------------------- */

static char *
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
    size_t                             len;
    u_char                            *p;
    ngx_int_t                          rc;
    ngx_buf_t                         *b;
    ngx_str_t                         *name;
    ngx_uint_t                         i, k, n;
    ngx_chain_t                        out;
    ngx_http_throttlekit_zone_t       *zone;
    ngx_http_throttlekit_counters_t   *c;
    ngx_http_throttlekit_main_conf_t  *mcf;

    static const char  *fields[NGX_THROTTLEKIT_COUNTERS] = {
        "passed", "rejected", "rejected_dry_run", "local", "errors"
    };

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

    len = sizeof("{\"policies\":{}}\n") - 1;

    for (i = 0; i < n; i++) {
        len += sizeof("\"\":{},") - 1
               + name[i].len + ngx_escape_json(NULL, name[i].data, name[i].len)
               + NGX_THROTTLEKIT_COUNTERS
                 * (sizeof("\"rejected_dry_run\":,") - 1 + NGX_ATOMIC_T_LEN);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"policies\":{", sizeof("{\"policies\":{") - 1);

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

    p = ngx_cpymem(p, "}}\n", 3);
    b->last = p;
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


/* ---- Variables ---------------------------------------------------------- */

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


static ngx_int_t
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
