/*
 * local.c - leased credits spent in the shim, so that an event loop's local hits need not
 * enter Go (BENCHMARKS.md, "Two-tier leasing": the crossing itself was most of what a leased
 * nginx request cost).
 *
 * tk_check_async_now asks the core for a chunk of a key's L1 credits when the key is hot (its
 * previous call came within HOT_MS). The core counts them as spent, so the fleet's bound is the
 * core's, and the shim answers the key's next checks from them with the decision the core
 * gives for its own local hits: allowed, TK_DECISION_LOCAL, the policy's limit, window and
 * reset, remaining counted down from the core's. Units can lapse unspent, never be spent twice:
 * at a window-coupled chunk's end (as the core's own), when a slot idle for IDLE_MS is taken
 * by another key, and when a key loses its slot between asking for a chunk and keeping it.
 */
#define _GNU_SOURCE
#include "local.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define SLOTS 256          /* keys held at once, direct-mapped by hash */
#define STRIPES 16         /* locks over the slots */
#define NAME_BYTES 192     /* policy and key together; a longer pair is never held */
#define CHUNK 64           /* units asked for at once (the core gives at most a batch / 16) */
#define HOT_MS 1           /* a key called again within this is hot */
#define IDLE_MS 1000       /* a slot whose key was not called for this long may change keys */

typedef struct {
  tk_handle_t h;           /* 0: empty */
  int64_t last_ms;         /* the key's last call */
  int64_t left;            /* units of the chunk not spent */
  int64_t base;            /* the core's remaining once the chunk was taken */
  int64_t until_ms;        /* the chunk's end */
  tk_decision_t tmpl;      /* the decision of the check that took the chunk */
  size_t plen, klen;
  char name[NAME_BYTES];   /* the policy's bytes, then the key's */
} slot_t;

static slot_t slots[SLOTS];
static pthread_mutex_t stripes[STRIPES] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER};
static _Atomic uint64_t generation; /* bumped by every local_forget */

/* Epoch milliseconds: the clock the core's L1 reads. */
static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static size_t slot_of(tk_handle_t h, const char *policy, size_t plen, const char *key,
                      size_t klen) {
  uint64_t x = 1469598103934665603ULL ^ h; /* FNV-1a */
  for (size_t i = 0; i < plen; i++) x = (x ^ (unsigned char)policy[i]) * 1099511628211ULL;
  x = (x ^ 0xff) * 1099511628211ULL;
  for (size_t i = 0; i < klen; i++) x = (x ^ (unsigned char)key[i]) * 1099511628211ULL;
  return (size_t)(x % SLOTS);
}

static int holds(const slot_t *s, tk_handle_t h, const char *policy, size_t plen,
                 const char *key, size_t klen) {
  return s->h == h && s->plen == plen && s->klen == klen && memcmp(s->name, policy, plen) == 0 &&
         memcmp(s->name + plen, key, klen) == 0;
}

int local_spend(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                tk_decision_t *out, int64_t *want, uint64_t *gen) {
  size_t plen = strlen(policy), klen = strlen(key);
  *want = 0;
  *gen = atomic_load(&generation);
  if (plen + klen > NAME_BYTES) return 0;
  size_t i = slot_of(h, policy, plen, key, klen);
  slot_t *s = &slots[i];
  int64_t now = now_ms();
  int answered = 0;
  pthread_mutex_lock(&stripes[i % STRIPES]);
  if (holds(s, h, policy, plen, key, klen)) {
    if (now >= s->until_ms) s->left = 0; /* the window it was granted for has ended */
    if (s->left >= cost) {
      s->left -= cost;
      *out = s->tmpl;
      out->remaining = s->base + s->left;
      answered = 1;
    } else if (now - s->last_ms <= HOT_MS) {
      *want = CHUNK;
    }
    s->last_ms = now;
  } else if (s->h == 0 || s->left == 0 || now - s->last_ms > IDLE_MS) {
    s->h = h; /* the slot is this key's from now on; a chunk once it is hot */
    s->plen = plen;
    s->klen = klen;
    memcpy(s->name, policy, plen);
    memcpy(s->name + plen, key, klen);
    s->left = 0;
    s->last_ms = now;
  }
  pthread_mutex_unlock(&stripes[i % STRIPES]);
  return answered;
}

void local_keep(tk_handle_t h, const char *policy, const char *key, uint64_t gen,
                const tk_decision_t *d, const tk_core_chunk_t *chunk) {
  if (chunk->granted <= 0 || !d->allowed) return;
  size_t plen = strlen(policy), klen = strlen(key);
  size_t i = slot_of(h, policy, plen, key, klen);
  slot_t *s = &slots[i];
  pthread_mutex_lock(&stripes[i % STRIPES]);
  if (holds(s, h, policy, plen, key, klen) && atomic_load(&generation) == gen) {
    int64_t base = d->remaining - chunk->granted;
    if (s->left > 0 && s->until_ms == chunk->valid_until_ms) {
      /* Threads that asked at once: one chunk of them all, counted from the later grant. */
      s->left += chunk->granted;
      if (base < s->base) {
        s->tmpl = *d;
        s->base = base;
      }
    } else {
      s->tmpl = *d;
      s->left = chunk->granted;
      s->base = base;
      s->until_ms = chunk->valid_until_ms;
    }
  }
  pthread_mutex_unlock(&stripes[i % STRIPES]);
}

void local_forget(tk_handle_t h) {
  atomic_fetch_add(&generation, 1);
  for (size_t i = 0; i < SLOTS; i++) {
    pthread_mutex_lock(&stripes[i % STRIPES]);
    if (slots[i].h == h) memset(&slots[i], 0, sizeof slots[i]);
    pthread_mutex_unlock(&stripes[i % STRIPES]);
  }
}
