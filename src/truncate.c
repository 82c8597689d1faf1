/* SPDX-License-Identifier: Apache-2.0 */
/*
 * truncate.c - uwal_truncate_front() and uwal_truncate_back(): what a
 * truncation does to the segments' live ranges and index tables (shared by
 * the writer and by recovery, which replays the truncation frames), and
 * the writer's side of a truncation request.
 *
 * A truncation is a request in the writer's queue like a write, and a
 * barrier: the batch before it is written first, the requests after it
 * wait. The writer runs it alone:
 *
 *   front  locate the record; write a FRONT frame into the active segment
 *          and fdatasync it (one chain); then drop the records before it
 *          from the index. Segments left without a live record at the
 *          front of the log are removed by retention's round (the
 *          preparer unlinks them and fsyncs the directory); the frame
 *          already hides them, so their indexes are free at once.
 *   back   locate the record; write a BACK frame naming it into the
 *          active segment and fdatasync it (one chain), whether the record
 *          lies in a sealed segment or in the active one (then the records
 *          from it to the frame are a void of the segment: struct
 *          uw_void). Then drop the record and everything after it from
 *          the index, and note the cut for iterators. Only an active
 *          segment before version 3 is sealed first
 *          (uw_trunc_back_needs_rotation()): its readers know no BACK
 *          frame naming its own segment.
 *
 * Neither touches a written byte: no segment file is cut or rewritten.
 * Why never cut the active segment's file instead: an ftruncate is no
 * atomic "remove everything after off". On ext4 a power loss can keep the
 * zeroed rest of the block at off while losing the size change, so later
 * frames survive behind zeros - among them a mark frame that vouches for
 * the zeroed ones, and the log no longer opens (found by the power-loss
 * campaign, tests/crash/). A cut inside a uwal_write_batch() call also left
 * the batch's first part unfinished, which recovery drops whole.
 *
 * The frame is durable before anything in memory changes, so a crash
 * before the call returns leaves the log as it was or as it is after, and
 * one after it never brings the records back. A failed write or fdatasync
 * poisons the handle, as for a batch. The format of the frames is at the
 * top of format.c; what a frame voids is uw_trunc_apply(), which recovery
 * shares.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- live ranges ------------------------------------------------------- */

void uw_trunc_void_front(struct seg *s, uint64_t seq, uint64_t off, int *err)
{
	if (s->seq > seq)
		return;
	if (s->seq < seq) {
		uw_idx_free(&s->idx);
		atomic_store_explicit(&s->idx_lazy, false, memory_order_relaxed);
		s->lo = s->end;
		s->nvoids = 0;
		return;
	}
	int e = uw_seg_idx_need(s);
	if (e < 0) {
		if (*err == 0)
			*err = e;
		return;
	}
	e = uw_idx_drop_front(&s->idx, uw_idx_count_below(&s->idx, off));
	if (e < 0 && *err == 0)
		*err = e;
	if (off > s->lo)
		s->lo = off;
	/* The voids before the new front say nothing any more. */
	uint32_t gone = 0;
	while (gone < s->nvoids && s->voids[gone].to <= s->lo)
		gone++;
	if (gone) {
		memmove(s->voids, s->voids + gone, (s->nvoids - gone) * sizeof(*s->voids));
		s->nvoids -= gone;
	}
}

void uw_trunc_void_back(struct seg *s, uint64_t seq, uint64_t off, int *err)
{
	if (s->seq < seq)
		return;
	if (s->seq > seq) {
		uw_idx_free(&s->idx);
		atomic_store_explicit(&s->idx_lazy, false, memory_order_relaxed);
		s->end = s->lo;
		s->nvoids = 0;
		return;
	}
	int e = uw_seg_idx_need(s);
	if (e < 0) {
		if (*err == 0)
			*err = e;
		return;
	}
	e = uw_idx_truncate(&s->idx, uw_idx_count_below(&s->idx, off));
	if (e < 0 && *err == 0)
		*err = e;
	if (off < s->end)
		s->end = off < s->lo ? s->lo : off;
	while (s->nvoids && s->voids[s->nvoids - 1].from >= s->end)
		s->nvoids--;
}

void uw_trunc_void_within(struct seg *s, uint64_t off, uint64_t frame, int *err)
{
	int e = uw_seg_idx_need(s);
	if (e == 0)
		e = uw_idx_truncate(&s->idx, uw_idx_count_below(&s->idx, off));
	if (e == 0 && s->nvoids == s->cap_voids) {
		uint32_t cap = s->cap_voids ? s->cap_voids * 2 : 2;
		struct uw_void *v = realloc(s->voids, cap * sizeof(*v));
		if (!v)
			e = -ENOMEM;
		else {
			s->voids = v;
			s->cap_voids = cap;
		}
	}
	if (e < 0) {
		if (*err == 0)
			*err = e;
		return;
	}
	/* The record named is live, so no void holds off: those after it lie
	 * inside the new one. */
	while (s->nvoids && s->voids[s->nvoids - 1].from >= off)
		s->nvoids--;
	s->voids[s->nvoids++] = (struct uw_void){off, frame};
}

void uw_trunc_apply(struct seg *const *prev, size_t nprev, struct seg *cur, uint8_t type,
		    const struct fmt_trunc *t, uint64_t off, uint64_t len, int *err)
{
	if (type == FMT_FRAME_FRONT) {
		for (size_t i = 0; i < nprev; i++)
			uw_trunc_void_front(prev[i], t->seq, t->off, err);
		uw_trunc_void_front(cur, t->seq, t->off, err);
		return;
	}
	if (t->seq == cur->seq) {
		/* From the record to the frame: void; before it, live still. */
		uw_trunc_void_within(cur, t->off, off, err);
		return;
	}
	for (size_t i = 0; i < nprev; i++)
		uw_trunc_void_back(prev[i], t->seq, t->off, err);
	/* The frame's segment: everything before the frame is void. */
	uw_idx_free(&cur->idx);
	cur->lo = off + len;
	cur->nvoids = 0;
}

bool uw_trunc_in_void(const struct seg *s, uint64_t off)
{
	for (uint32_t i = 0; i < s->nvoids; i++)
		if (off >= s->voids[i].from && off < s->voids[i].to)
			return true;
	return false;
}

int uw_trunc_note_cut(struct uwal *w, uint64_t seq, uint64_t off)
{
	if (w->ncuts == w->cap_cuts) {
		size_t cap = w->cap_cuts ? w->cap_cuts * 2 : 8;
		struct uw_cut *v = realloc(w->cuts, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->cuts = v;
		w->cap_cuts = cap;
	}
	/* Relaxed: read under the lock, or as a hint that a cut exists. */
	uint64_t gen = atomic_load_explicit(&w->trunc_gen, memory_order_relaxed) + 1;
	w->cuts[w->ncuts++] = (struct uw_cut){gen, seq, off};
	/* release: an iterator that sees the new generation sees the cut. */
	atomic_store_explicit(&w->trunc_gen, gen, memory_order_release);
	return 0;
}

bool uw_trunc_cut_since(struct uwal *w, uint64_t gen, uint64_t seq, uint64_t off)
{
	/* acquire: pairs with note_cut's store. */
	if (atomic_load_explicit(&w->trunc_gen, memory_order_acquire) == gen)
		return false;
	bool cut = false;
	pthread_rwlock_rdlock(&w->lock);
	for (size_t i = w->ncuts; i-- > 0 && w->cuts[i].gen > gen && !cut;)
		cut = seq > w->cuts[i].seq || (seq == w->cuts[i].seq && off >= w->cuts[i].off);
	pthread_rwlock_unlock(&w->lock);
	return cut;
}

/* ---- the writer's side ------------------------------------------------- */

/* Is any record live before (segment i, off)? */
static bool live_before(struct uwal *w, size_t i, uint32_t off)
{
	for (size_t k = 0; k < i; k++)
		if (w->segs[k]->idx.n)
			return true;
	return uw_idx_count_below(&w->segs[i]->idx, off) > 0;
}

/* Write a truncation frame at the writer's position and fdatasync it, as
 * one chain; 0 or -errno. *len gets the frame's size. */
static int write_frame(struct uwal *w, struct uw_ring *ring, struct uw_wpos *p, uint8_t type,
		       const struct fmt_trunc *t, size_t *len)
{
	uint8_t buf[FMT_TRUNC_FRAME_MAX];
	*len = uw_fmt_trunc_frame_encode(buf, p->active->salt, type, t);
	struct uw_io_op ops[2] = {
		{.kind = UW_IO_OP_WRITE,
		 .fd = p->active->fd,
		 .buf = buf,
		 .len = (uint32_t)*len,
		 .off = p->woff},
		{.kind = UW_IO_OP_FDATASYNC, .fd = p->active->fd},
	};
	int res[2] = {0, 0};
	int ret = uw_ring_run(ring, ops, 2, res, 0);
	atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
	if (ret < 0)
		return ret;
	if (res[0] < 0)
		return res[0];
	if ((size_t)res[0] != *len)
		return -EIO;
	return res[1] < 0 ? res[1] : 0;
}

static int trunc_front(struct uwal *w, struct uw_ring *ring, struct uw_wpos *p, uint64_t index,
		       bool *io_err)
{
	size_t i;
	uint32_t off;
	struct fmt_trunc t = {.index = index};

	if (uw_segs_find(w, index, &i, &off) > 0) {
		if (!live_before(w, i, off))
			return 0; /* nothing before it */
		t.seq = w->segs[i]->seq;
		t.off = off;
	} else {
		for (size_t k = 0; k < w->nsegs; k++)
			if (w->segs[k]->idx.n && w->segs[k]->idx.max >= index)
				return UWAL_ENOTFOUND;
		if (!live_before(w, w->nsegs - 1, UINT32_MAX))
			return 0; /* the log is empty already */
		/* Above every index: everything before this frame goes. */
		t.index = 0;
		t.seq = p->active->seq;
		t.off = p->woff;
	}
	size_t len;
	int ret = write_frame(w, ring, p, FMT_FRAME_FRONT, &t, &len);
	if (ret < 0) {
		*io_err = true;
		return ret;
	}
	int err = 0;
	pthread_rwlock_wrlock(&w->lock);
	p->active->end = p->woff + len;
	uw_trunc_apply(w->segs, w->nsegs - 1, p->active, FMT_FRAME_FRONT, &t, p->woff, len, &err);
	pthread_rwlock_unlock(&w->lock);
	p->woff += len;
	p->dirty = false;
	if (err < 0)
		*io_err = true; /* the index no longer says what the log holds */
	return err;
}

static int trunc_back(struct uwal *w, struct uw_ring *ring, struct uw_wpos *p, uint64_t index,
		      bool *io_err)
{
	size_t i;
	uint32_t off;
	if (uw_segs_find(w, index, &i, &off) <= 0)
		return UWAL_ENOTFOUND;
	struct seg *s = w->segs[i];
	int ret, err = 0;
	/* A segment before version 3 takes no BACK frame naming its own
	 * records: the writer sealed it first (uw_trunc_back_needs_rotation()). */
	if (s == p->active && s->version < 3)
		return -EINVAL;
	struct fmt_trunc t = {.index = index, .seq = s->seq, .off = off};
	size_t len;
	ret = write_frame(w, ring, p, FMT_FRAME_BACK, &t, &len);
	if (ret < 0) {
		*io_err = true;
		return ret;
	}
	pthread_rwlock_wrlock(&w->lock);
	p->active->end = p->woff + len;
	uw_trunc_apply(w->segs, w->nsegs - 1, p->active, FMT_FRAME_BACK, &t, p->woff, len, &err);
	if (err == 0)
		err = uw_trunc_note_cut(w, t.seq, t.off);
	pthread_rwlock_unlock(&w->lock);
	p->woff += len;
	p->dirty = false;
	if (err < 0)
		*io_err = true;
	return err;
}

bool uw_trunc_back_needs_rotation(struct uwal *w, const struct seg *active, uint64_t index)
{
	size_t i;
	uint32_t off;
	return uw_segs_find(w, index, &i, &off) > 0 && w->segs[i] == active;
}

int uw_trunc_run(struct uwal *w, struct uw_ring *ring, struct uw_wpos *p, const struct req *r,
		 bool *io_err)
{
	*io_err = false;
	if (r->kind == REQ_TRUNC_FRONT)
		return trunc_front(w, ring, p, r->trunc_index, io_err);
	return trunc_back(w, ring, p, r->trunc_index, io_err);
}

/* ---- the calls --------------------------------------------------------- */

static int submit(uwal *w, uint64_t index, int kind)
{
	if (!w || index == 0)
		return UWAL_EINVAL;
	if (w->cfg.open_flags & UWAL_OPEN_READONLY)
		return UWAL_EREADONLY;
	struct req r = {.kind = (uint8_t)kind, .trunc_index = index, .sync = true};
	/* Its frame, and the NEXT frame the writer puts before a FRONT one. */
	r.bytes = 2 * FMT_TRUNC_FRAME_MAX;
	int ret = uw_pipe_submit(w, &r);
	uw_wal_flush_log(w);
	return ret;
}

int uwal_truncate_front(uwal *w, uint64_t index)
{
	return submit(w, index, REQ_TRUNC_FRONT);
}

int uwal_truncate_back(uwal *w, uint64_t index)
{
	return submit(w, index, REQ_TRUNC_BACK);
}
