/*
 * ngx_http_throttlekit_abi.h: the part of the libthrottlekit C ABI that the
 * nginx module uses.
 *
 * The module never links libthrottlekit: each worker dlopen()s it and
 * resolves these functions by name, so nginx builds, tests its configuration
 * (nginx -t) and runs without the library. The types restate, field for
 * field, include/throttlekit.h and the "Asynchronous checks" section of
 * ../shared/spec/c-abi.md, where the ABI is fixed (structs only grow at
 * the end; the module passes its own sizeof(tk_options_t), which the library
 * accepts from an older caller). tests/nginx/abi_layout.sh compares both.
 */

#ifndef NGX_HTTP_THROTTLEKIT_ABI_H
#define NGX_HTTP_THROTTLEKIT_ABI_H

#include <stddef.h>
#include <stdint.h>


typedef uint64_t  tk_handle_t;              /* 0 is never a valid handle */

enum {
    TK_OK = 0,
    TK_E_INVALID = -1,
    TK_E_BADHANDLE = -2,
    TK_E_NOT_FOUND = -3,
    TK_E_UNSUPPORTED = -4,
    TK_E_UNAVAILABLE = -5,
    TK_E_TIMEOUT = -6,
    TK_E_CONFIG = -7,
    TK_E_FORKED = -8,
    TK_E_INTERNAL = -9,
    TK_E_AUTH = -10
};

enum {
    TK_FAIL_ERROR = 0,                      /* the module's own fail mode */
    TK_FAIL_OPEN = 1,
    TK_FAIL_CLOSED = 2
};

enum {                                       /* tk_decision_t.flags bits */
    TK_DECISION_SYNTHESIZED = 1,
    TK_DECISION_SHADOW = 2,
    TK_DECISION_LOCAL = 4
};

typedef struct {
    uint32_t     struct_size;
    int32_t      timeout_ms;                /* 0: the default, 500 ms */
    int32_t      fail_mode;
    int32_t      local_max_keys;
    const char  *key_namespace;
    const char  *tls_ca_file;
    const char  *tls_cert_file;
    const char  *tls_key_file;
    const char  *auth_token;
    int32_t      auto_pipeline;
    int32_t      shadow;
    int32_t      lease_ttl_ms;       /* admission leases: 0, the default */
    int32_t      lease_heartbeat;    /* 1 with throttlekit_concurrency */
} tk_options_t;

typedef struct {
    int32_t      allowed;
    int32_t      flags;
    int64_t      limit;
    int64_t      remaining;
    int64_t      reset_at_ms;
    int64_t      retry_after_ms;
    int64_t      window_ms;
    int64_t      reserved[3];
} tk_decision_t;

typedef struct {
    int32_t      status;
    char         message[256];
} tk_error_t;

typedef struct {
    uint64_t       cookie;
    int32_t        status;
    int32_t        reserved0;
    tk_decision_t  decision;
    char           message[128];
} tk_completion_t;


typedef struct {
    const char  *policy;
    const char  *key;
    int64_t      cost;
} tk_check_item_t;


/* The functions, as pointer types for dlsym(). */

typedef const char *(*tk_version_pt)(void);
typedef const char *(*tk_strerror_pt)(int status);
typedef int (*tk_open_redis_pt)(const char *redis_url,
    const char *policies_yaml, const tk_options_t *opts, tk_handle_t *out,
    tk_error_t *err);
typedef int (*tk_open_service_pt)(const char *target, const tk_options_t *opts,
    tk_handle_t *out, tk_error_t *err);
typedef int (*tk_open_memory_pt)(const char *policies_yaml,
    const tk_options_t *opts, tk_handle_t *out, tk_error_t *err);
typedef int (*tk_free_pt)(tk_handle_t h);
typedef int (*tk_completion_fd_pt)(tk_handle_t h, int *fd_out, tk_error_t *err);
typedef int (*tk_check_async_pt)(tk_handle_t h, const char *policy,
    const char *key, int64_t cost, uint64_t cookie, tk_error_t *err);
typedef int (*tk_check_async_now_pt)(tk_handle_t h, const char *policy,
    const char *key, int64_t cost, uint64_t cookie, tk_decision_t *out,
    int32_t *done, tk_error_t *err);
typedef int (*tk_poll_pt)(tk_handle_t h, tk_completion_t *out, size_t max,
    size_t *n_out);
typedef int (*tk_check_all_async_pt)(tk_handle_t h,
    const tk_check_item_t *items, size_t n, uint64_t cookie, tk_error_t *err);

/* Asynchronous admission (TK_CORE_ABI 13 and later; optional: an older
   library has neither, and throttlekit_concurrency then fails in the worker).
   An admit's completion carries the lease id in message when allowed. */
typedef int (*tk_admit_async_pt)(tk_handle_t h, const char *policy,
    const char *key, int64_t cost, uint64_t cookie, tk_error_t *err);
typedef int (*tk_release_async_pt)(tk_handle_t h, const char *policy,
    const char *key, const char *lease_id, int dropped, uint64_t cookie,
    tk_error_t *err);


#endif /* NGX_HTTP_THROTTLEKIT_ABI_H */
