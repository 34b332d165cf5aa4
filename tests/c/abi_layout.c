/*
 * abi_layout.c - the ABI of throttlekit.h pinned at compile time (C11 _Static_assert; compiled
 * with -fsyntax-only by test_symbols.sh). Bindings (Ruby FFI layouts, PHP FFI cdefs, nginx
 * modules built against an older header) depend on these exact values and offsets: a change
 * here is an ABI break, never a refactoring. LP64 (x86-64, arm64) only.
 */
#include <stddef.h>

#include "throttlekit.h"

#define PIN(cond) _Static_assert(cond, #cond)

/* Status values: fixed by c-abi.md. */
PIN(TK_OK == 0);
PIN(TK_E_INVALID == -1);
PIN(TK_E_BADHANDLE == -2);
PIN(TK_E_NOT_FOUND == -3);
PIN(TK_E_UNSUPPORTED == -4);
PIN(TK_E_UNAVAILABLE == -5);
PIN(TK_E_TIMEOUT == -6);
PIN(TK_E_CONFIG == -7);
PIN(TK_E_FORKED == -8);
PIN(TK_E_INTERNAL == -9);
PIN(TK_E_AUTH == -10);
PIN(sizeof(tk_status_t) == sizeof(int));
PIN(TK_FAIL_ERROR == 0 && TK_FAIL_OPEN == 1 && TK_FAIL_CLOSED == 2);
PIN(TK_DECISION_SYNTHESIZED == 1);
PIN(TK_DECISION_SHADOW == 2);
PIN(TK_DECISION_LOCAL == 4);
PIN(TK_DECISION_OVERRIDE == 8);
PIN(TK_VERSION_MAJOR == 0);

PIN(sizeof(tk_handle_t) == 8);

/* tk_options_t: appended to only. */
PIN(offsetof(tk_options_t, struct_size) == 0);
PIN(offsetof(tk_options_t, timeout_ms) == 4);
PIN(offsetof(tk_options_t, fail_mode) == 8);
PIN(offsetof(tk_options_t, local_max_keys) == 12);
PIN(offsetof(tk_options_t, key_namespace) == 16);
PIN(offsetof(tk_options_t, tls_ca_file) == 24);
PIN(offsetof(tk_options_t, tls_cert_file) == 32);
PIN(offsetof(tk_options_t, tls_key_file) == 40);
PIN(offsetof(tk_options_t, auth_token) == 48);
PIN(offsetof(tk_options_t, auto_pipeline) == 56);
PIN(offsetof(tk_options_t, shadow) == 60);
PIN(offsetof(tk_options_t, lease_ttl_ms) == 64);
PIN(offsetof(tk_options_t, lease_heartbeat) == 68);
PIN(sizeof(tk_options_t) >= 72);

/* tk_decision_t */
PIN(offsetof(tk_decision_t, allowed) == 0);
PIN(offsetof(tk_decision_t, flags) == 4);
PIN(offsetof(tk_decision_t, limit) == 8);
PIN(offsetof(tk_decision_t, remaining) == 16);
PIN(offsetof(tk_decision_t, reset_at_ms) == 24);
PIN(offsetof(tk_decision_t, retry_after_ms) == 32);
PIN(offsetof(tk_decision_t, window_ms) == 40);
PIN(offsetof(tk_decision_t, reserved) == 48);
PIN(sizeof(((tk_decision_t *)0)->reserved) == 3 * sizeof(int64_t));
PIN(sizeof(tk_decision_t) == 72);

/* tk_forecast_t */
PIN(offsetof(tk_forecast_t, spendable_now) == 0);
PIN(offsetof(tk_forecast_t, next_replenish_at_ms) == 8);
PIN(offsetof(tk_forecast_t, full_at_ms) == 16);
PIN(sizeof(tk_forecast_t) == 24);

/* tk_error_t */
PIN(offsetof(tk_error_t, status) == 0);
PIN(offsetof(tk_error_t, message) == 4);
PIN(sizeof(((tk_error_t *)0)->message) == 256);
PIN(sizeof(tk_error_t) == 260);

/* tk_completion_t (asynchronous checks) */
PIN(offsetof(tk_completion_t, cookie) == 0);
PIN(offsetof(tk_completion_t, status) == 8);
PIN(offsetof(tk_completion_t, reserved0) == 12);
PIN(offsetof(tk_completion_t, decision) == 16);
PIN(offsetof(tk_completion_t, message) == 88);
PIN(sizeof(((tk_completion_t *)0)->cookie) == 8);
PIN(sizeof(((tk_completion_t *)0)->message) == 128);
PIN(sizeof(tk_completion_t) == 216);

/* tk_admission_t (concurrency admission, c-abi.md "Functions added in 0.2") */
PIN(offsetof(tk_admission_t, decision) == 0);
PIN(offsetof(tk_admission_t, lease_id) == 72);
PIN(sizeof(((tk_admission_t *)0)->lease_id) == 40);
PIN(offsetof(tk_admission_t, lease_expires_at_ms) == 112);
PIN(offsetof(tk_admission_t, binding_axis) == 120);
PIN(sizeof(((tk_admission_t *)0)->binding_axis) == 16);
PIN(offsetof(tk_admission_t, policy_denied) == 136);
PIN(offsetof(tk_admission_t, reserved32) == 140);
PIN(offsetof(tk_admission_t, reserved) == 144);
PIN(sizeof(tk_admission_t) == 176);

/* Every function has the signature c-abi.md fixes (a mismatch is a compile error). */
static int (*const check_open_redis)(const char *, const char *, const tk_options_t *,
                                     tk_handle_t *, tk_error_t *) = tk_open_redis;
static int (*const check_open_service)(const char *, const tk_options_t *, tk_handle_t *,
                                       tk_error_t *) = tk_open_service;
static int (*const check_free)(tk_handle_t) = tk_free;
static int (*const check_check)(tk_handle_t, const char *, const char *, int64_t,
                                tk_decision_t *, tk_error_t *) = tk_check;
static int (*const check_check_many)(tk_handle_t, const char *, const char *const *, size_t,
                                     int64_t, tk_decision_t *, tk_error_t *) = tk_check_many;
static int (*const check_peek)(tk_handle_t, const char *, const char *, tk_decision_t *,
                               tk_error_t *) = tk_peek;
static int (*const check_forecast)(tk_handle_t, const char *, const char *, int64_t,
                                   tk_forecast_t *, tk_error_t *) = tk_forecast;
static int (*const check_debit)(tk_handle_t, const char *, const char *, int64_t,
                                tk_decision_t *, tk_error_t *) = tk_debit;
static int (*const check_check_at)(tk_handle_t, const char *, const char *, int64_t, int64_t,
                                   tk_decision_t *, tk_error_t *) = tk_check_at;
static int (*const check_check_many_at)(tk_handle_t, const char *, const char *const *, size_t,
                                        int64_t, int64_t, tk_decision_t *,
                                        tk_error_t *) = tk_check_many_at;
static int (*const check_peek_at)(tk_handle_t, const char *, const char *, int64_t,
                                  tk_decision_t *, tk_error_t *) = tk_peek_at;
static int (*const check_forecast_at)(tk_handle_t, const char *, const char *, int64_t, int64_t,
                                      tk_forecast_t *, tk_error_t *) = tk_forecast_at;
static int (*const check_debit_at)(tk_handle_t, const char *, const char *, int64_t, int64_t,
                                   tk_decision_t *, tk_error_t *) = tk_debit_at;
static int (*const check_completion_fd)(tk_handle_t, int *, tk_error_t *) = tk_completion_fd;
static int (*const check_check_async)(tk_handle_t, const char *, const char *, int64_t, uint64_t,
                                      tk_error_t *) = tk_check_async;
static int (*const check_check_async_now)(tk_handle_t, const char *, const char *, int64_t,
                                          uint64_t, tk_decision_t *, int32_t *,
                                          tk_error_t *) = tk_check_async_now;
static int (*const check_poll)(tk_handle_t, tk_completion_t *, size_t, size_t *) = tk_poll;
static int64_t (*const check_debug_goroutines)(void) = tk_debug_goroutines;
static const char *(*const check_strerror)(int) = tk_strerror;
static const char *(*const check_version)(void) = tk_version;
static void (*const check_options_init)(tk_options_t *) = tk_options_init;

static int (*const check_admit)(tk_handle_t, const char *, const char *, int64_t,
                                tk_admission_t *, tk_error_t *) = tk_admit;
static int (*const check_admit_at)(tk_handle_t, const char *, const char *, int64_t, int64_t,
                                   tk_admission_t *, tk_error_t *) = tk_admit_at;
static int (*const check_release)(tk_handle_t, const char *, const char *, const char *, int,
                                  tk_error_t *) = tk_release;
static int (*const check_release_at)(tk_handle_t, const char *, const char *, const char *, int,
                                     int64_t, tk_error_t *) = tk_release_at;
static int (*const check_heartbeat)(tk_handle_t, const char *, const char *, const char *const *,
                                    size_t, size_t *, size_t *, tk_error_t *) = tk_heartbeat;
static int (*const check_heartbeat_at)(tk_handle_t, const char *, const char *,
                                       const char *const *, size_t, int64_t, size_t *, size_t *,
                                       tk_error_t *) = tk_heartbeat_at;
static int (*const check_admit_async)(tk_handle_t, const char *, const char *, int64_t, uint64_t,
                                      tk_error_t *) = tk_admit_async;
static int (*const check_release_async)(tk_handle_t, const char *, const char *, const char *,
                                        int, uint64_t, tk_error_t *) = tk_release_async;

static int (*const check_set_override)(tk_handle_t, const char *, const char *, const char *, int64_t,
                                       tk_error_t *) = tk_set_override;
static int (*const check_clear_override)(tk_handle_t, const char *, const char *,
                                         tk_error_t *) = tk_clear_override;

/* Referenced, so that -Wunused does not object. */
const void *const tk_abi_layout_refs[] = {
    (const void *)&check_open_redis,  (const void *)&check_open_service,
    (const void *)&check_free,        (const void *)&check_check,
    (const void *)&check_check_many,  (const void *)&check_peek,
    (const void *)&check_forecast,    (const void *)&check_debit,
    (const void *)&check_check_at,    (const void *)&check_check_many_at,
    (const void *)&check_peek_at,     (const void *)&check_forecast_at,
    (const void *)&check_debit_at,    (const void *)&check_strerror,
    (const void *)&check_version,     (const void *)&check_options_init,
    (const void *)&check_completion_fd, (const void *)&check_check_async, (const void *)&check_check_async_now,
    (const void *)&check_poll,        (const void *)&check_debug_goroutines,
    (const void *)&check_admit,       (const void *)&check_admit_at,
    (const void *)&check_release,     (const void *)&check_release_at,
    (const void *)&check_heartbeat,   (const void *)&check_heartbeat_at,
    (const void *)&check_admit_async, (const void *)&check_release_async,
    (const void *)&check_set_override, (const void *)&check_clear_override,
};
