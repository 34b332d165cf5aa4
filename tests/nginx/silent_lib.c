/*
 * silent_lib.c - a stand-in libthrottlekit for tests/nginx/run.sh whose asynchronous checks
 * are accepted and never complete: its completion fd (an eventfd) is never signalled. With
 * it, the module's guard timer is what ends a check. Everything else answers as the real
 * library would for a healthy handle. Built by run.sh with the ABI declarations the module
 * itself uses.
 */
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../bindings/nginx/ngx_http_throttlekit_abi.h"

static int fd = -1;

const char *tk_version(void) { return "silent-test-double"; }
const char *tk_strerror(int status) { return status == TK_OK ? "ok" : "error"; }

static int opened(tk_handle_t *out, tk_error_t *err) {
  if (err) memset(err, 0, sizeof *err);
  *out = 1;
  return TK_OK;
}

int tk_open_redis(const char *url, const char *yaml, const tk_options_t *opts,
                  tk_handle_t *out, tk_error_t *err) {
  (void) url; (void) yaml; (void) opts;
  return opened(out, err);
}

int tk_open_service(const char *target, const tk_options_t *opts, tk_handle_t *out,
                    tk_error_t *err) {
  (void) target; (void) opts;
  return opened(out, err);
}

int tk_free(tk_handle_t h) {
  (void) h;
  if (fd >= 0) close(fd);
  fd = -1;
  return TK_OK;
}

int tk_completion_fd(tk_handle_t h, int *fd_out, tk_error_t *err) {
  (void) h; (void) err;
  if (fd < 0) fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  *fd_out = fd;
  return fd < 0 ? TK_E_INTERNAL : TK_OK;
}

int tk_check_async(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                   uint64_t cookie, tk_error_t *err) {
  (void) h; (void) policy; (void) key; (void) cost; (void) cookie; (void) err;
  return TK_OK;                            /* accepted; never completes */
}

int tk_poll(tk_handle_t h, tk_completion_t *out, size_t max, size_t *n_out) {
  (void) h; (void) out; (void) max;
  *n_out = 0;
  return TK_OK;
}
