/*
 * The core's submission queue (see submit in capi/core.h): host threads push tk_check
 * requests here without entering the Go runtime; the Go side takes them in batches, on the
 * reader goroutine of a stream with calls out (stream.Feeder) or on one goroutine of its own
 * (queue.go). The queue is a lock-free stack that a taker empties at once and reverses
 * into submission order; emptying it whole is what spares it the ABA problem of popping
 * nodes one by one.
 *
 * Waking the goroutine costs a system call and a thread switch, so it is done only when no
 * stream will take the request (queue_fed_by) or the queue has grown as long as the stream's
 * calls out (queue_out), and the goroutine said it is going to sleep: it publishes
 * `sleeping` and looks at the queue once more (queue.go's takeQueue), a pusher
 * publishes its node and then looks at `sleeping` (both sequentially consistent), so at least
 * one of the two sees the other and no request is left unseen.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"

static _Atomic(tk_core_request_t *) queue_head;
static atomic_int queue_sleeping;
static int queue_fd = -1;

/* A handle whose stream has calls out and will feed the queue to them (stream.Feeder): a
   submit for that handle needs no wake-up, except the one that makes the queue as long as
   the stream's calls out (queue_out): the stream writes such a queue at once, so that Redis
   has it before it finishes the batch it has (see client's stream.sendableLocked). One handle
   at a time; the others' submits wake the goroutine as before (a feed, like the goroutine,
   starts every handle's calls). queue_len counts the submits since the last take, whichever
   their handle: an estimate, good enough to choose a moment to wake. */
static _Atomic(tk_handle_t) queue_fed_by;
static atomic_int queue_out;
static atomic_int queue_len;

/* Hidden: only the core's Go side calls these. */
__attribute__((visibility("hidden"))) int tk_core_queue_open(void) {
  queue_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return queue_fd;
}

/* Set by the Go side (queueFeeder) with Go's atomics: the handle when its stream writes, back
   to 0 when it is idle, before it takes the queue (with tkcore_submit's push-then-load, a
   submit that saw the handle here is seen by that take). */
__attribute__((visibility("hidden"))) void *tk_core_queue_fed_by(void) { return (void *)&queue_fed_by; }
__attribute__((visibility("hidden"))) void *tk_core_queue_out(void) { return (void *)&queue_out; }

void tkcore_submit(tk_core_request_t *r) {
  tk_core_request_t *head = atomic_load_explicit(&queue_head, memory_order_relaxed);
  do {
    r->next = head;
  } while (!atomic_compare_exchange_weak(&queue_head, &head, r));
  int queued = atomic_fetch_add(&queue_len, 1) + 1;
  if (atomic_load(&queue_fed_by) == r->handle && queued != atomic_load(&queue_out)) return;
  if (atomic_load(&queue_sleeping) && atomic_exchange(&queue_sleeping, 0))
    eventfd_write(queue_fd, 1);
}

/* The Go side takes the queue with its own atomics on these words (queue.go's
   takeQueue), not with a cgo call: each cgo call enters a system call as far as Go's
   scheduler knows, and wakes its monitor thread when it sleeps, once per batch. */
__attribute__((visibility("hidden"))) void *tk_core_queue_head(void) { return (void *)&queue_head; }
__attribute__((visibility("hidden"))) void *tk_core_queue_sleeping(void) { return (void *)&queue_sleeping; }
__attribute__((visibility("hidden"))) void *tk_core_queue_len(void) { return (void *)&queue_len; }

/* ---- Relayed wake-ups ---------------------------------------------------------------------
 * Completions arrive in batches on the stream's reader goroutine; posting each waiting
 * thread's signal there (a futex wake, often an inter-processor interrupt) made the reader
 * spend a fifth of the process's CPU time waking threads one after the other. Instead the
 * reader posts one, and each woken thread first wakes up to two more: the wake-ups fan
 * out over the cores. The Go side queues a wait on done_head (postDone); `relaying` counts the
 * threads woken that have not yet called tkcore_relay. A queued wait is seen by the poster itself when no thread
 * is relaying, else by a relaying thread when it finishes (it looks at the queue again after
 * leaving the count; both sides sequentially consistent).
 */
static _Atomic(tk_core_wait_t *) done_head;
static atomic_int relaying;

/* Posts a waiting thread's signal (see TK_CORE_SLEEPING in core.h; wait.go's
   postSignal is the same from Go). */
__attribute__((visibility("hidden"))) void tk_core_post(uint32_t *signal) {
  _Atomic uint32_t *word = (_Atomic uint32_t *)signal;
  if (atomic_fetch_add(word, 1) & TK_CORE_SLEEPING)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Posts the first one or two of list, each handed half of the rest to relay. */
static void post_list(tk_core_wait_t *list) {
  if (!list) return;
  tk_core_wait_t *a = list, *b = list->link, *halves[2] = {NULL, NULL};
  tk_core_wait_t *rest = b ? b->link : NULL;
  for (int i = 0; rest; i ^= 1) {
    tk_core_wait_t *next = rest->link;
    rest->link = halves[i];
    halves[i] = rest;
    rest = next;
  }
  a->link = halves[0];
  a->relay = 1;
  if (b) {
    b->link = halves[1];
    b->relay = 1;
  }
  atomic_fetch_add(&relaying, b ? 2 : 1);
  tk_core_post(&a->signal);
  if (b) tk_core_post(&b->signal);
}

static tk_core_wait_t *take_done(void) { return atomic_exchange(&done_head, NULL); }

/* The Go side pushes its completions onto done_head itself, with Go's atomics (sequentially
   consistent, like these), and when it finds relaying at 0 takes the stack and posts its top
   wait, handing it the rest to relay (wait.go's postDone): no cgo call per batch. */

/* Where the words shared with the Go side are. */
__attribute__((visibility("hidden"))) void *tk_core_done_head(void) { return (void *)&done_head; }
__attribute__((visibility("hidden"))) void *tk_core_relaying(void) { return (void *)&relaying; }

static tk_core_wait_t *joined(tk_core_wait_t *a, tk_core_wait_t *b) {
  if (!a) return b;
  tk_core_wait_t *t = a;
  while (t->link) t = t->link;
  t->link = b;
  return a;
}

void tkcore_relay(tk_core_wait_t *w) {
  post_list(joined(w->link, take_done()));
  atomic_fetch_sub(&relaying, 1);
  post_list(take_done());
}
