/* SPDX-License-Identifier: Apache-2.0 */
/*
 * req.c - a request's life: how its submitter waits for it and how the
 * writer completes it. The request lives on its submitter's stack;
 * completing it is the last touch anyone else makes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

/*
 * Complete a chain of requests whose results are already stored. The
 * exchange is our last touch of each request: once it is DONE its owner
 * may return and its stack is gone, so r->next is read before it.
 * FUTEX_WAKE takes the address without reading it, and a waiter reusing
 * that address later tolerates the spurious wake-up.
 *
 * This thread wakes every sleeper itself. Passing the rest of the chain on
 * to the first one woken (which woke the next, and so on) made the wakes
 * of a batch a sequence, each a wake-up latency after the one before:
 * perf/README.md, "wake-all", measured 40-49k records/s with 16 durable
 * writers and 116-133k with 64 that way, against 51-55k and 155-163k with
 * every wake from the writer, for 30-40 % less CPU per record.
 */
void uw_req_complete_chain(struct uwal *w, struct req *r)
{
	/* Asynchronous requests first, in log order, before any waiter
	 * wakes. */
	struct req *ahead = NULL, **atail = &ahead;
	for (struct req **pp = &r; *pp;) {
		struct req *q = *pp;
		if (!q->async) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		q->next = NULL;
		*atail = q;
		atail = &q->next;
	}
	if (ahead)
		uw_async_post(w, ahead);
	while (r) {
		struct req *next = r->next;
		/* acq_rel: release publishes the result to the owner; acquire
		 * orders our read of next before the owner's reuse. */
		uint32_t old = atomic_exchange_explicit(&r->state, REQ_DONE, memory_order_acq_rel);
		if (old == REQ_SLEEPING) {
			atomic_fetch_add_explicit(&w->st_waiter_wakes, 1, memory_order_relaxed);
			uw_io_futex_wake(w->io, (uint32_t *)&r->state, 1);
		}
		r = next;
	}
}

/*
 * wait_nap_pct: before spinning for an fdatasync, sleep on a timer so as
 * to wake at that share of the recent write + fdatasync time (the
 * writer's average), so that the spin covers only the end of the wait.
 * A timed wait ends late by the time this machine takes to wake a
 * sleeping thread (34-40 us on average on the development VM, with the
 * timer slack at 1 ns: uw_io_futex_wait_for): the nap is that much
 * shorter than its share, by the waiters' own measure of how late their
 * naps ended (nap_late_ns, an average over about the last eight naps
 * that ran to their timeout). The request is SLEEPING meanwhile: a
 * completion in that time wakes us as it would any sleeper.
 * Returns 1 to go on waiting (back to PENDING), 0 if r is complete.
 */
static int nap(struct uwal *w, struct req *r)
{
	uint64_t want = atomic_load_explicit(&w->sync_avg_ns, memory_order_relaxed) *
			w->cfg.wait_nap_pct / 100u;
	uint64_t late = atomic_load_explicit(&w->nap_late_ns, memory_order_relaxed);
	if (want < late + 20000) {
		/* Too short to be worth a timer. Forget a lateness that keeps
		 * every nap from running (one late wake-up can weigh 1/8 of a
		 * millisecond), or it would never be measured again. */
		if (late)
			atomic_store_explicit(&w->nap_late_ns, late - late / 8,
					      memory_order_relaxed);
		return 1;
	}
	uint64_t ns = want - late;
	uint32_t exp = REQ_PENDING;
	/* As in uw_req_wait: acq_rel, the writer's exchange sees SLEEPING. */
	if (!atomic_compare_exchange_strong_explicit(&r->state, &exp, REQ_SLEEPING,
						     memory_order_acq_rel, memory_order_acquire))
		return 0;
	uint64_t t0 = uw_io_now_ns();
	uw_io_futex_wait_for(w->io, (uint32_t *)&r->state, REQ_SLEEPING, ns);
	uint64_t slept = uw_io_now_ns() - t0;
	exp = REQ_SLEEPING;
	if (!atomic_compare_exchange_strong_explicit(&r->state, &exp, REQ_PENDING,
						     memory_order_acq_rel, memory_order_acquire))
		return 0; /* completed meanwhile: the wake-up was not the timer's */
	/* The timer's: how late it ended (0 for an early return, EINTR; at
	 * most the nap itself, should the thread have been preempted). */
	uint64_t sample = slept > ns ? slept - ns : 0;
	if (sample > ns)
		sample = ns;
	atomic_store_explicit(&w->nap_late_ns, late - late / 8 + sample / 8, memory_order_relaxed);
	return 1;
}

void uw_req_wait(struct uwal *w, struct req *r)
{
	/* A waiter for an fdatasync (~100 us) spins only while the waiting
	 * threads fit on the CPUs: beyond that, spinners steal the CPU from
	 * the writer and from the threads just acknowledged, which would
	 * submit the next batch. An unsynced acknowledgment comes within
	 * microseconds: sleeping for it would cost more than it saves. */
	uint64_t limit = (uint64_t)w->cfg.wait_spin_us * 1000u;
	bool durable = r->sync || w->cfg.sync_mode != UWAL_SYNC_NONE;
	/* The writer needs a CPU too: spin only while the waiters and the
	 * writer fit on the CPUs (perf/wait-policy.fio: two durable writers
	 * on two CPUs made 7.2k-7.5k records/s spinning at 180-200 us of CPU
	 * per record, 7.8k-8.4k sleeping at 54-59 us; one writer spinning
	 * stayed ahead, 5.4k-10.2k against 4.6k-5.2k). */
	if (durable && (unsigned)atomic_load_explicit(&w->inside, memory_order_relaxed) >= w->ncpu)
		limit = 0;
	/* On the writer's CPU, spinning only delays the writer: sleep now
	 * (one CPU busy with another process put both on the other: an
	 * unsynced writer made 30.7k records/s spinning, 303k sleeping). */
	if (limit &&
	    uw_io_current_cpu() == atomic_load_explicit(&w->writer_cpu, memory_order_relaxed))
		limit = 0;
	if (limit && durable && w->cfg.wait_nap_pct && nap(w, r) == 0)
		return; /* completed while napping */
	uint64_t t0 = limit ? uw_io_now_ns() : 0;

	for (unsigned i = 0; limit; i++) {
		if (atomic_load_explicit(&r->state, memory_order_acquire) == REQ_DONE)
			return;
		if (i < 256)
			uw_io_cpu_relax();
		else
			uw_io_yield();
		if ((i & 15) == 15 && uw_io_now_ns() - t0 > limit)
			break;
	}
	uint32_t exp = REQ_PENDING;
	/* acq_rel: if this fails the request is DONE and we need its result
	 * (acquire); if it succeeds the writer's exchange sees SLEEPING. */
	if (!atomic_compare_exchange_strong_explicit(&r->state, &exp, REQ_SLEEPING,
						     memory_order_acq_rel, memory_order_acquire))
		return;
	atomic_fetch_add_explicit(&w->st_waiter_sleeps, 1, memory_order_relaxed);
	while (atomic_load_explicit(&r->state, memory_order_acquire) != REQ_DONE)
		uw_io_futex_wait(w->io, (uint32_t *)&r->state, REQ_SLEEPING);
}

void uw_req_complete_all(struct uwal *w, struct req *head, int res)
{
	for (struct req *r = head; r; r = r->next)
		if (!r->failed)
			r->result = res;
	uw_req_complete_chain(w, head);
}
