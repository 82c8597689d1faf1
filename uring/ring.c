/*
 * ring.c - linked write/fdatasync chains over io_uring, with a synchronous
 * fallback that keeps the same interface where io_uring is unavailable.
 *
 * The writer thread owns the ring: it creates it (so SINGLE_ISSUER holds),
 * queues chains, and sleeps in io_uring_enter. Submitters wake it by
 * signalling an eventfd whose read is always kept queued in the ring.
 *
 * Faults injected by tests (uio_fault_arm) are applied here, per op: a
 * failing op and the rest of its chain are not submitted and complete with
 * the injected error and -ECANCELED, as the kernel would report them; a
 * "short" write is submitted with half its length, so the kernel itself
 * breaks the link.
 */
#define _GNU_SOURCE
#include "uio.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct uio_ring {
	bool uring;
	struct io_uring ring;
	int wake_fd;
	bool wake_armed;
	bool pollable; /* completions reach the CQ without entering the kernel */
	uint64_t wake_buf;
	unsigned entries;
	/* Completions made up here: injected faults, and every completion of
	 * the synchronous fallback. */
	struct uio_cqe *fake;
	unsigned n_fake, cap_fake;
};

static int push_fake(struct uio_ring *r, uint64_t user_data, int res)
{
	if (r->n_fake == r->cap_fake) {
		unsigned cap = r->cap_fake ? r->cap_fake * 2 : 64;
		struct uio_cqe *f = realloc(r->fake, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		r->fake = f;
		r->cap_fake = cap;
	}
	r->fake[r->n_fake++] = (struct uio_cqe){.user_data = user_data, .res = res};
	return 0;
}

static int try_setup(struct uio_ring *r, unsigned entries, unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 1000;
	int ret = io_uring_queue_init_params(entries, &r->ring, &p);
	if (ret == 0)
		r->uring = true;
	return ret;
}

int uio_ring_open(struct uio_ring **out, unsigned entries, unsigned extra_flags, bool pollable,
		  int wake_fd, struct uio_ring_info *info)
{
	struct uio_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->wake_fd = wake_fd;
	r->entries = entries;
	memset(info, 0, sizeof(*info));

	/*
	 * Feature gate: SINGLE_ISSUER (6.0) lets the kernel skip submitter
	 * locking; DEFER_TASKRUN (6.1) runs completion work only when we
	 * enter the ring, so the writer is not interrupted mid-batch. Both
	 * need this thread to be the only submitter, and DEFER_TASKRUN
	 * cannot be combined with SQPOLL. Older kernels reject unknown flags
	 * with -EINVAL: retry with less.
	 */
	int ret = -EINVAL;
	if (!(extra_flags & IORING_SETUP_SQPOLL) && !pollable)
		ret = try_setup(r, entries,
				extra_flags | IORING_SETUP_SINGLE_ISSUER |
					IORING_SETUP_DEFER_TASKRUN);
	if (ret == -EINVAL)
		ret = try_setup(r, entries, extra_flags | IORING_SETUP_SINGLE_ISSUER);
	r->pollable = !(r->ring.flags & IORING_SETUP_DEFER_TASKRUN);
	if (ret == -EINVAL)
		ret = try_setup(r, entries, extra_flags);
	if (ret < 0) {
		info->setup_error = ret;
		r->uring = false;
	} else {
		info->uring = true;
		info->features = r->ring.features;
		info->setup_flags = r->ring.flags;
	}
	*out = r;
	return 0;
}

void uio_ring_close(struct uio_ring *r)
{
	if (!r)
		return;
	if (r->uring)
		io_uring_queue_exit(&r->ring);
	free(r->fake);
	free(r);
}

/* Run a chain synchronously (the fallback), with the kernel's semantics. */
static int run_chain_sync(struct uio_ring *r, const struct uio_op *ops, unsigned n)
{
	int failed = 0;
	for (unsigned i = 0; i < n; i++) {
		int res;
		if (failed)
			res = -ECANCELED;
		else if (ops[i].kind == UIO_WRITE)
			res = uio_pwrite_full(ops[i].fd, ops[i].buf, ops[i].len, ops[i].off);
		else
			res = uio_fdatasync(ops[i].fd);
		if (res == 0 && ops[i].kind == UIO_WRITE)
			res = (int)ops[i].len;
		if (res < 0)
			failed = 1;
		int e = push_fake(r, ops[i].user_data, res);
		if (e < 0)
			return e;
	}
	return 0;
}

int uio_ring_queue_chain(struct uio_ring *r, const struct uio_op *ops, unsigned n)
{
	if (n == 0)
		return 0;
	if (!r->uring)
		return run_chain_sync(r, ops, n);
	if (io_uring_sq_space_left(&r->ring) < n)
		return -EBUSY;

	struct io_uring_sqe *prev = NULL;
	for (unsigned i = 0; i < n; i++) {
		const struct uio_op *op = &ops[i];
		int fault =
			uio_fault_hit(op->kind == UIO_WRITE ? UIO_FAULT_WRITE : UIO_FAULT_FSYNC);
		if (fault < 0) {
			/* This op fails and takes the rest of the chain with
			 * it; what was queued before it still runs. */
			int e = push_fake(r, op->user_data, fault);
			for (unsigned j = i + 1; e == 0 && j < n; j++)
				e = push_fake(r, ops[j].user_data, -ECANCELED);
			/* The chain now ends at the op queued before this one. */
			if (prev)
				prev->flags &= (uint8_t)~IOSQE_IO_LINK;
			return e;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (op->kind == UIO_WRITE) {
			unsigned len = op->len;
			if (fault == UIO_FAULT_SHORT && len > 1)
				len /= 2;
			io_uring_prep_write(sqe, op->fd, op->buf, len, op->off);
		} else {
			io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		}
		io_uring_sqe_set_data64(sqe, op->user_data);
		/* IO_LINK: the next op starts only after this one completed in
		 * full; a failure or short write cancels the rest. */
		if (i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
		prev = sqe;
	}
	return 0;
}

static unsigned take_fake(struct uio_ring *r, struct uio_cqe *out, unsigned max)
{
	unsigned n = r->n_fake < max ? r->n_fake : max;
	if (n == 0)
		return 0;
	memcpy(out, r->fake, n * sizeof(*out));
	memmove(r->fake, r->fake + n, (r->n_fake - n) * sizeof(*out));
	r->n_fake -= n;
	return n;
}

static int wait_fallback(struct uio_ring *r, struct uio_cqe *out, unsigned max, bool block)
{
	if (r->n_fake || !block)
		return (int)take_fake(r, out, max);
	struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
	while (poll(&p, 1, -1) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	int e = uio_eventfd_wait(r->wake_fd);
	if (e < 0)
		return e;
	out[0] = (struct uio_cqe){.user_data = UIO_WAKE_USER_DATA, .res = 8};
	return 1;
}

int uio_ring_wait(struct uio_ring *r, struct uio_cqe *out, unsigned max, unsigned min_wait,
		  uint64_t poll_ns, uint64_t *enters)
{
	bool block = min_wait > 0;
	if (max == 0)
		return 0;
	if (!r->uring)
		return wait_fallback(r, out, max, block);

	if (!r->wake_armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (sqe) {
			io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
			io_uring_sqe_set_data64(sqe, UIO_WAKE_USER_DATA);
			r->wake_armed = true;
		}
	}

	unsigned got = take_fake(r, out, max);
	unsigned want = got >= min_wait ? 0 : min_wait - got;
	int ret;
	if (want && poll_ns && r->pollable) {
		/* Poll before sleeping: the completion of a punted request is
		 * posted to the CQ by the io-wq worker, and seeing it here
		 * saves this thread's wake-up from io_uring_enter. */
		int sub = io_uring_submit(&r->ring);
		if (enters)
			(*enters)++;
		if (sub < 0 && sub != -EBUSY && sub != -EAGAIN && sub != -EINTR)
			return sub;
		uint64_t t0 = uio_now_ns();
		while (io_uring_cq_ready(&r->ring) < want && uio_now_ns() - t0 < poll_ns)
			uio_cpu_relax();
		if (io_uring_cq_ready(&r->ring) >= want)
			want = 0;
	}
	do {
		ret = io_uring_submit_and_wait(&r->ring, want);
		if (enters)
			(*enters)++;
	} while (ret == -EINTR);
	if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
		return ret;

	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		if (got == max)
			break;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		if (ud == UIO_WAKE_USER_DATA)
			r->wake_armed = false;
		out[got++] = (struct uio_cqe){.user_data = ud, .res = cqe->res};
		seen++;
	}
	io_uring_cq_advance(&r->ring, seen);
	return (int)got;
}
