/*
 * The core's submission queue (see submit in capi/core.h): host threads push tk_check
 * requests here without entering the Go runtime, and one goroutine (export_queue.go) takes
 * them in batches. The queue is a lock-free stack that the goroutine empties at once and
 * reverses into submission order; emptying it whole is what spares it the ABA problem of
 * popping nodes one by one.
 *
 * Waking the goroutine costs a system call, so it is done only when the goroutine said it is
 * going to sleep: it publishes `sleeping` and looks at the queue once more, a pusher publishes
 * its node and then looks at `sleeping` (both sequentially consistent), so at least one of the
 * two sees the other and no request is left unseen.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <sys/eventfd.h>

#include "core.h"

static _Atomic(tk_core_request_t *) queue_head;
static atomic_int queue_sleeping;
static int queue_fd = -1;

/* Hidden: only the core's Go side calls these two. */
__attribute__((visibility("hidden"))) int tk_core_queue_open(void) {
  queue_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return queue_fd;
}

void tkcore_submit(tk_core_request_t *r) {
  tk_core_request_t *head = atomic_load_explicit(&queue_head, memory_order_relaxed);
  do {
    r->next = head;
  } while (!atomic_compare_exchange_weak(&queue_head, &head, r));
  if (atomic_load(&queue_sleeping) && atomic_exchange(&queue_sleeping, 0))
    eventfd_write(queue_fd, 1);
}

static tk_core_request_t *reversed(tk_core_request_t *r) {
  tk_core_request_t *fifo = NULL;
  while (r) {
    tk_core_request_t *next = r->next;
    r->next = fifo;
    fifo = r;
    r = next;
  }
  return fifo;
}

/* The queued requests, oldest first; NULL after announcing sleep when there are none (the
   caller then waits for queue_fd to become readable). */
__attribute__((visibility("hidden"))) tk_core_request_t *tk_core_queue_take(void) {
  tk_core_request_t *r = atomic_exchange(&queue_head, NULL);
  if (r) return reversed(r);
  atomic_store(&queue_sleeping, 1);
  r = atomic_exchange(&queue_head, NULL);
  if (r) {
    atomic_store(&queue_sleeping, 0);
    return reversed(r);
  }
  return NULL;
}
