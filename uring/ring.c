/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring.c - the system backend's ring: chains of linked writes and
 * fdatasyncs over io_uring, run to completion, with a synchronous fallback
 * that keeps the same contract where io_uring is unavailable.
 *
 * The writer thread owns the ring: it creates it (so SINGLE_ISSUER holds),
 * runs one chain at a time (uw_ring_sys_run returns when every op of the
 * chain completed, with each op's result) and sleeps in io_uring_enter
 * when idle. Submitters wake it by signalling an eventfd whose read is
 * kept queued in the ring while it sleeps.
 *
 * How a chain of one write and no fdatasync is written (pwrite from this
 * thread, or an io_uring write) is the ring's option unsynced_pwrite: on
 * ext4 an io_uring buffered write is punted to an io-wq worker, which costs
 * far more than the pwrite.
 */
#define _GNU_SOURCE
#include "sys.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* user_data of the wake-up eventfd's read; chain ops use their position. */
#define WAKE_USER_DATA UINT64_MAX

struct sys_ring {
	struct uw_ring base;
	bool uring;
	/* DEFER_TASKRUN: completions reach the CQ only when this thread
	 * enters the kernel; with TASKRUN_FLAG the kernel says when that is
	 * due (IORING_SQ_TASKRUN), so the CQ can be polled either way. */
	bool defer, taskrun_flag;
	bool wake_armed;
	bool unsynced_pwrite;
	uint32_t poll_us;
	int wake_fd;
	uint64_t wake_buf;
	unsigned entries;
	struct io_uring ring;
};

static int try_setup(struct sys_ring *r, unsigned entries, unsigned flags)
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

int uw_ring_sys_open(struct uw_io *io, const struct uw_ring_opts *o, struct uw_ring **out,
		     struct uw_ring_info *info)
{
	struct sys_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.io = io;
	r->wake_fd = o->wake_fd;
	r->entries = o->entries;
	r->poll_us = o->poll_us;
	r->unsynced_pwrite = o->unsynced_pwrite;
	memset(info, 0, sizeof(*info));

	/*
	 * Feature gate: SINGLE_ISSUER (6.0) lets the kernel skip submitter
	 * locking; DEFER_TASKRUN (6.1) runs completion work only when we
	 * enter the ring, so the writer is not interrupted mid-batch, and
	 * TASKRUN_FLAG makes the kernel flag that work in the SQ ring, so
	 * that a poll knows when to enter (uw_ring_sys_run). All need this
	 * thread to be the only submitter, and DEFER_TASKRUN cannot be
	 * combined with SQPOLL. Older kernels reject unknown flags with
	 * -EINVAL: retry with less.
	 */
	unsigned extra = o->setup_flags;
	unsigned defer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int ret = -EINVAL;
	if (!(extra & IORING_SETUP_SQPOLL)) {
		ret = try_setup(r, o->entries, extra | defer | IORING_SETUP_TASKRUN_FLAG);
		if (ret == -EINVAL)
			ret = try_setup(r, o->entries, extra | defer);
	}
	if (ret == -EINVAL)
		ret = try_setup(r, o->entries, extra | IORING_SETUP_SINGLE_ISSUER);
	if (ret == -EINVAL)
		ret = try_setup(r, o->entries, extra);
	if (ret < 0) {
		info->setup_error = ret;
		r->uring = false;
	} else {
		r->defer = r->ring.flags & IORING_SETUP_DEFER_TASKRUN;
		r->taskrun_flag = r->ring.flags & IORING_SETUP_TASKRUN_FLAG;
		info->uring = true;
		info->features = r->ring.features;
		info->setup_flags = r->ring.flags;
	}
	*out = &r->base;
	return 0;
}

void uw_ring_sys_close(struct uw_ring *base)
{
	struct sys_ring *r = (struct sys_ring *)base;
	if (!r)
		return;
	if (r->uring)
		io_uring_queue_exit(&r->ring);
	free(r);
}

/* Run a chain with plain system calls, with the kernel's semantics. */
static void run_sync(const struct uw_io_op *ops, unsigned n, int *res)
{
	bool failed = false;
	for (unsigned i = 0; i < n; i++) {
		if (failed) {
			res[i] = -ECANCELED;
			continue;
		}
		if (ops[i].kind == UW_IO_OP_WRITE) {
			/* A short write is reported short, as the kernel does. */
			res[i] = (int)uw_sys_pwrite_n(ops[i].fd, ops[i].buf, ops[i].len, ops[i].off,
						      ops[i].flags & UW_IO_OP_DSYNC);
		} else {
			res[i] = uw_sys_fdatasync(ops[i].fd);
		}
		failed = res[i] < 0 || (ops[i].kind == UW_IO_OP_WRITE && res[i] != (int)ops[i].len);
	}
}

/* Collect what the CQ holds: op results into res, the wake read's too. */
static unsigned reap(struct sys_ring *r, int *res, unsigned n)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, ops = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		seen++;
		if (ud == WAKE_USER_DATA) {
			r->wake_armed = false;
			continue;
		}
		if (ud < n) {
			res[ud] = cqe->res;
			ops++;
		}
	}
	io_uring_cq_advance(&r->ring, seen);
	return ops;
}

/* An enter's result that is a failure of the ring: -EBUSY, -EAGAIN and
 * -EINTR only say "not now", and the caller waits or polls again. */
static bool ring_failed(int ret)
{
	return ret < 0 && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR;
}

static int enter(struct sys_ring *r, unsigned want)
{
	int ret;
	do {
		ret = io_uring_submit_and_wait(&r->ring, want);
		r->base.enters++;
	} while (ret == -EINTR);
	return ring_failed(ret) ? ret : 0;
}

int uw_ring_sys_run(struct uw_ring *base, const struct uw_io_op *ops, unsigned n, int *res,
		    unsigned flags)
{
	struct sys_ring *r = (struct sys_ring *)base;

	if (n == 0)
		return 0;
	if (!r->uring || (n == 1 && ops[0].kind == UW_IO_OP_WRITE &&
			  !(ops[0].flags & UW_IO_OP_DSYNC) && r->unsynced_pwrite)) {
		run_sync(ops, n, res);
		return 0;
	}
	if (io_uring_sq_space_left(&r->ring) < n)
		return -EBUSY;
	for (unsigned i = 0; i < n; i++) {
		const struct uw_io_op *op = &ops[i];
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (op->kind == UW_IO_OP_WRITE) {
			io_uring_prep_write(sqe, op->fd, op->buf, op->len, op->off);
			if (op->flags & UW_IO_OP_DSYNC)
				sqe->rw_flags = RWF_DSYNC;
		} else {
			io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		}
		io_uring_sqe_set_data64(sqe, i);
		/* IO_LINK: the next op starts only after this one completed in
		 * full; a failure or short write cancels the rest. */
		if (i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
	}

	unsigned left = n;
	if ((flags & UW_RING_POLL) && r->poll_us && (!r->defer || r->taskrun_flag)) {
		/* Poll before sleeping: seeing the completion here saves this
		 * thread its wake-up from io_uring_enter. Without DEFER_TASKRUN
		 * the io-wq worker posts it to the CQ; with it, the kernel
		 * flags the completion work (IORING_SQ_TASKRUN), which one
		 * enter without waiting runs. */
		int ret = io_uring_submit(&r->ring);
		r->base.enters++;
		if (ring_failed(ret))
			return ret;
		uint64_t t0 = uw_io_now_ns(), lim = (uint64_t)r->poll_us * 1000u;
		while (io_uring_cq_ready(&r->ring) < left && uw_io_now_ns() - t0 < lim) {
			if (r->defer &&
			    (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
				ret = io_uring_get_events(&r->ring);
				r->base.enters++;
				if (ring_failed(ret))
					return ret;
				continue;
			}
			uw_io_cpu_relax();
		}
		left -= reap(r, res, n);
	}
	while (left) {
		/* Wait for the whole chain in one io_uring_enter. */
		int ret = enter(r, left);
		if (ret < 0)
			return ret;
		left -= reap(r, res, n);
	}
	return 0;
}

int uw_ring_sys_idle(struct uw_ring *base)
{
	struct sys_ring *r = (struct sys_ring *)base;

	if (!r->uring) {
		struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
		while (poll(&p, 1, -1) < 0) {
			if (errno != EINTR)
				return -errno;
		}
		return uw_sys_eventfd_read(r->wake_fd);
	}
	if (!r->wake_armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
		io_uring_sqe_set_data64(sqe, WAKE_USER_DATA);
		r->wake_armed = true;
	}
	int ret = enter(r, 1);
	reap(r, NULL, 0);
	return ret;
}
