/*
 * ngx_http_throttlekit_load.c: a worker's libthrottlekit. init_process
 * dlopen()s the library (after fork only: c-abi.md, "Fork"), opens the
 * handle through the configured door and watches its completion fd in the
 * event loop; exit_process undoes both. A worker that cannot do so still
 * serves, its checks ending in ERROR, and says why once.
 */

#include "ngx_http_throttlekit.h"

#include <dlfcn.h>


/* The library the worker asks the dynamic linker for by default. */
#define NGX_THROTTLEKIT_DEFAULT_LIB    "libthrottlekit.so.0"


/* This worker's library, handle and checks in flight: zeroed and set up in
   init_process, never in the master. */
ngx_http_throttlekit_worker_t  ngx_http_throttlekit_worker;


/* Why checks cannot run, for the log: each format ends in %Z. */
#define ngx_http_throttlekit_why(w, ...)                                      \
    ngx_snprintf((u_char *) (w)->why, sizeof((w)->why) - 1, __VA_ARGS__)


/* The library's path: throttlekit_library, else $THROTTLEKIT_LIB, else the
   default name. */
static const char *
ngx_http_throttlekit_library(ngx_cycle_t *cycle)
{
    const char              *path;
    ngx_throttlekit_conf_t  *tcf;

    tcf = (ngx_throttlekit_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                                  ngx_throttlekit_module);

    if (tcf && tcf->library.len) {
        return (const char *) tcf->library.data;
    }

    /* nginx empties its workers' environment: THROTTLEKIT_LIB is seen
       only if nginx.conf says "env THROTTLEKIT_LIB;" */
    path = getenv("THROTTLEKIT_LIB");

    if (path == NULL || path[0] == '\0') {
        path = NGX_THROTTLEKIT_DEFAULT_LIB;
    }

    return path;
}


/* Resolves the library's functions: NULL, or the name of the first required
   one it lacks. */
static const char *
ngx_http_throttlekit_resolve(ngx_http_throttlekit_worker_t *w)
{
#define ngx_http_throttlekit_required(field, symbol)                          \
    *(void **) &w->field = dlsym(w->dl, symbol);                              \
    if (w->field == NULL) {                                                   \
        return symbol;                                                        \
    }

    ngx_http_throttlekit_required(version, "tk_version");
    ngx_http_throttlekit_required(strerror, "tk_strerror");
    ngx_http_throttlekit_required(open_redis, "tk_open_redis");
    ngx_http_throttlekit_required(open_service, "tk_open_service");
    ngx_http_throttlekit_required(free, "tk_free");

    /* optional: a library older than tk_open_memory serves the other doors */
    *(void **) &w->open_memory = dlsym(w->dl, "tk_open_memory");

    ngx_http_throttlekit_required(completion_fd, "tk_completion_fd");
    ngx_http_throttlekit_required(check_async, "tk_check_async");
    ngx_http_throttlekit_required(poll, "tk_poll");

#undef ngx_http_throttlekit_required

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

    return NULL;
}


/* Loads the library and resolves its functions; on failure, sets why. */
static ngx_int_t
ngx_http_throttlekit_load(ngx_cycle_t *cycle,
    ngx_http_throttlekit_worker_t *w)
{
    const char  *path, *name;

    path = ngx_http_throttlekit_library(cycle);

    w->dl = dlopen(path, RTLD_NOW|RTLD_LOCAL);
    if (w->dl == NULL) {
        ngx_http_throttlekit_why(w, "dlopen(\"%s\") failed: %s%Z",
                                 path, dlerror());
        return NGX_ERROR;
    }

    name = ngx_http_throttlekit_resolve(w);

    if (name != NULL) {
        ngx_http_throttlekit_why(w, "\"%s\" has no %s: a libthrottlekit with "
                                 "asynchronous checks is needed%Z",
                                 path, name);

        /* nothing of the library has run: unloading it is safe */
        dlclose(w->dl);
        w->dl = NULL;

        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "throttlekit: loaded \"%s\", library version %s",
                  path, w->version());

    return NGX_OK;
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


/* Loads the library, then opens the handle and watches its completion fd;
   on failure, sets why. */
static ngx_int_t
ngx_http_throttlekit_start(ngx_cycle_t *cycle,
    ngx_http_throttlekit_worker_t *w, ngx_http_throttlekit_main_conf_t *mcf)
{
    if (ngx_http_throttlekit_load(cycle, w) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_throttlekit_onstack_signals(cycle->log);

    if (ngx_http_throttlekit_open(cycle, w, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mcf->admits && w->admit_async == NULL) {
        /* the checks work; the admissions end in ERROR, each with the
           location's throttlekit_fail */
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "throttlekit: \"throttlekit_concurrency\" "
                      "needs a libthrottlekit with tk_admit_async "
                      "and tk_release_async (asynchronous "
                      "admission): every admission of this worker "
                      "ends in ERROR");
    }

    return NGX_OK;
}


ngx_int_t
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

    if (ngx_http_throttlekit_start(cycle, w, mcf) == NGX_OK) {
        return NGX_OK;
    }

    /* A worker without the library still serves: its checks end in ERROR
       and throttlekit_fail answers. Said loudly, once. */

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "throttlekit: %s; every check of this worker ends in ERROR",
                  w->why);

    ngx_http_throttlekit_exit_process(cycle);

    return NGX_OK;
}


void
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
