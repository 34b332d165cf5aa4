/*
 * local.h - leased credits spent in the shim (local.c), for tk_check_async_now.
 */
#ifndef TK_LOCAL_H
#define TK_LOCAL_H

#include <stdint.h>

#include "core.h"
#include "throttlekit.h"

/* Answers a check from a chunk the shim holds for (h, policy, key): 1 with out written. Else 0,
   with *want the units to ask the core for (0: none, the key is not hot) and *gen the value to
   hand local_keep. */
int local_spend(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_decision_t *out, int64_t *want, uint64_t *gen);

/* Keeps the chunk the core granted with decision d (the check that took it), unless
   local_forget ran since gen was read. */
void local_keep(tk_handle_t h, const char *policy, const char *key, uint64_t gen,
                const tk_decision_t *d, const tk_core_chunk_t *chunk);

/* Drops every chunk of h (tk_reset, the override calls, tk_free). */
void local_forget(tk_handle_t h);

#endif
