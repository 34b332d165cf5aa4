/*
 * ngx_http_throttlekit_rules.c: a rule, "throttlekit <policy> key=<value>
 * [cost=<value>]", parsed at configuration time (throttlekit_concurrency
 * uses the same list), and evaluated for a request: the key as sent to the
 * library, and the cost.
 */

#include "ngx_http_throttlekit.h"


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
char *
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
char *
ngx_http_throttlekit_rule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_throttlekit_loc_conf_t  *lcf = conf;

    return ngx_http_throttlekit_rule_list(cf, &lcf->rules);
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


/* Evaluates one rule's key and cost: NGX_OK with them when the check can be
   sent; otherwise the check is SKIPPED (an empty key) or FAILED (logged). */
ngx_int_t
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
