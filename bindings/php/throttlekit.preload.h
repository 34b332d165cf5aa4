#define FFI_SCOPE "THROTTLEKIT"
#define FFI_LIB "libthrottlekit.so.0"
/* GENERATED from include/throttlekit.h by bindings/php/tools/gen-ffi-header.php: do not edit. Regenerate with `make -C bindings/php ffi-header`. */
typedef uint64_t tk_handle_t;

typedef enum tk_status {
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
} tk_status_t;

typedef enum tk_fail_mode {
  TK_FAIL_ERROR = 0,
  TK_FAIL_OPEN = 1,
  TK_FAIL_CLOSED = 2
} tk_fail_mode_t;

enum {
  TK_DECISION_SYNTHESIZED = 1,
  TK_DECISION_SHADOW = 2,

  TK_DECISION_LOCAL = 4,

  TK_DECISION_OVERRIDE = 8

};

typedef struct tk_options {
  uint32_t struct_size;
  int32_t timeout_ms;
  int32_t fail_mode;
  int32_t local_max_keys;

  const char *key_namespace;
  const char *tls_ca_file;

  const char *tls_cert_file;
  const char *tls_key_file;
  const char *auth_token;
  int32_t auto_pipeline;

  int32_t shadow;

  int32_t lease_ttl_ms;

  int32_t lease_heartbeat;

} tk_options_t;

typedef struct tk_decision {
  int32_t allowed;
  int32_t flags;

  int64_t limit;
  int64_t remaining;
  int64_t reset_at_ms;
  int64_t retry_after_ms;
  int64_t window_ms;

  int64_t reserved[3];
} tk_decision_t;

typedef struct tk_forecast {
  int64_t spendable_now;
  int64_t next_replenish_at_ms;
  int64_t full_at_ms;
} tk_forecast_t;

typedef struct tk_error {
  int32_t status;
  char message[256];
} tk_error_t;

const char *tk_version(void);

const char *tk_strerror(int status);

void tk_options_init(tk_options_t *opts);

int tk_open_redis(const char *redis_url, const char *policies_yaml, const tk_options_t *opts,
                  tk_handle_t *out, tk_error_t *err);

int tk_open_service(const char *target, const tk_options_t *opts, tk_handle_t *out,
                    tk_error_t *err);

int tk_open_memory(const char *policies_yaml, const tk_options_t *opts, tk_handle_t *out,
                   tk_error_t *err);

int tk_free(tk_handle_t h);

int tk_check(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_decision_t *out, tk_error_t *err);

int tk_check_many(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                  int64_t cost, tk_decision_t *out, tk_error_t *err);

int tk_peek(tk_handle_t h, const char *policy, const char *key, tk_decision_t *out,
            tk_error_t *err);

int tk_forecast(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_forecast_t *out, tk_error_t *err);

int tk_debit(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
             tk_decision_t *out, tk_error_t *err);

typedef struct tk_check_item {
  const char *policy;
  const char *key;
  int64_t cost;
} tk_check_item_t;

int tk_check_all(tk_handle_t h, const tk_check_item_t *items, size_t n, tk_decision_t *out,
                 int32_t *all_allowed, tk_error_t *err);

int tk_reset(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);

int tk_refund(tk_handle_t h, const char *policy, const char *key, int64_t cost, tk_decision_t *out,
              tk_error_t *err);

int tk_set_override(tk_handle_t h, const char *policy, const char *key, const char *spec,
                    int64_t ttl_ms, tk_error_t *err);
int tk_clear_override(tk_handle_t h, const char *policy, const char *key, tk_error_t *err);

int tk_check_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_check_many_at(tk_handle_t h, const char *policy, const char *const *keys, size_t n,
                     int64_t cost, int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_peek_at(tk_handle_t h, const char *policy, const char *key, int64_t now_ms,
               tk_decision_t *out, tk_error_t *err);
int tk_forecast_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   int64_t now_ms, tk_forecast_t *out, tk_error_t *err);
int tk_debit_at(tk_handle_t h, const char *policy, const char *key, int64_t tokens,
                int64_t now_ms, tk_decision_t *out, tk_error_t *err);
int tk_check_all_at(tk_handle_t h, const tk_check_item_t *items, size_t n, int64_t now_ms,
                    tk_decision_t *out, int32_t *all_allowed, tk_error_t *err);

typedef struct tk_completion {
  uint64_t cookie;
  int32_t status;
  int32_t reserved0;
  tk_decision_t decision;

  char message[128];

} tk_completion_t;

int tk_completion_fd(tk_handle_t h, int *fd_out, tk_error_t *err);

int tk_check_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err);

int tk_check_async_now(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                       uint64_t cookie, tk_decision_t *out, int32_t *done, tk_error_t *err);

int tk_poll(tk_handle_t h, tk_completion_t *out, size_t max, size_t *n_out);

int tk_check_all_async(tk_handle_t h, const tk_check_item_t *items, size_t n, uint64_t cookie,
                       tk_error_t *err);

typedef struct tk_admission {
  tk_decision_t decision;

  char lease_id[40];
  int64_t lease_expires_at_ms;
  char binding_axis[16];
  int32_t policy_denied;
  int32_t reserved32;
  int64_t reserved[4];
} tk_admission_t;

int tk_admit(tk_handle_t h, const char *policy, const char *key, int64_t cost,
             tk_admission_t *out, tk_error_t *err);

int tk_admit_at(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                int64_t now_ms, tk_admission_t *out, tk_error_t *err);

int tk_release(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
               int dropped, tk_error_t *err);

int tk_release_at(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                  int dropped, int64_t now_ms, tk_error_t *err);

int tk_heartbeat(tk_handle_t h, const char *policy, const char *key, const char *const *lease_ids,
                 size_t n, size_t *reclaimed, size_t *n_reclaimed, tk_error_t *err);

int tk_heartbeat_at(tk_handle_t h, const char *policy, const char *key,
                    const char *const *lease_ids, size_t n, int64_t now_ms, size_t *reclaimed,
                    size_t *n_reclaimed, tk_error_t *err);

int tk_admit_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err);

int tk_release_async(tk_handle_t h, const char *policy, const char *key, const char *lease_id,
                     int dropped, uint64_t cookie, tk_error_t *err);

typedef enum tk_header_style {
  TK_HEADERS_OFF = 0,
  TK_HEADERS_IETF = 1,
  TK_HEADERS_TRIPLE = 2,
  TK_HEADERS_LEGACY = 3,
  TK_HEADERS_ALL = 4
} tk_header_style_t;

int tk_format_headers(tk_header_style_t style, const char *policy, const tk_decision_t *d,
                      int64_t now_ms, char *buf, size_t size);

int64_t tk_debug_goroutines(void);
