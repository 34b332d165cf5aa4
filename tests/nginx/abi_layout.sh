#!/usr/bin/env bash
# tests/nginx/abi_layout.sh - the nginx module restates the C ABI's types in
# bindings/nginx/ngx_http_throttlekit_abi.h (it never includes the public header: the module
# builds inside nginx's tree and dlopen()s the library). This compares the sizes and field
# offsets of both declarations, and the status and flag values, and fails on any difference.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/layout.c" <<'C'
#include <stdio.h>
#include <stddef.h>
#include HEADER
#define F(t, f) printf(#t "." #f " %zu %zu\n", offsetof(t, f), sizeof(((t *) 0)->f))
#define S(t) printf(#t " %zu\n", sizeof(t))
#define V(v) printf(#v " %d\n", (int) (v))
int main(void) {
  S(tk_handle_t);
  S(tk_options_t); F(tk_options_t, struct_size); F(tk_options_t, timeout_ms);
  F(tk_options_t, fail_mode); F(tk_options_t, local_max_keys); F(tk_options_t, key_namespace);
  F(tk_options_t, tls_ca_file); F(tk_options_t, tls_cert_file); F(tk_options_t, tls_key_file);
  F(tk_options_t, auth_token); F(tk_options_t, auto_pipeline); F(tk_options_t, shadow);
  F(tk_options_t, lease_ttl_ms); F(tk_options_t, lease_heartbeat);
  S(tk_decision_t); F(tk_decision_t, allowed); F(tk_decision_t, flags); F(tk_decision_t, limit);
  F(tk_decision_t, remaining); F(tk_decision_t, reset_at_ms); F(tk_decision_t, retry_after_ms);
  F(tk_decision_t, reserved);
  S(tk_error_t); F(tk_error_t, status); F(tk_error_t, message);
  S(tk_completion_t); F(tk_completion_t, cookie); F(tk_completion_t, status);
  F(tk_completion_t, reserved0); F(tk_completion_t, decision); F(tk_completion_t, message);
  S(tk_check_item_t); F(tk_check_item_t, policy); F(tk_check_item_t, key); F(tk_check_item_t, cost);
  V(TK_OK); V(TK_E_INVALID); V(TK_E_BADHANDLE); V(TK_E_NOT_FOUND); V(TK_E_UNSUPPORTED);
  V(TK_E_UNAVAILABLE); V(TK_E_TIMEOUT); V(TK_E_CONFIG); V(TK_E_FORKED); V(TK_E_INTERNAL);
  V(TK_E_AUTH); V(TK_FAIL_ERROR); V(TK_FAIL_OPEN); V(TK_FAIL_CLOSED);
  V(TK_DECISION_SYNTHESIZED); V(TK_DECISION_SHADOW); V(TK_DECISION_LOCAL);
  return 0;
}
C
"$CC" -std=c11 -Wall -Wextra -Werror -DHEADER="\"$root/include/throttlekit.h\"" \
  -o "$tmp/public" "$tmp/layout.c"
"$CC" -std=c11 -Wall -Wextra -Werror \
  -DHEADER="\"$root/bindings/nginx/ngx_http_throttlekit_abi.h\"" -o "$tmp/module" "$tmp/layout.c"
if diff -u <("$tmp/public") <("$tmp/module"); then
  echo "ok   - the module's ABI declarations match include/throttlekit.h"
else
  echo "FAIL - bindings/nginx/ngx_http_throttlekit_abi.h differs from include/throttlekit.h"
  exit 1
fi
