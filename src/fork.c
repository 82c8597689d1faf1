/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork.c - handles and fork(2).
 *
 * Every open handle (normal or read-only) is in one process-wide registry.
 * A pthread_atfork() handler, installed with the first handle, holds the
 * registry's mutex across fork(); in the child it marks every registered
 * handle forked and closes the child's copy of its lock descriptor. A flock
 * belongs to the open file description, which the parent's descriptor
 * keeps alive: the parent's lock stays, and once the parent closes the log
 * nothing of the child holds it. While a handle holds a lock, fork()
 * returns in the parent only once the child has closed those copies (a
 * pipe whose end the parent waits for), so that the parent may close and
 * reopen the log at once. Every entry point on a forked handle
 * returns UWAL_EFORKED; uwal_close() frees the child's copy (uw_fork_close).
 *
 * A handle's lock descriptor is taken and released under the registry's
 * mutex, together with the handle's registration: so a fork() either sees
 * the handle registered with its lock (the child closes its copy) or sees
 * neither, and never a descriptor number that was closed meanwhile.
 *
 * The child has one thread, the one that called fork(). Whatever the
 * handle's other threads (writer, preparer, readers) held at that moment
 * stays held forever in the child, and what they were changing may be
 * half changed. So the child's close locks nothing: it tries the locks
 * that guard the structures it frees and, where one is held, leaves those
 * structures (the child's memory) alone. It destroys no mutex or condition
 * variable: destroying a condition variable that a vanished thread waits
 * on blocks forever.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct uwal *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_err; /* pthread_atfork()'s failure, -errno */
/* One fork's handshake, from prepare to the parent's or the child's
 * handler (under reg_mu): a pipe the child closes once it closed its lock
 * descriptors, or -1s. */
static struct uw_io *hs_io;
static int hs_fds[2] = {-1, -1};

static void on_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
	/* Only when a handle holds a lock: then fork() returns in the parent
	 * only after the child closed its copies (or died), and a close and
	 * reopen right after fork() cannot find the lock still held. */
	hs_io = NULL;
	for (struct uwal *w = reg_head; w && !hs_io; w = w->fork_next)
		if (w->lockfd >= 0)
			hs_io = w->io;
	if (hs_io && uw_io_pipe(hs_io, hs_fds) < 0)
		hs_fds[0] = hs_fds[1] = -1; /* no handshake: the child closes them soon */
}

static void on_parent(void)
{
	if (hs_fds[0] >= 0) {
		/* The end of the pipe: every write end is closed, the child's
		 * included (or fork() failed, and there is none). */
		uint8_t b;
		uw_io_close(hs_io, hs_fds[1]);
		while (uw_io_read(hs_io, hs_fds[0], &b, 1) > 0)
			;
		uw_io_close(hs_io, hs_fds[0]);
		hs_fds[0] = hs_fds[1] = -1;
	}
	pthread_mutex_unlock(&reg_mu);
}

static void on_child(void)
{
	if (hs_fds[0] >= 0)
		uw_io_close(hs_io, hs_fds[0]);
	for (struct uwal *w = reg_head; w; w = w->fork_next) {
		atomic_store(&w->forked, 1);
		if (w->lockfd >= 0) {
			uw_io_close(w->io, w->lockfd);
			w->lockfd = -1;
		}
	}
	if (hs_fds[1] >= 0)
		uw_io_close(hs_io, hs_fds[1]); /* the parent's fork() returns */
	hs_fds[0] = hs_fds[1] = -1;
	pthread_mutex_unlock(&reg_mu);
}

static void install(void)
{
	reg_err = -pthread_atfork(on_prepare, on_parent, on_child);
}

int uw_fork_register(struct uwal *w, bool take_lock)
{
	pthread_once(&reg_once, install);
	if (reg_err < 0)
		return reg_err;
	int ret = 0;
	pthread_mutex_lock(&reg_mu);
	if (take_lock)
		ret = uw_wal_take_lock(w->io, w->dirfd, w->prefix, &w->lockfd);
	if (ret == 0) {
		w->fork_prev = NULL;
		w->fork_next = reg_head;
		if (reg_head)
			reg_head->fork_prev = w;
		reg_head = w;
		w->fork_linked = true;
	}
	pthread_mutex_unlock(&reg_mu);
	return ret;
}

void uw_fork_unregister(struct uwal *w)
{
	if (!w->fork_linked) {
		if (w->lockfd >= 0)
			uw_io_close(w->io, w->lockfd);
		w->lockfd = -1;
		return;
	}
	pthread_mutex_lock(&reg_mu);
	if (w->fork_prev)
		w->fork_prev->fork_next = w->fork_next;
	else
		reg_head = w->fork_next;
	if (w->fork_next)
		w->fork_next->fork_prev = w->fork_prev;
	w->fork_prev = w->fork_next = NULL;
	w->fork_linked = false;
	if (w->lockfd >= 0)
		uw_io_close(w->io, w->lockfd); /* releases the flock */
	w->lockfd = -1;
	pthread_mutex_unlock(&reg_mu);
}

/* A segment's memory and descriptor, whatever its references (the threads
 * that held the others do not exist here). A pinned descriptor never
 * changes; a cached one only under the cache's mutex (fds_ok: it was free). */
static void forget_seg(struct uwal *w, struct seg *s, bool fds_ok)
{
	if (s->fd >= 0 && (s->fd_pinned || fds_ok))
		uw_io_close(w->io, s->fd);
	uw_idx_free(&s->idx);
	free(s);
}

/* Take a mutex that may have been held at the fork by a thread that does
 * not exist here: true if it was free (then it is unlocked and destroyed
 * once what it guards is freed). */
static bool try_mutex(pthread_mutex_t *mu)
{
	return pthread_mutex_trylock(mu) == 0;
}

static void drop_mutex(pthread_mutex_t *mu)
{
	pthread_mutex_unlock(mu);
	pthread_mutex_destroy(mu);
}

void uw_fork_close(struct uwal *w)
{
	uw_fork_unregister(w);
	uw_pipe_forget(w);

	/* The segments and their index change under w->lock, the cached
	 * descriptors under the cache's mutex, the preparer's segments under
	 * its mutex: each is freed only if no thread held its lock at the
	 * fork, and left (the child's memory) otherwise. prep.cv is never
	 * destroyed: a vanished preparer may be counted as its waiter. */
	bool segs_ok = pthread_rwlock_trywrlock(&w->lock) == 0;
	bool fds_ok = try_mutex(&w->fdc.mu);
	struct prep *p = &w->prep;
	if (try_mutex(&p->mu)) {
		/* A prepared segment is not in the list; the other arrays
		 * hold segments that are. */
		if (p->ready)
			forget_seg(w, p->ready, fds_ok);
		free(p->doomed);
		free(p->gone);
		free(p->kept);
		for (size_t i = 0; i < p->n_to_index; i++)
			uw_idx_job_drop_notes(&p->to_index[i]);
		free(p->to_index);
		drop_mutex(&p->mu);
	}
	if (segs_ok) {
		for (size_t i = 0; i < w->nsegs; i++)
			forget_seg(w, w->segs[i], fds_ok);
		free(w->segs);
		free(w->cuts);
		pthread_rwlock_unlock(&w->lock);
		pthread_rwlock_destroy(&w->lock);
	}
	if (fds_ok)
		drop_mutex(&w->fdc.mu);
	if (try_mutex(&w->log_mu))
		drop_mutex(&w->log_mu);
	/* Completions not reaped; submissions still queued belong to a
	 * writer that does not exist here (left, as the requests are). */
	if (try_mutex(&w->comp_mu)) {
		free(w->comp);
		drop_mutex(&w->comp_mu);
	}
	if (w->comp_fd >= 0)
		uw_io_close(w->io, w->comp_fd);
	if (w->queues) {
		/* Fixed since open; the requests in them lie on the stacks of
		 * threads that do not exist here. */
		for (unsigned i = 0; i < w->nq; i++)
			uw_pq_destroy(&w->queues[i]);
		free(w->queues);
	}
	if (w->wake_fd >= 0)
		uw_io_close(w->io, w->wake_fd);
	if (w->dirfd >= 0)
		uw_io_close(w->io, w->dirfd);
	free(w->dir);
	free(w->prefix);
	free(w);
}
