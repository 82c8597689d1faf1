/* SPDX-License-Identifier: Apache-2.0 */
/*
 * submit.c - the submitter's side of the append path: push a request into
 * the queue of the current CPU, wake the writer if it sleeps, and wait for
 * the acknowledgment (req.c).
 *
 * The append path as a whole (this file, req.c and writer.c):
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
 *    word; if that waiter was asleep, the writer wakes it (one futex call
 *    per sleeper, all from the writer: req.c says why). A durable batch's
 *    woken writers mostly write again at once: the writer gives them up
 *    to rejoin_us to come back before it sends the next batch (writer.c,
 *    rejoin()), so they share its fdatasync.
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
	uw_io_eventfd_signal(w->io, w->wake_fd);
}

/*
 * Push r into a queue; the caller is counted in w->inside. 0, or
 * UWAL_ESHUTDOWN / UWAL_EPOISONED (not queued). Once queued, r may be
 * completed at any moment: an asynchronous request is then freed.
 */
/*
 * The queue of a thread that has submitted asynchronously, -1 before: it
 * pushes every request there from then on, and waits rather than spill
 * into another queue when it is full. Its submissions are several in
 * flight at once, and the writer drains the queues in turn, each in order:
 * requests of one thread spread over two queues could be taken out of its
 * call order. (A thread with one blocking request at a time cannot be.)
 */
static __thread int home_queue = -1;

static int enqueue(struct uwal *w, struct req *r)
{
	/* seq_cst: pairs with uwal_close()'s store of closing; a submitter
	 * that saw closing == 0 is counted in enqueuing until its push is
	 * done, and the writer does not exit while enqueuing > 0. */
	atomic_fetch_add(&w->enqueuing, 1);
	if (atomic_load(&w->closing) || atomic_load_explicit(&w->shut, memory_order_relaxed)) {
		atomic_fetch_sub(&w->enqueuing, 1);
		return UWAL_ESHUTDOWN;
	}
	if (atomic_load_explicit(&w->poisoned, memory_order_relaxed)) {
		atomic_fetch_sub(&w->enqueuing, 1);
		return UWAL_EPOISONED;
	}
	int cpu = uw_io_current_cpu();
	/* Relaxed, and written only when it changes (one cache line all
	 * submitters share): a hint for the writer's idle spin. */
	if (atomic_load_explicit(&w->submit_cpu, memory_order_relaxed) != cpu)
		atomic_store_explicit(&w->submit_cpu, cpu, memory_order_relaxed);
	if (r->async && home_queue < 0)
		home_queue = cpu;
	/* A thread with a home queue never spills into the others. */
	bool spill = home_queue < 0;
	unsigned start = (unsigned)(spill ? cpu : home_queue) % w->nq;
	for (unsigned k = 0;; k++) {
		if (uw_pq_push(&w->queues[(start + k) % w->nq], r))
			break;
		if (!spill || k + 1 >= w->nq) {
			/* Every queue is full: let the writer catch up. */
			atomic_fetch_add_explicit(&w->st_qfull, 1, memory_order_relaxed);
			wake_writer(w);
			uw_io_yield();
			k = (unsigned)-1;
		}
	}
	atomic_fetch_sub(&w->enqueuing, 1);
	wake_writer(w);
	return 0;
}

static void init_req(struct req *r)
{
	atomic_init(&r->state, REQ_PENDING);
	r->result = 0;
	r->failed = false;
	r->next = NULL;
}

int uw_pipe_submit(struct uwal *w, struct req *r)
{
	/* A child of fork() has no writer thread: fail, never wait. */
	if (atomic_load_explicit(&w->forked, memory_order_relaxed))
		return UWAL_EFORKED;
	init_req(r);
	atomic_fetch_add(&w->inside, 1);
	int ret = enqueue(w, r);
	if (ret == 0) {
		uw_req_wait(w, r);
		ret = r->result;
	}
	atomic_fetch_sub(&w->inside, 1);
	return ret;
}

int uw_pipe_submit_async(struct uwal *w, struct req *r)
{
	if (atomic_load_explicit(&w->forked, memory_order_relaxed))
		return UWAL_EFORKED;
	init_req(r);
	r->async = true;
	atomic_fetch_add(&w->inside, 1);
	int ret = enqueue(w, r);
	atomic_fetch_sub(&w->inside, 1);
	return ret;
}
