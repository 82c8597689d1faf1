/* SPDX-License-Identifier: Apache-2.0 */
/*
 * async.c - the server API: asynchronous submissions and their
 * completions, uwal_sync() and uwal_shutdown().
 *
 * A submission is a request like a blocking write's (req.h), allocated
 * with copies of its records and queued the same way (submit.c), so it
 * takes its place in log order among the blocking writes. The writer
 * completes it like any request; uw_req_complete_chain() hands the
 * asynchronous ones of a chain to uw_async_post(), on the writer's thread
 * and in log order, which appends their completions to the handle's queue
 * and frees them.
 *
 * The window: async_out counts the submissions accepted and not reaped.
 * uwal_submit() refuses one more than cfg.async_window (UWAL_EAGAIN), so
 * the completion queue (async_window entries) never overflows and the
 * writer never waits for a reaper.
 *
 * Waking reapers: comp_seq is bumped under comp_mu at every post; a reaper
 * that found the queue empty read comp_seq under the same lock, counts
 * itself in comp_waiters and sleeps on comp_seq. The poster wakes the word
 * only while comp_waiters > 0 (seq_cst on both sides: one of them sees the
 * other). The eventfd is signalled when the queue becomes non-empty and
 * drained when a reap empties it: readable exactly while completions wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void uw_async_post(struct uwal *w, struct req *head)
{
	size_t cap = w->cfg.async_window;
	pthread_mutex_lock(&w->comp_mu);
	bool was_empty = w->comp_n == 0;
	for (struct req *r = head; r; r = r->next) {
		/* Never full: at most async_window submissions are accepted and
		 * not reaped (see the top). */
		w->comp[(w->comp_head + w->comp_n) % cap] = (uwal_completion){
			.user_data = r->user_data,
			.first_index = r->result == 0 ? r->first_index : 0,
			.count = r->n,
			.result = r->result,
		};
		w->comp_n++;
	}
	atomic_fetch_add(&w->comp_seq, 1);
	if (was_empty && !w->comp_armed) {
		w->comp_armed = true;
		uw_io_eventfd_signal(w->io, w->comp_fd);
	}
	pthread_mutex_unlock(&w->comp_mu);
	if (atomic_load(&w->comp_waiters) > 0)
		uw_io_futex_wake(w->io, (uint32_t *)&w->comp_seq, INT32_MAX);
	while (head) {
		struct req *next = head->next;
		free(head);
		head = next;
	}
}

/* The checks every call of this file makes first; 0 or the error. */
static int usable(uwal *w)
{
	if (!w)
		return UWAL_EINVAL;
	if (w->cfg.open_flags & UWAL_OPEN_READONLY)
		return UWAL_EREADONLY;
	if (atomic_load_explicit(&w->forked, memory_order_relaxed))
		return UWAL_EFORKED;
	return 0;
}

/*
 * Records with explicit indexes are encoded here, on the submitter's
 * thread, with the active segment's salt (the writer copies the frames and
 * computes the crcs again only after a rotation): the writer, one thread
 * for every submitter, is left with the copy. One allocation: the request,
 * its records (their indexes only), then the frames.
 */
static struct req *encode_req(struct uwal *w, const uwal_record *recs, size_t n, size_t bytes)
{
	struct req *r = malloc(sizeof(*r) + n * sizeof(uwal_record) + bytes);
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	uwal_record *v = (uwal_record *)(r + 1);
	uint8_t *p = (uint8_t *)(v + n);
	uint32_t salt = atomic_load_explicit(&w->cur_salt, memory_order_relaxed);
	r->frames = p;
	r->frames_salt = salt;
	for (size_t i = 0; i < n; i++) {
		v[i] = (uwal_record){.index = recs[i].index};
		/* As the writer encodes: all but the last say "more follows". */
		uint8_t flags = i + 1 < n ? FMT_FRAME_MORE : 0;
		p += uw_fmt_record_frame_encode(p, salt, flags, recs[i].index, recs[i].key,
						recs[i].key_len, recs[i].value, recs[i].value_len);
	}
	r->recs = v;
	r->n = (uint32_t)n;
	return r;
}

/* One allocation: the request, its records, then their bytes. */
static struct req *copy_req(const uwal_record *recs, size_t n)
{
	size_t data = 0;
	for (size_t i = 0; i < n; i++)
		data += recs[i].key_len + recs[i].value_len;
	struct req *r = malloc(sizeof(*r) + n * sizeof(uwal_record) + data);
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	uwal_record *v = (uwal_record *)(r + 1);
	uint8_t *p = (uint8_t *)(v + n);
	for (size_t i = 0; i < n; i++) {
		v[i] = recs[i];
		if (recs[i].key_len) {
			memcpy(p, recs[i].key, recs[i].key_len);
			v[i].key = p;
			p += recs[i].key_len;
		}
		if (recs[i].value_len) {
			memcpy(p, recs[i].value, recs[i].value_len);
			v[i].value = p;
			p += recs[i].value_len;
		}
	}
	r->recs = v;
	r->n = (uint32_t)n;
	return r;
}

int uwal_submit(uwal *w, const uwal_record *recs, size_t n, unsigned flags, uint64_t user_data)
{
	int ret = usable(w);
	if (ret < 0)
		return ret;
	if ((flags & ~UWAL_SUBMIT_SYNC) || (!recs && n) ||
	    (n == 0 && !(flags & UWAL_SUBMIT_SYNC)) || (recs && n == 0))
		return UWAL_EINVAL;
	if (n > UINT32_MAX)
		return UWAL_ETOOBIG;
	size_t bytes = 0;
	ret = uw_wal_check_records(w, recs, n, &bytes);
	if (ret < 0)
		return ret;
	/* Take a place in the window first: a refused submission costs no
	 * allocation. */
	if (atomic_fetch_add(&w->async_out, 1) >= w->cfg.async_window) {
		atomic_fetch_sub(&w->async_out, 1);
		return UWAL_EAGAIN;
	}
	bool assigned = false;
	for (size_t i = 0; i < n && !assigned; i++)
		assigned = recs[i].index == 0;
	/* Assigned indexes are known only to the writer, which encodes them. */
	struct req *r = assigned ? copy_req(recs, n) : encode_req(w, recs, n, bytes);
	if (!r) {
		atomic_fetch_sub(&w->async_out, 1);
		return -ENOMEM;
	}
	r->kind = n ? REQ_WRITE : REQ_SYNC;
	r->sync = flags & UWAL_SUBMIT_SYNC;
	r->bytes = bytes;
	r->user_data = user_data;
	ret = uw_pipe_submit_async(w, r);
	if (ret < 0) {
		free(r);
		atomic_fetch_sub(&w->async_out, 1);
	}
	uw_wal_flush_log(w);
	return ret;
}

/* Take up to max completions; the number taken. */
static size_t take(struct uwal *w, uwal_completion *out, size_t max, uint32_t *seq)
{
	size_t cap = w->cfg.async_window;
	pthread_mutex_lock(&w->comp_mu);
	size_t k = w->comp_n < max ? w->comp_n : max;
	for (size_t i = 0; i < k; i++)
		out[i] = w->comp[(w->comp_head + i) % cap];
	w->comp_head = (w->comp_head + k) % cap;
	w->comp_n -= k;
	if (w->comp_n == 0 && w->comp_armed) {
		/* Armed means signalled and not yet drained: the read does
		 * not block. Only this lock's holders touch the counter. */
		uw_io_eventfd_drain(w->io, w->comp_fd);
		w->comp_armed = false;
	}
	*seq = atomic_load(&w->comp_seq);
	pthread_mutex_unlock(&w->comp_mu);
	return k;
}

/*
 * Before sleeping, a reaper waits for the next post for up to wait_spin_us
 * (yielding the CPU), as a blocking writer does for its acknowledgment: a
 * wake-up across CPUs costs tens of microseconds here, and a sleeping
 * reaper leaves the writer idle, to be woken in turn by the next
 * submission. Never on the writer's CPU, where it would only delay the
 * writer. True if a post came (or the deadline, 0 for none, passed).
 */
static bool spin_for(struct uwal *w, uint32_t seq, uint64_t deadline)
{
	uint64_t limit = (uint64_t)w->cfg.wait_spin_us * 1000u;
	if (!limit ||
	    uw_io_current_cpu() == atomic_load_explicit(&w->writer_cpu, memory_order_relaxed))
		return false;
	uint64_t t0 = uw_io_now_ns();
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(&w->comp_seq, memory_order_acquire) != seq)
			return true;
		if (i < 256) {
			uw_io_cpu_relax();
			continue;
		}
		uw_io_yield();
		uint64_t now = uw_io_now_ns();
		if (now - t0 > limit)
			return false;
		if (deadline && now >= deadline)
			return true;
	}
}

int uwal_reap(uwal *w, uwal_completion *out, size_t max, int64_t timeout_us)
{
	int ret = usable(w);
	if (ret < 0)
		return ret;
	if (!out || max == 0 || timeout_us < -1)
		return UWAL_EINVAL;
	if (max > INT32_MAX)
		max = INT32_MAX;
	uint64_t deadline = timeout_us > 0 ? uw_io_now_ns() + (uint64_t)timeout_us * 1000u : 0;
	bool spun = false;
	for (;;) {
		uint32_t seq;
		size_t k = take(w, out, max, &seq);
		if (k) {
			atomic_fetch_sub(&w->async_out, k);
			uw_wal_flush_log(w);
			return (int)k;
		}
		/* Nothing outstanding: nothing will come. */
		if (timeout_us == 0 || atomic_load(&w->async_out) == 0)
			break;
		uint64_t now = timeout_us > 0 ? uw_io_now_ns() : 0;
		if (timeout_us > 0 && now >= deadline)
			break;
		if (!spun && spin_for(w, seq, timeout_us > 0 ? deadline : 0)) {
			spun = true;
			continue;
		}
		spun = true;
		atomic_fetch_add(&w->comp_waiters, 1);
		if (timeout_us < 0)
			uw_io_futex_wait(w->io, (uint32_t *)&w->comp_seq, seq);
		else
			uw_io_futex_wait_for(w->io, (uint32_t *)&w->comp_seq, seq, deadline - now);
		atomic_fetch_sub(&w->comp_waiters, 1);
	}
	uw_wal_flush_log(w);
	return 0;
}

int uwal_event_fd(uwal *w)
{
	int ret = usable(w);
	return ret < 0 ? ret : w->comp_fd;
}

int uwal_sync(uwal *w)
{
	int ret = usable(w);
	if (ret < 0)
		return ret;
	struct req r = {.kind = REQ_SYNC, .sync = true};
	ret = uw_pipe_submit(w, &r);
	uw_wal_flush_log(w);
	return ret;
}

int uwal_shutdown(uwal *w)
{
	int ret = usable(w);
	if (ret < 0)
		return ret;
	atomic_store(&w->shut, 1);
	/* Followers waiting for a record that will never come. */
	uw_wal_notify(w);
	return 0;
}
