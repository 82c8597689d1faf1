/*
 * submit.c - the submitter's side of the append path: push a request into
 * the queue of the current CPU, wake the writer if it sleeps, wait for the
 * acknowledgment; and the chained completion both sides share.
 *
 * The append path as a whole (this file and writer.c):
 *
 * Normal flow
 * -----------
 * 1. A submitter (any thread in uwal_write*) builds a request on its stack,
 *    pushes a pointer to it into the queue of the CPU it runs on, wakes the
 *    writer only if the writer is asleep, and waits on the request's futex
 *    word (spinning, then yielding, then sleeping).
 * 2. The writer drains every queue into its pending list, and turns the
 *    pending requests into a batch: it refuses duplicates (against the
 *    index and the batch; nothing else is ever in flight when a batch is
 *    built), encodes each record with msgpack and CRC32C straight into
 *    one buffer, and stops at max_batch_size, at the segment's end, or (in
 *    UWAL_SYNC_ALWAYS) after one request.
 * 3. A batch that must be durable goes to io_uring as a linked write +
 *    fdatasync; one that need not is written with pwrite (or a lone ring
 *    write, see enum uwal_write_path). While it is in flight new requests
 *    pile up in the queues and form the next batch: group commit adapts to
 *    the device with no timer.
 * 4. When the batch completed in full, the writer publishes its records in
 *    the index (under the handle's lock), then completes the requests in
 *    log order. Completing is one atomic exchange on the request's futex
 *    word; if that waiter was asleep, the writer wakes it and hands it the
 *    rest of the batch to complete, so the writer itself makes at most one
 *    futex call per batch and gets back to the ring.
 *
 * Failure modes
 * -------------
 * - A failed or short write, or a failed fdatasync: every request of the
 *   batch fails with that error, the handle is poisoned, and every request
 *   after it fails with UWAL_EPOISONED. Nothing is published; the
 *   fdatasync is never retried.
 * - The next segment cannot be prepared: the requests waiting for it fail
 *   with that error, nothing is written, and the handle stays usable.
 * - Duplicate index: only that request fails (UWAL_EEXIST).
 * - Close: new submitters get UWAL_ESHUTDOWN; whatever was pushed before is
 *   written, the active segment is fdatasynced, and the writer exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- completion -------------------------------------------------------- */

/*
 * Complete a chain of requests whose results are already stored. The
 * exchange is our last touch of each request: once it is DONE its owner
 * may return and its stack is gone. If the owner was asleep, it owns the
 * rest of the chain from here (it reads r->next after waking), and we only
 * wake it; FUTEX_WAKE takes the address without reading it, and a waiter
 * reusing that address later tolerates the spurious wake-up.
 */
void req_complete_chain(struct req *r)
{
	while (r) {
		struct req *next = r->next;
		/* acq_rel: release publishes result and next to the owner;
		 * acquire orders our read of next before the owner's reuse. */
		uint32_t old = atomic_exchange_explicit(&r->state, REQ_DONE, memory_order_acq_rel);
		if (old == REQ_SLEEPING) {
			uio_futex_wake((uint32_t *)&r->state, 1);
			return;
		}
		r = next;
	}
}

static void req_wait(struct uwal *w, struct req *r)
{
	/* A waiter for an fdatasync (~100 us) spins only while the waiting
	 * threads fit on the CPUs: beyond that, spinners steal the CPU from
	 * the writer and from the threads just acknowledged, which would
	 * submit the next batch. An unsynced acknowledgment comes within
	 * microseconds: sleeping for it would cost more than it saves. */
	uint64_t limit = (uint64_t)w->cfg.wait_spin_us * 1000u;
	bool durable = r->sync || w->cfg.sync_mode != UWAL_SYNC_NONE;
	if (durable && (unsigned)atomic_load_explicit(&w->inside, memory_order_relaxed) > w->ncpu)
		limit = 0;
	uint64_t t0 = limit ? uio_now_ns() : 0;

	for (unsigned i = 0; limit; i++) {
		if (atomic_load_explicit(&r->state, memory_order_acquire) == REQ_DONE)
			return;
		if (i < 256)
			uio_cpu_relax();
		else
			uio_yield();
		if ((i & 15) == 15 && uio_now_ns() - t0 > limit)
			break;
	}
	uint32_t exp = REQ_PENDING;
	/* acq_rel: if this fails the request is DONE and we need its result
	 * (acquire); if it succeeds the writer's exchange sees SLEEPING. */
	if (!atomic_compare_exchange_strong_explicit(&r->state, &exp, REQ_SLEEPING,
						     memory_order_acq_rel, memory_order_acquire))
		return;
	while (atomic_load_explicit(&r->state, memory_order_acquire) != REQ_DONE)
		uio_futex_wait((uint32_t *)&r->state, REQ_SLEEPING);
	/* We were asleep when completed: the rest of the chain is ours. */
	req_complete_chain(r->next);
}
/* ---- submission ------------------------------------------------------ */

static void wake_writer(struct uwal *w)
{
	/* seq_cst fence: our push (a release store) must be visible before we
	 * read writer_sleeping; the writer does store(sleeping), fence, then
	 * looks at the queues. One of us sees the other (Dekker). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&w->writer_sleeping, memory_order_relaxed))
		return;
	if (atomic_exchange(&w->wake_pending, 1))
		return; /* someone already signalled this sleep */
	atomic_fetch_add_explicit(&w->st_wakeups, 1, memory_order_relaxed);
	uio_eventfd_signal(w->wake_fd);
}

int pipe_submit(struct uwal *w, struct req *r)
{
	int ret;

	atomic_init(&r->state, REQ_PENDING);
	r->result = 0;
	r->next = NULL;
	/* seq_cst: pairs with uwal_close()'s store of closing; a submitter
	 * that saw closing == 0 is counted in enqueuing until its push is
	 * done, and the writer does not exit while enqueuing > 0. */
	atomic_fetch_add(&w->inside, 1);
	atomic_fetch_add(&w->enqueuing, 1);
	if (atomic_load(&w->closing)) {
		ret = UWAL_ESHUTDOWN;
		goto out_enqueuing;
	}
	if (atomic_load_explicit(&w->poisoned, memory_order_relaxed)) {
		ret = UWAL_EPOISONED;
		goto out_enqueuing;
	}
	unsigned start = (unsigned)uio_current_cpu() % w->nq;
	for (unsigned k = 0;; k++) {
		if (pq_push(&w->queues[(start + k) % w->nq], r))
			break;
		if (k + 1 >= w->nq) {
			/* Every queue is full: let the writer catch up. */
			atomic_fetch_add_explicit(&w->st_qfull, 1, memory_order_relaxed);
			wake_writer(w);
			uio_yield();
			k = (unsigned)-1;
		}
	}
	atomic_fetch_sub(&w->enqueuing, 1);
	wake_writer(w);
	req_wait(w, r);
	ret = r->result;
	atomic_fetch_sub(&w->inside, 1);
	return ret;

out_enqueuing:
	atomic_fetch_sub(&w->enqueuing, 1);
	atomic_fetch_sub(&w->inside, 1);
	return ret;
}
