/*
 * ngx_http_throttlekit_conf.c: the http block's settings (the door: Redis,
 * the service or the embedded engine, its options) and each location's
 * (status code, headers, dry run, fail mode, log level), as nginx creates,
 * fills and merges them.
 */

#include "ngx_http_throttlekit.h"


void *
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


char *
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


void *
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


char *
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
ngx_int_t
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


/* Reads the open policy file fd into a NUL-terminated string; the caller
   opens and closes the file, so that every error path here just returns. */
static ngx_int_t
ngx_http_throttlekit_read_text(ngx_conf_t *cf, ngx_fd_t fd, ngx_str_t *name,
    ngx_str_t *text)
{
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_file_size(&fi) > 16 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" is over 16M", name);
        return NGX_ERROR;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->pool, text->len + 1);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, text->data, text->len, 0);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if ((size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" changed while read", name);
        return NGX_ERROR;
    }

    text->data[text->len] = '\0';

    if (ngx_strlen(text->data) != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the policy file \"%V\" has a NUL byte", name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Reads a whole policy file into a NUL-terminated string. */
static ngx_int_t
ngx_http_throttlekit_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text)
{
    ngx_fd_t   fd;
    ngx_int_t  rc;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    rc = ngx_http_throttlekit_read_text(cf, fd, name, text);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}


/* The first argument of a door's directive, copied as a C string (unless dst
   is NULL); an http block has one door, named by a non-empty value. */
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

    if (dst && ngx_http_throttlekit_cstr(cf->pool, dst, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The policy file of a door that loads it here (Redis, memory): its path
 * relative to the configuration's prefix (the result ends in a NUL), read now.
 */
static char *
ngx_http_throttlekit_policy_file(ngx_conf_t *cf,
    ngx_http_throttlekit_main_conf_t *mcf, ngx_str_t *path, ngx_uint_t door)
{
    mcf->policy_file = *path;

    if (ngx_conf_full_name(cf->cycle, &mcf->policy_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_throttlekit_read_file(cf, &mcf->policy_file, &mcf->policies)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf->door = door;

    return NGX_CONF_OK;
}


/* throttlekit_redis <url> <policy-file>; */
char *
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

    return ngx_http_throttlekit_policy_file(cf, mcf, &value[2],
                                            NGX_THROTTLEKIT_DOOR_REDIS);
}


/*
 * throttlekit_memory <policy-file>; the embedded engine: the same decisions
 * as the Redis door, but each worker opens its own store, so a limit holds
 * per worker (and starts over when a worker is replaced).
 */
char *
ngx_http_throttlekit_memory(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_main_conf_t  *mcf = conf;

    char       *rv;
    ngx_str_t  *value;

    rv = ngx_http_throttlekit_door_arg(cf, mcf, NULL, "needs a policy file");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    return ngx_http_throttlekit_policy_file(cf, mcf, &value[1],
                                            NGX_THROTTLEKIT_DOOR_MEMORY);
}


/* throttlekit_service <host:port>; */
char *
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


char *
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
char *
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
