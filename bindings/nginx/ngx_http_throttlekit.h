/*
 * ngx_http_throttlekit.h: what the files of ngx_http_throttlekit_module
 * share: the constants, the configuration, worker and request structs, and
 * the functions one file calls in another. ngx_http_throttlekit_module.c
 * tells how the parts fit together and which file holds which.
 */

#ifndef _NGX_HTTP_THROTTLEKIT_H_INCLUDED_
#define _NGX_HTTP_THROTTLEKIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_throttlekit_abi.h"


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


/* The rules of a level's list, which may be NULL. */
#define ngx_http_throttlekit_nrules(list)  ((list) ? (list)->nelts : 0)

/* How long a check may stay in flight before the guard timer ends it. */
#define ngx_http_throttlekit_guard_ms()                                       \
    (ngx_http_throttlekit_worker.timeout + NGX_THROTTLEKIT_GUARD_SLACK)

/* Whether a rate check has a decision, allowed or denied (an admission's
   is not a quota: neither field nor variable shows it). */
#define ngx_http_throttlekit_has_decision(check)                              \
    (((check)->state == NGX_THROTTLEKIT_ALLOWED                               \
      || (check)->state == NGX_THROTTLEKIT_DENIED)                            \
     && !(check)->admit)


extern ngx_module_t  ngx_throttlekit_module;
extern ngx_module_t  ngx_http_throttlekit_module;

/* This worker's library and handle (ngx_http_throttlekit_load.c). */
extern ngx_http_throttlekit_worker_t  ngx_http_throttlekit_worker;


/* ngx_http_throttlekit_conf.c: the configuration structs, the doors */
void *ngx_http_throttlekit_create_main_conf(ngx_conf_t *cf);
char *ngx_http_throttlekit_init_main_conf(ngx_conf_t *cf, void *conf);
void *ngx_http_throttlekit_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_throttlekit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
ngx_int_t ngx_http_throttlekit_cstr(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *s);
char *ngx_http_throttlekit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_throttlekit_memory(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_throttlekit_service(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_throttlekit_status_code(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_throttlekit_conf_path(ngx_conf_t *cf, void *post, void *data);

/* ngx_http_throttlekit_rules.c: a rule, from its directive to its key */
char *ngx_http_throttlekit_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_throttlekit_rule_list(ngx_conf_t *cf, ngx_array_t **rules);
ngx_int_t ngx_http_throttlekit_prepare(ngx_http_request_t *r,
    ngx_http_throttlekit_rule_t *rule, ngx_http_throttlekit_check_t *check,
    u_char **key_out, int64_t *cost_out);

/* ngx_http_throttlekit_load.c: the library in a worker */
ngx_int_t ngx_http_throttlekit_init_process(ngx_cycle_t *cycle);
void ngx_http_throttlekit_exit_process(ngx_cycle_t *cycle);

/* ngx_http_throttlekit_access.c: the access phase */
ngx_int_t ngx_http_throttlekit_handler(ngx_http_request_t *r);
ngx_http_throttlekit_ctx_t *ngx_http_throttlekit_get_ctx(
    ngx_http_request_t *r);

/* ngx_http_throttlekit_verdict.c: a request's verdict and outcome */
void ngx_http_throttlekit_decide(ngx_http_throttlekit_ctx_t *ctx);

/* ngx_http_throttlekit_async.c: checks in flight and their completions */
void ngx_http_throttlekit_track(ngx_http_throttlekit_check_t *check);
ngx_int_t ngx_http_throttlekit_submitted(ngx_http_request_t *r,
    ngx_http_throttlekit_check_t *check, int rc, tk_error_t *err);
void ngx_http_throttlekit_untrack(ngx_http_throttlekit_check_t *check);
void ngx_http_throttlekit_completion_handler(ngx_event_t *rev);
void ngx_http_throttlekit_guard_handler(ngx_event_t *ev);
void ngx_http_throttlekit_cleanup(void *data);

/* ngx_http_throttlekit_concurrency.c: throttlekit_concurrency's slots */
char *ngx_http_throttlekit_concurrency(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_throttlekit_submit_admits(ngx_http_request_t *r,
    ngx_http_throttlekit_ctx_t *ctx, ngx_uint_t nrules,
    ngx_http_throttlekit_rule_t *admits);
void ngx_http_throttlekit_release(ngx_log_t *log, const char *policy,
    const char *key, const char *lease, int dropped);
void ngx_http_throttlekit_release_done(tk_completion_t *cpl);
void ngx_http_throttlekit_orphan(ngx_http_throttlekit_check_t *check);
void ngx_http_throttlekit_orphan_done(ngx_http_throttlekit_orphan_t *o,
    tk_completion_t *cpl);

/* ngx_http_throttlekit_headers.c: the response's rate limit fields */
void ngx_http_throttlekit_headers_init(void);

/* ngx_http_throttlekit_status.c: throttlekit_status_json, its counters */
char *ngx_http_throttlekit_status_json(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_throttlekit_add_zone(ngx_conf_t *cf,
    ngx_http_throttlekit_main_conf_t *mcf);
void ngx_http_throttlekit_count(ngx_http_throttlekit_ctx_t *ctx);

/* ngx_http_throttlekit_variables.c: $throttlekit_status, _remaining */
ngx_int_t ngx_http_throttlekit_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_THROTTLEKIT_H_INCLUDED_ */
