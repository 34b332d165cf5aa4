/*
 * A hot key's leased credits, spent by tk_check_async_now without entering Go: the crossing
 * into Go was most of what a leased nginx request cost (BENCHMARKS.md, "Two-tier leasing").
 *
 * The slots are a second holder of credits beside L1, never a second store: L1 hands a slot a
 * chunk (tkcore_local_keep) and takes what is left back (tkcore_local_take_back) before it leases or
 * refills, both under the key's L1 lock, so a process still leases only when it holds no
 * credits (two-tier.md §3). A host thread only spends (tkcore_local_spend). Units can lapse
 * unspent (a window-coupled chunk at its window's end, a slot taken by another key after
 * IDLE_MS), never be spent twice.
 */
#define _GNU_SOURCE
#include "credits.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define SLOTS 256          /* keys held at once, direct-mapped by hash */
#define STRIPES 16         /* locks over the slots */
#define NAME_BYTES 192     /* policy and key together; a longer pair is never held */
#define CHUNK 64           /* units asked for at once (L1 gives at most a batch / 16) */
#define HOT_MS 1           /* a key called again within this is hot */
#define IDLE_MS 1000       /* a slot whose key was not called for this long may change keys */

typedef struct {
  tk_handle_t h;           /* 0: empty */
  int64_t last_ms;         /* the key's last call */
  int64_t left;            /* units of the chunk not spent */
  int64_t base;            /* L1's remaining once the chunk was taken */
  int64_t until_ms;        /* the chunk's end */
  tk_decision_t tmpl;      /* what a check answered from the chunk reports */
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

/* Epoch milliseconds: the wall clock L1 reads for a C handle's calls. */
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

/* Whether the slot may change keys: nothing held, or its key has gone quiet. */
static int free_for_another(const slot_t *s, int64_t now) {
  return s->h == 0 || s->left == 0 || now - s->last_ms > IDLE_MS;
}

static void claim(slot_t *s, tk_handle_t h, const char *policy, size_t plen, const char *key,
                  size_t klen, int64_t now) {
  s->h = h;
  s->plen = plen;
  s->klen = klen;
  memcpy(s->name, policy, plen);
  memcpy(s->name + plen, key, klen);
  s->left = 0;
  s->last_ms = now;
}

int tkcore_local_spend(tk_handle_t h, const char *policy, const char *key, int64_t cost,
                       tk_decision_t *out, int64_t *want) {
  size_t plen = strlen(policy), klen = strlen(key);
  *want = 0;
  if (plen + klen > NAME_BYTES) return 0;
  if (cost == 0) cost = 1; /* the contract's "0 means 1" */
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
  } else if (free_for_another(s, now)) {
    claim(s, h, policy, plen, key, klen, now); /* a chunk once the key is hot */
  }
  pthread_mutex_unlock(&stripes[i % STRIPES]);
  return answered;
}

int tkcore_local_keep(tk_handle_t h, const char *policy, size_t plen, const char *key, size_t klen,
                  const tk_decision_t *tmpl, int64_t granted, int64_t until_ms) {
  if (plen + klen > NAME_BYTES || granted <= 0) return 0;
  size_t i = slot_of(h, policy, plen, key, klen);
  slot_t *s = &slots[i];
  int64_t now = now_ms();
  int kept = 1;
  pthread_mutex_lock(&stripes[i % STRIPES]);
  if (!holds(s, h, policy, plen, key, klen)) {
    if (free_for_another(s, now))
      claim(s, h, policy, plen, key, klen, now);
    else
      kept = 0;
  }
  if (kept) {
    /* Still held from this window: the units add up; L1's count is the newer one. */
    s->left = (s->left > 0 && s->until_ms == until_ms && now < until_ms) ? s->left + granted
                                                                          : granted;
    s->base = tmpl->remaining;
    s->tmpl = *tmpl;
    s->until_ms = until_ms;
  }
  pthread_mutex_unlock(&stripes[i % STRIPES]);
  return kept;
}

int64_t tkcore_local_take_back(tk_handle_t h, const char *policy, size_t plen, const char *key,
                           size_t klen) {
  if (plen + klen > NAME_BYTES) return 0;
  size_t i = slot_of(h, policy, plen, key, klen);
  slot_t *s = &slots[i];
  int64_t left = 0;
  pthread_mutex_lock(&stripes[i % STRIPES]);
  if (holds(s, h, policy, plen, key, klen)) {
    if (now_ms() < s->until_ms) left = s->left;
    s->left = 0;
  }
  pthread_mutex_unlock(&stripes[i % STRIPES]);
  return left;
}

void tkcore_local_forget(tk_handle_t h) {
  for (size_t i = 0; i < SLOTS; i++) {
    pthread_mutex_lock(&stripes[i % STRIPES]);
    if (slots[i].h == h) memset(&slots[i], 0, sizeof slots[i]);
    pthread_mutex_unlock(&stripes[i % STRIPES]);
  }
}
