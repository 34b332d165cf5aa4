/*
 * credits.h - the slots of credits.c: leased credits a host thread spends without entering Go.
 * tkcore_local_spend is the shim's (capi/core.h); the others are L1's, called from Go with the
 * key's L1 lock held (internal/cabi/credits.go).
 */
#ifndef TK_CREDITS_H
#define TK_CREDITS_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Hands L1's chunk of granted units of (h, policy, key) to its slot; checks answered from it
   report tmpl with remaining counted down to tmpl->remaining. 0: the slot is another key's,
   nothing kept (L1 keeps the units). until_ms: when they lapse (epoch ms; INT64_MAX: never). */
int tkcore_local_keep(tk_handle_t h, const char *policy, size_t plen, const char *key, size_t klen,
                  const tk_decision_t *tmpl, int64_t granted, int64_t until_ms);

/* Empties the slot of (h, policy, key) and returns the units it held still valid. */
int64_t tkcore_local_take_back(tk_handle_t h, const char *policy, size_t plen, const char *key,
                           size_t klen);

/* Empties every slot of h (tk_free, a policy swap). */
void tkcore_local_forget(tk_handle_t h);

#endif
