/*
 * abi_probe: what tests/build/run.sh asks of a freshly built libthrottlekit.
 *
 *   abi_probe core PATH   prints the TK_CORE_ABI the core at PATH was built with (its
 *                         tkcore_abi_version), loaded directly with dlopen
 *   abi_probe open        tk_open_redis through the shim this program is linked with, which
 *                         loads its core (THROTTLEKIT_CORE, or the one beside the shim) and
 *                         checks the core's ABI against its own; nothing is dialled. Prints
 *                         "ok", or the status and message; exit status 0 only on success.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "throttlekit.h"

static const char policies[] =
    "limiters:\n"
    "  probe: { strategy: fixedWindow, limit: 1, period: 1m }\n";

static int core_abi(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "abi_probe: dlopen %s: %s\n", path, dlerror());
    return 1;
  }
  int (*abi_version)(void);
  *(void **)(&abi_version) = dlsym(lib, "tkcore_abi_version");
  if (!abi_version) {
    fprintf(stderr, "abi_probe: %s has no tkcore_abi_version\n", path);
    return 1;
  }
  printf("%d\n", abi_version());
  return 0;
}

static int open_handle(void) {
  tk_handle_t h = 0;
  tk_error_t err;
  memset(&err, 0, sizeof err);
  int rc = tk_open_redis("redis://127.0.0.1:1/0", policies, NULL, &h, &err);
  if (rc != TK_OK) {
    printf("status %d: %s\n", rc, err.message);
    return 1;
  }
  rc = tk_free(h);
  if (rc != TK_OK) {
    printf("tk_free: status %d\n", rc);
    return 1;
  }
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "core") == 0) return core_abi(argv[2]);
  if (argc == 2 && strcmp(argv[1], "open") == 0) return open_handle();
  fprintf(stderr, "usage: abi_probe core PATH | abi_probe open\n");
  return 2;
}
