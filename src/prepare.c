/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prepare.c - the segment preparer: a background thread that creates the
 * next segment (preallocated, optionally zero-filled, durable) before the
 * writer needs it, and unlinks the segments that retention dropped, so
 * that neither stalls the append path.
 *
 * The writer asks for the next segment once the active one is half full
 * (uw_prep_request), and takes it at rotation (uw_prep_take). A failed
 * preparation is handed to the writer once (it fails the requests that
 * needed the new segment) and retried on the next request.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Unlink one round of segments that retention dropped, strictly oldest
 * first, fsyncing the directory after each, and only then hand them back to the writer,
 * which removes them from the index: until their removal is durable their
 * indexes must stay taken, or a crash could bring a file back whose
 * indexes were meanwhile written again.
 *
 * The first segment that cannot be removed stops the round: it and every
 * newer one of the round stay in the log (and readable), handed back as
 * kept, and the writer tries again at its next rotation. Removing a newer
 * segment while an older one stays would leave a gap that no open accepts.
 */
static void unlink_doomed(struct uwal *w, struct seg **v, size_t n)
{
	struct prep *p = &w->prep;
	size_t ngone = 0;

	while (ngone < n) {
		int e = uw_io_unlinkat(w->io, w->dirfd, v[ngone]->name);
		if (e < 0 && e != -ENOENT) {
			uw_wal_log(
				w, UWAL_LOG_WARN,
				"retention: cannot remove %s/%s: %s; it and %zu newer segment(s) "
				"kept, retried at the next rotation",
				w->dir, v[ngone]->name, uwal_strerror(e), n - ngone - 1);
			break;
		}
		v[ngone]->unlinked = true;
		/* One directory fsync per removal: unsynced removals may reach
		 * the disk in any order, and a newer one without an older one
		 * is a gap that no open accepts. */
		e = uw_io_dirsync(w->io, w->dirfd);
		if (e == 0)
			uw_sidx_remove(w->io, w->dirfd, v[ngone]->name);
		if (e < 0) {
			uw_wal_log(w, UWAL_LOG_WARN,
				   "retention: fsync of %s failed (%s and %zu newer segment(s) "
				   "kept in the index): %s",
				   w->dir, v[ngone]->name, n - ngone - 1, uwal_strerror(e));
			break;
		}
		ngone++;
	}
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		struct seg ***list = i < ngone ? &p->gone : &p->kept;
		size_t *len = i < ngone ? &p->n_gone : &p->n_kept;
		size_t *cap = i < ngone ? &p->cap_gone : &p->cap_kept;
		if (uw_seg_list_push(list, len, cap, v[i]) < 0) {
			/* The writer cannot learn of it: it stays doomed, in the
			 * index, and no later round starts (nothing newer is
			 * removed). The next open finds the file again. */
			uw_seg_unref(v[i]);
			p->lost = true;
		}
	}
	pthread_mutex_unlock(&p->mu);
	free(v);
	/* seq_cst store: pairs with the writer's load at its loop top. */
	atomic_store(&w->gone_pending, 1);
	uw_io_eventfd_signal(w->io, w->wake_fd);
}

void uw_idx_job_drop_notes(struct uw_idx_job *j)
{
	if (!j->notes)
		return;
	uw_fmt_idx_free(j->notes);
	free(j->notes);
	j->notes = NULL;
}

/*
 * Write the index file of the job's sealed segment (one reference,
 * dropped). From the writer's notes the segment's table is read while
 * p->reading is set, which the writer waits out before it changes a
 * sealed segment's table (uw_prep_index_settle); a table that does not
 * agree with the notes, or no memory for the bytes, and the file is read.
 */
static void build_index(struct uwal *w, struct uw_idx_job *j)
{
	struct prep *p = &w->prep;
	struct seg *s = j->s;
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = 1;
	if (j->notes) {
		e = s->unlinked ? 1 : uw_sidx_encode_noted(s, j->notes, &buf, &len);
		pthread_mutex_lock(&p->mu);
		p->reading = false;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		uw_idx_job_drop_notes(j);
	}
	if (!s->unlinked) {
		e = e == 0 ? uw_sidx_write(w->io, w->dirfd, s, buf, len)
			   : uw_sidx_build(w->io, w->dirfd, s);
		if (e < 0)
			uw_wal_log(w, UWAL_LOG_WARN,
				   "no index file for %s/%s (the next open reads its frames): %s",
				   w->dir, s->name, uwal_strerror(e));
	}
	free(buf);
	uw_seg_unref(s);
}

void uw_prep_index(struct uwal *w, struct seg *s, struct fmt_idx *notes)
{
	struct prep *p = &w->prep;
	struct uw_idx_job j = {s, notes};
	pthread_mutex_lock(&p->mu);
	if (p->n_to_index == p->cap_to_index) {
		size_t cap = p->cap_to_index ? p->cap_to_index * 2 : 8;
		struct uw_idx_job *v = realloc(p->to_index, cap * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&p->mu);
			uw_idx_job_drop_notes(&j);
			return;
		}
		p->to_index = v;
		p->cap_to_index = cap;
	}
	uw_seg_ref(s);
	p->to_index[p->n_to_index++] = j;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void uw_prep_index_settle(struct uwal *w)
{
	struct prep *p = &w->prep;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_to_index; i++)
		uw_idx_job_drop_notes(&p->to_index[i]);
	while (p->reading)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void *prep_main(void *arg)
{
	uw_wal_mark_thread();
	struct uwal *w = arg;
	struct prep *p = &w->prep;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->n_doomed) {
			struct seg **v = p->doomed;
			size_t n = p->n_doomed;
			p->doomed = NULL;
			p->n_doomed = p->cap_doomed = 0;
			pthread_mutex_unlock(&p->mu);
			unlink_doomed(w, v, n);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->stop)
			break;
		if (p->want && !p->ready && p->err == 0) {
			uint64_t seq = p->next_seq;
			pthread_mutex_unlock(&p->mu);
			struct seg *s = NULL;
			int e = uw_seg_create(w->io, w->dirfd, w->prefix, seq, w->cfg.segment_size,
					      w->cfg.prealloc, &s);
			if (e == 0)
				uw_fdc_attach(&w->fdc, s); /* pinned: it will be active */
			if (e < 0)
				uw_wal_log(w, UWAL_LOG_ERROR,
					   "cannot prepare segment %llu in %s: %s",
					   (unsigned long long)seq, w->dir, uwal_strerror(e));
			pthread_mutex_lock(&p->mu);
			p->want = false;
			if (e < 0) {
				p->err = e;
			} else {
				p->ready = s;
				p->next_seq = seq + 1;
			}
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		if (p->n_to_index) {
			struct uw_idx_job j = p->to_index[0];
			p->n_to_index--;
			memmove(p->to_index, p->to_index + 1, p->n_to_index * sizeof(*p->to_index));
			p->reading = j.notes != NULL;
			pthread_mutex_unlock(&p->mu);
			build_index(w, &j);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int uw_prep_start(struct uwal *w)
{
	struct prep *p = &w->prep;
	int e = pthread_create(&p->thread, NULL, prep_main, w);
	if (e)
		return -e;
	/* Named by its creator, so the name is there when uwal_open returns
	 * (ps -L, top -H); a name is only a label: its failure is ignored. */
	pthread_setname_np(p->thread, "uwal-prep");
	p->started = true;
	return 0;
}

/* Index files not written yet: the next open reads those segments'
 * frames (and asks again). */
static void drop_index_jobs(struct prep *p)
{
	for (size_t i = 0; i < p->n_to_index; i++) {
		uw_idx_job_drop_notes(&p->to_index[i]);
		uw_seg_unref(p->to_index[i].s);
	}
	free(p->to_index);
	p->to_index = NULL;
	p->n_to_index = p->cap_to_index = 0;
}

void uw_prep_stop(struct uwal *w)
{
	struct prep *p = &w->prep;
	if (!p->started) {
		drop_index_jobs(p); /* those the open asked for */
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->started = false;
	/* A prepared segment that never became active stays on disk: it has
	 * no frames, and the next open either uses or removes it. */
	if (p->ready) {
		uw_seg_unref(p->ready);
		p->ready = NULL;
	}
	/* Removed durably (or kept), but the writer is gone: the handle's
	 * list still holds them and frees them at close. */
	for (size_t i = 0; i < p->n_gone; i++)
		uw_seg_unref(p->gone[i]);
	for (size_t i = 0; i < p->n_kept; i++)
		uw_seg_unref(p->kept[i]);
	free(p->gone);
	free(p->kept);
	p->gone = p->kept = NULL;
	drop_index_jobs(p);
	p->n_gone = p->cap_gone = p->n_kept = p->cap_kept = 0;
}

void uw_prep_request(struct uwal *w)
{
	struct prep *p = &w->prep;
	pthread_mutex_lock(&p->mu);
	if (!p->ready && !p->want) {
		p->want = true;
		p->err = 0;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

struct seg *uw_prep_take(struct uwal *w, int *err)
{
	struct prep *p = &w->prep;
	struct seg *s = NULL;

	pthread_mutex_lock(&p->mu);
	if (!p->ready && p->err == 0) {
		atomic_fetch_add_explicit(&w->st_prep_waits, 1, memory_order_relaxed);
		if (!p->want) {
			p->want = true;
			pthread_cond_broadcast(&p->cv);
		}
		while (!p->ready && p->err == 0)
			pthread_cond_wait(&p->cv, &p->mu);
	}
	if (p->ready) {
		s = p->ready;
		p->ready = NULL;
	} else {
		*err = p->err;
		p->err = 0; /* retried on the next request */
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

int uw_prep_delete(struct uwal *w, struct seg **v, size_t n)
{
	struct prep *p = &w->prep;
	pthread_mutex_lock(&p->mu);
	if (p->lost) {
		pthread_mutex_unlock(&p->mu);
		return -ENOMEM;
	}
	/* One round at a time (the writer waits for the last one's result). */
	p->doomed = v;
	p->n_doomed = p->cap_doomed = n;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

struct seg **uw_prep_take_gone(struct uwal *w, size_t *n, struct seg ***kept, size_t *n_kept)
{
	struct prep *p = &w->prep;
	pthread_mutex_lock(&p->mu);
	struct seg **v = p->gone;
	*n = p->n_gone;
	*kept = p->kept;
	*n_kept = p->n_kept;
	p->gone = p->kept = NULL;
	p->n_gone = p->cap_gone = p->n_kept = p->cap_kept = 0;
	atomic_store(&w->gone_pending, 0);
	pthread_mutex_unlock(&p->mu);
	return v;
}
