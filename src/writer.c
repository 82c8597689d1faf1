/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.c - the writer thread. Each turn of its loop is the pipeline:
 *
 *   drain    the per-CPU queues into the pending list (log order);
 *   rotate   if the first pending request does not fit the active segment:
 *            seal it, take the prepared one, apply retention;
 *   build    choose the batch, assign the indexes of records written with
 *            index 0, refuse duplicates, encode every record (msgpack +
 *            CRC32C) into one buffer - no I/O;
 *   write    one chain on the ring: the write, and a linked fdatasync
 *            when the batch must be durable;
 *   publish  the batch's records in the index (only once written);
 *   complete its requests in log order.
 *
 * A truncation request (truncate.c) is a barrier: the batch before it is
 * written first, then it runs alone in place of build/write/publish. A
 * sync request (uwal_sync) joins a batch with no record: the batch is then
 * durable, and one with no record is just an fdatasync, if anything
 * written is not durable yet.
 *
 * The durable watermark (format.c, "The durable watermark"): durable is
 * the offset before which the active segment is known durable (a durable
 * batch's fdatasync, or RWF_DSYNC write while nothing else was dirty,
 * moves it to the batch's end; so do the other fdatasyncs). When it moved
 * past what the last mark frame states, the next batch starts with a mark
 * frame stating it: the batch after a durable one vouches for it. When the
 * writer goes to sleep with such a watermark unstated, it writes the mark
 * frame alone, unsynced, at woff without counting it: the next write
 * starts there and overwrites it (a whole batch starts with the same mark,
 * a seal truncates the file after itself, a truncation takes it as
 * written), so a mark frame never lies unsynced before durable frames.
 * Close makes everything durable, then writes a last mark frame and
 * fdatasyncs it. No fdatasync is added to the write path.
 *
 * Assigned indexes: max_ever is the high-water mark, one less than the
 * next assigned index. It survives reopen through NEXT frames (format.c):
 * with retention one starts each new segment, and one precedes each FRONT
 * frame, so neither retention nor a front truncation loses it; a back cut
 * at k lowers it to k - 1 (or the largest index left).
 *
 * The flow and failure modes of the whole append path are described at
 * the top of submit.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One batch of requests is at most this many bytes, unless a single
 * request is larger. */
#define BATCH_BYTES (1u << 20)

struct ent {
	uint64_t index;
	uint32_t off;
};

struct writer {
	struct uw_ring *ring;
	struct seg *active;
	uint64_t woff;   /* next append offset in the active segment */
	uint64_t wcount; /* records in the active segment */
	bool prep_asked;
	bool dirty;      /* bytes written since the last fdatasync */
	uint64_t wb_off; /* the active segment's unsynced bytes from here on
			    have not been handed to writeback */
	uint8_t *buf;
	size_t cap;
	struct ent *ents;
	size_t cap_ents;
	struct req *pend_head, *pend_tail;
	uint32_t pend_recs, pend_reqs;
	struct bset set; /* the batch's indexes, once set_live */
	bool set_live;
	uint64_t max_ever; /* no index above this was ever batched, assigned
			      or in the log: see the top */
	size_t n_doomed;   /* doomed segments at the front of w->segs */
	/* The durable watermark (see the top): the active segment is durable
	 * before durable, which holds durable_recs record frames; the mark
	 * frames in it state marked at most. idle_mark: a mark frame stating
	 * idle_w lies at woff, not counted in it. */
	uint64_t durable, durable_recs, marked, idle_w;
	bool idle_mark;
	int idle_err; /* the idle mark frame's write failed: the next requests' error */
	unsigned rr;
	int close_err;
	int cpu; /* the CPU last stored in w->writer_cpu */
	/* What the active segment's index file needs besides its records
	 * (uw_sidx_encode_noted): idx_exact while the table holds every
	 * record frame of the file, that is while this writer wrote every
	 * frame since the segment's header and no truncation touched it; the
	 * NEXT frames written into it (nexts), and the last mark frame
	 * counted in it (seg_mark_w 0: none). */
	bool idx_exact;
	struct fmt_idx_trunc *nexts;
	uint32_t n_nexts, cap_nexts;
	uint64_t seg_mark_w, seg_mark_recs;
};

struct batch {
	struct req *head, *tail;
	uint32_t nreq, nrec;
	uint32_t nblock; /* requests in the chain whose submitters block on them */
	size_t bytes;
	bool sync;
	bool mark; /* it starts with a mark frame stating mark_w, mark_recs */
	uint64_t mark_w, mark_recs;
};
/* Everything written to the active segment is durable now. */
static void synced(struct writer *wr)
{
	wr->dirty = false;
	wr->durable = wr->woff;
	wr->durable_recs = wr->wcount;
}

/* Is a mark frame due: did the watermark move past the last one stated? */
static bool mark_due(const struct writer *wr)
{
	return wr->active->version >= 3 && wr->durable > wr->marked;
}

/* Encode the mark frame stating the watermark, for offset woff. */
static size_t mark_encode(const struct writer *wr, uint8_t *out)
{
	return uw_fmt_mark_frame_encode(out, wr->active->salt, wr->active->key, wr->woff,
					wr->durable, wr->durable_recs);
}

static void finish_one(struct uwal *w, struct req *r, int res)
{
	r->result = res;
	r->next = NULL;
	uw_req_complete_chain(w, r);
}

static bool queues_empty(struct uwal *w)
{
	for (unsigned i = 0; i < w->nq; i++)
		if (!uw_pq_empty(&w->queues[i]))
			return false;
	return true;
}

static void drain(struct uwal *w, struct writer *wr)
{
	for (unsigned k = 0; k < w->nq; k++) {
		struct pq *q = &w->queues[(wr->rr + k) % w->nq];
		size_t lim = q->mask + 1;
		struct req *r;
		while (lim-- && (r = uw_pq_pop(q)) != NULL) {
			r->next = NULL;
			if (wr->pend_tail)
				wr->pend_tail->next = r;
			else
				wr->pend_head = r;
			wr->pend_tail = r;
			wr->pend_recs += r->n;
			wr->pend_reqs++;
		}
	}
	wr->rr++;
}

static struct req *pend_pop(struct writer *wr)
{
	struct req *r = wr->pend_head;
	wr->pend_head = r->next;
	if (!wr->pend_head)
		wr->pend_tail = NULL;
	wr->pend_recs -= r->n;
	wr->pend_reqs--;
	r->next = NULL;
	return r;
}

static void fail_pending(struct uwal *w, struct writer *wr, int err)
{
	while (wr->pend_head)
		finish_one(w, pend_pop(wr), err);
}

static void poison(struct uwal *w, int err)
{
	int zero = 0;
	atomic_compare_exchange_strong(&w->poisoned, &zero, err);
	uw_wal_log(w, UWAL_LOG_ERROR, "log %s poisoned: %s; reopen it to go on", w->dir,
		   uwal_strerror(err));
}

/* Is index already in the log? Only the writer changes the index, so it
 * reads it without the lock. */
static bool published(struct uwal *w, uint64_t index)
{
	size_t i;
	uint32_t off;
	return uw_segs_find(w, index, &i, &off) > 0;
}

static bool fits(struct uwal *w, struct writer *wr, const struct batch *b, const struct req *r)
{
	if (r->kind == REQ_SYNC)
		return true; /* writes nothing */
	uint64_t used = wr->woff - FMT_SEG_HDR_SIZE + b->bytes;
	if (used + r->bytes > w->seg_capacity)
		return false;
	uint64_t recs = wr->wcount + b->nrec;
	if (w->cfg.segment_threshold && recs > 0 && recs >= w->cfg.segment_threshold)
		return false;
	return true;
}

/* Publish the end of the active segment (readers step over what is not
 * a record). */
static void publish_end(struct uwal *w, struct writer *wr)
{
	pthread_rwlock_wrlock(&w->lock);
	wr->active->end = wr->woff;
	pthread_rwlock_unlock(&w->lock);
}

/* ---- what the active segment's index file needs (see struct writer) ---- */

/* A NEXT frame t of len bytes written at off into the active segment. */
static void note_next(struct writer *wr, const struct fmt_trunc *t, uint64_t off, size_t len)
{
	if (!wr->idx_exact)
		return;
	if (wr->n_nexts == wr->cap_nexts) {
		uint32_t cap = wr->cap_nexts ? wr->cap_nexts * 2 : 4;
		struct fmt_idx_trunc *v = realloc(wr->nexts, cap * sizeof(*v));
		if (!v) {
			wr->idx_exact = false; /* its index file reads the frames */
			return;
		}
		wr->nexts = v;
		wr->cap_nexts = cap;
	}
	wr->nexts[wr->n_nexts++] = (struct fmt_idx_trunc){
		.type = FMT_FRAME_NEXT, .len = (uint32_t)len, .off = off, .t = *t};
}

/* The active segment starts: a new one, or (exact only if it holds no
 * frame yet) the one recovery left. */
static void notes_start(struct writer *wr, bool exact)
{
	wr->idx_exact = exact;
	wr->n_nexts = 0;
	wr->seg_mark_w = wr->seg_mark_recs = 0;
}

/*
 * The active segment is sealed, its seal frame of seal_len bytes at woff
 * naming next_seq: what its index file says, but for the records, which
 * the preparer takes from its table (uw_sidx_encode_noted). NULL when the
 * file must be read instead (not exact, or no memory).
 */
static struct fmt_idx *notes_take(struct writer *wr, size_t seal_len, uint64_t next_seq)
{
	const struct seg *s = wr->active;
	if (!wr->idx_exact || s->idx.n != wr->wcount)
		return NULL;
	struct fmt_idx *x = malloc(sizeof(*x));
	if (!x)
		return NULL;
	*x = (struct fmt_idx){.seq = s->seq,
			      .version = s->version,
			      .salt = s->salt,
			      .key_hi = (uint32_t)(s->key >> 32),
			      .file_size = wr->woff + seal_len,
			      .seal_off = wr->woff,
			      .records = wr->wcount,
			      .next_seq = next_seq,
			      .mark_w = wr->seg_mark_w,
			      .mark_recs = wr->seg_mark_recs,
			      .ntrunc = wr->n_nexts,
			      .trunc = wr->n_nexts ? wr->nexts : NULL};
	if (wr->n_nexts) {
		wr->nexts = NULL; /* the notes' now */
		wr->cap_nexts = 0;
	}
	return x;
}

/*
 * Write a NEXT frame (the high-water mark of indexes, see the top) at the
 * writer's position in the active segment, unsynced; published, so that
 * readers step over it. Nothing to say before any index exists. 0 or
 * -errno (the caller poisons).
 */
static int write_next(struct uwal *w, struct writer *wr)
{
	if (wr->max_ever == 0 || wr->active->version < 2)
		return 0;
	uint8_t buf[FMT_TRUNC_FRAME_MAX];
	struct fmt_trunc t = {wr->max_ever, wr->active->seq, wr->woff};
	size_t len = uw_fmt_trunc_frame_encode(buf, wr->active->salt, FMT_FRAME_NEXT, &t);
	int err = uw_io_pwrite(w->io, wr->active->fd, buf, len, wr->woff);
	if (err < 0)
		return err;
	note_next(wr, &t, wr->woff, len);
	wr->woff += len;
	wr->dirty = true;
	publish_end(w, wr);
	return 0;
}

/* How many sealed segments at the front of the log hold no live record
 * (truncation voided them all): retention removes them too. */
static size_t leading_void(struct uwal *w)
{
	size_t n = 0;
	while (n + 1 < w->nsegs && w->segs[n]->sealed && w->segs[n]->idx.n == 0)
		n++;
	return n;
}

/*
 * Retention: doom the oldest segments beyond max_segments and hand them to
 * the preparer as one round. They stay in the index (their indexes taken)
 * until the preparer removed them durably. One round is in flight at a
 * time, and the preparer removes it strictly oldest first, stopping at the
 * first failure: a newer segment is never removed while an older one
 * stays, which would leave a gap no open accepts.
 */
static void retain(struct uwal *w, struct writer *wr)
{
	size_t keep = w->cfg.max_segments;
	size_t n = leading_void(w);
	if (keep && w->nsegs > keep && w->nsegs - keep > n)
		n = w->nsegs - keep;
	if (wr->n_doomed || n == 0)
		return;
	struct seg **v = malloc(n * sizeof(*v));
	if (!v)
		return; /* tried again at the next rotation */
	/* Once unlinked, a file cannot be opened again by name, and readers
	 * and iterators may still need it: its descriptor stays open. The
	 * round ends before a segment whose descriptor cannot be had. */
	for (size_t i = 0; i < n; i++) {
		int e = uw_seg_fd_pin(w->segs[i]);
		if (e < 0) {
			uw_wal_log(w, UWAL_LOG_WARN,
				   "retention: cannot open %s/%s (kept, retried at the next "
				   "rotation): %s",
				   w->dir, w->segs[i]->name, uwal_strerror(e));
			n = i;
			break;
		}
	}
	if (n == 0) {
		free(v);
		return;
	}
	/* The active segment's NEXT frame must be durable before the
	 * segments that held the high-water mark can go. */
	if (wr->dirty) {
		int e = uw_io_fdatasync(w->io, wr->active->fd);
		atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
		if (e < 0) {
			poison(w, e);
			free(v);
			return;
		}
		synced(wr);
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = w->segs[i];
		uw_seg_ref(v[i]); /* the preparer's */
	}
	/* v belongs to the preparer once handed over: mark the round first. */
	for (size_t i = 0; i < n; i++)
		v[i]->doomed = true;
	if (uw_prep_delete(w, v, n) < 0) {
		for (size_t i = 0; i < n; i++) {
			v[i]->doomed = false;
			uw_seg_unref(v[i]);
		}
		free(v);
		return;
	}
	wr->n_doomed = n;
}

/*
 * Seal the active segment and make the prepared one active. Nothing is in
 * flight. Returns 0, the preparation error (handle not poisoned), the
 * seal's I/O error (handle poisoned), or UWAL_ELOCKED if the lock file was
 * removed or replaced (handle poisoned).
 */
static int rotate(struct uwal *w, struct writer *wr)
{
	/* The flock guards the log only while "<prefix>lock" is the locked
	 * file: if someone removed or replaced it, a second handle may be
	 * appending at the same offsets. Stop writing before the seal. */
	int err = uw_wal_check_lock(w);
	if (err < 0) {
		poison(w, err);
		return err;
	}
	struct seg *next = uw_prep_take(w, &err);
	if (!next)
		return err;

	struct seg *old = wr->active;
	uint8_t seal[FMT_SEAL_FRAME_MAX];
	size_t n = uw_fmt_seal_frame_encode(seal, old->salt, wr->wcount, next->seq);
	err = uw_io_pwrite(w->io, old->fd, seal, n, wr->woff);
	/* Give back the unused preallocation; the fdatasync below makes the
	 * new size durable together with the seal. */
	if (err == 0)
		err = uw_io_ftruncate(w->io, old->fd, wr->woff + n);
	if (err == 0) {
		err = uw_io_fdatasync(w->io, old->fd);
		atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
	}
	if (err < 0) {
		poison(w, err);
		/* The prepared file stays on disk without frames; the next open
		 * removes it. */
		uw_seg_unref(next);
		return err;
	}

	pthread_rwlock_wrlock(&w->lock);
	old->sealed = true;
	uw_idx_shrink(&old->idx);
	err = uw_seg_list_push(&w->segs, &w->nsegs, &w->cap_segs, next);
	pthread_rwlock_unlock(&w->lock);
	if (err < 0) {
		poison(w, err);
		uw_seg_unref(next);
		return err;
	}
	/* Sealed: its descriptor is the cache's now, which may close it. */
	uw_seg_fd_unpin(old);
	/* Its index file is written by the preparer, off the write path. */
	uw_prep_index(w, old, notes_take(wr, n, next->seq));
	notes_start(wr, true);
	wr->active = next;
	atomic_store_explicit(&w->cur_salt, next->salt, memory_order_relaxed);
	wr->woff = FMT_SEG_HDR_SIZE;
	wr->wb_off = FMT_SEG_HDR_SIZE;
	wr->wcount = 0;
	wr->prep_asked = false;
	wr->dirty = false;
	wr->durable = wr->marked = FMT_SEG_HDR_SIZE;
	wr->durable_recs = 0;
	wr->idle_mark = false; /* cut off after the seal */
	atomic_fetch_add_explicit(&w->st_rotations, 1, memory_order_relaxed);
	/* Only retention removes segments that may hold the high-water
	 * mark with no later record above it (a front truncation writes its
	 * own NEXT frame). */
	if (w->cfg.max_segments) {
		err = write_next(w, wr);
		if (err < 0) {
			poison(w, err);
			return err;
		}
	}
	retain(w, wr);
	return 0;
}

/* Drop from the index the segments whose removal the preparer made durable. */
static void drop_gone(struct uwal *w, struct writer *wr)
{
	size_t n, nkept;
	struct seg **kept;
	struct seg **v = uw_prep_take_gone(w, &n, &kept, &nkept);

	pthread_rwlock_wrlock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < wr->n_doomed; k++) {
			if (w->segs[k] != v[i])
				continue;
			memmove(w->segs + k, w->segs + k + 1,
				(w->nsegs - k - 1) * sizeof(*w->segs));
			w->nsegs--;
			wr->n_doomed--;
			uw_seg_unref(v[i]); /* the list's */
			break;
		}
	}
	/* Counted under the lock, so no reader sees the segment gone from
	 * the index but not yet counted. */
	atomic_fetch_add_explicit(&w->st_deleted, n, memory_order_relaxed);
	pthread_rwlock_unlock(&w->lock);
	for (size_t i = 0; i < n; i++)
		uw_seg_unref(v[i]); /* the preparer's */
	free(v);
	/* Left in place after a failed removal: live again, retried at the
	 * next rotation. */
	for (size_t i = 0; i < nkept; i++) {
		kept[i]->doomed = false;
		wr->n_doomed--;
		uw_seg_unref(kept[i]); /* the preparer's */
	}
	free(kept);
	/* A clean round: segments that rotations added meanwhile go now. */
	if (!nkept)
		retain(w, wr);
}

static int reserve(struct writer *wr, size_t bytes, size_t recs)
{
	if (bytes > wr->cap) {
		size_t cap = wr->cap ? wr->cap : BATCH_BYTES;
		while (cap < bytes)
			cap *= 2;
		uint8_t *b = realloc(wr->buf, cap);
		if (!b)
			return -ENOMEM;
		wr->buf = b;
		wr->cap = cap;
	}
	if (recs > wr->cap_ents) {
		size_t cap = wr->cap_ents ? wr->cap_ents : 1024;
		while (cap < recs)
			cap *= 2;
		struct ent *e = realloc(wr->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		wr->ents = e;
		wr->cap_ents = cap;
	}
	return 0;
}

/*
 * Start the (empty) batch b, with a mark frame first when one is due (see
 * the top). Without memory for it, the batch goes without: a mark frame is
 * never needed for the log to be right.
 */
static void batch_open(struct writer *wr, struct batch *b)
{
	memset(b, 0, sizeof(*b));
	if (!mark_due(wr) || reserve(wr, FMT_MARK_FRAME_SIZE, 0) < 0)
		return;
	b->bytes = mark_encode(wr, wr->buf);
	b->mark = true;
	b->mark_w = wr->durable;
	b->mark_recs = wr->durable_recs;
}

/*
 * Give r's records their indexes (in wr->ents from b->nrec on; an index 0
 * is assigned: max_ever + 1), and check them against the log and the
 * batch; 0, UWAL_EEXIST, UWAL_ETOOBIG (no index left to assign), -ENOMEM.
 *
 * Fast path: an index above max_ever (every index ever batched or in the
 * log is at or below it; an assigned one always is) can be neither in the
 * log nor in the batch, and needs no lookup. The batch's set is built only
 * when an index at or below max_ever shows up; from then on it holds
 * exactly the batch's indexes, the first b->nrec of them being earlier
 * requests'.
 */
static int check_dups(struct uwal *w, struct writer *wr, const struct batch *b, struct req *r)
{
	uint64_t saved_max = wr->max_ever;
	struct ent *e = wr->ents + b->nrec;
	int err = 0;
	uint32_t i;

	for (i = 0; i < r->n && err == 0; i++) {
		uint64_t ix = r->recs[i].index;
		if (ix == 0) {
			if (wr->max_ever == UINT64_MAX) {
				err = UWAL_ETOOBIG;
				break;
			}
			ix = wr->max_ever + 1;
		}
		e[i].index = ix;
		if (ix > wr->max_ever) {
			wr->max_ever = ix;
			if (wr->set_live && uw_bset_add(&wr->set, ix) < 0)
				err = -ENOMEM;
			continue;
		}
		if (!wr->set_live) {
			for (uint32_t k = 0; k < b->nrec + i && err == 0; k++)
				if (uw_bset_add(&wr->set, wr->ents[k].index) < 0)
					err = -ENOMEM;
			wr->set_live = true;
			if (err)
				break;
		}
		if (published(w, ix))
			err = UWAL_EEXIST;
		else if ((err = uw_bset_add(&wr->set, ix)) >= 0)
			err = err == 0 ? UWAL_EEXIST : 0;
	}
	if (err) {
		wr->max_ever = saved_max;
		if (wr->set_live)
			uw_bset_rollback(&wr->set, b->nrec);
	} else if (r->n) {
		r->first_index = e[0].index;
	}
	return err;
}

static void encode(struct writer *wr, struct batch *b, const struct req *r)
{
	if (r->frames) {
		/* Encoded by the submitter: copy, and only compute the crcs
		 * again if they were made for another segment. */
		uint8_t *dst = wr->buf + b->bytes;
		memcpy(dst, r->frames, r->bytes);
		bool resalt = r->frames_salt != wr->active->salt;
		size_t at = 0;
		for (uint32_t i = 0; i < r->n; i++) {
			struct ent *e = &wr->ents[b->nrec++];
			e->off = (uint32_t)(wr->woff + b->bytes + at);
			at += resalt ? uw_fmt_frame_resalt(dst + at, wr->active->salt)
				     : uw_fmt_frame_peek_len(dst + at, FMT_FRAME_HDR_SIZE);
		}
		b->bytes += at;
		return;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		const uwal_record *rec = &r->recs[i];
		/* All but a call's last record say "more of this call follows",
		 * so recovery can drop a batch cut short by a crash whole. */
		uint8_t flags = i + 1 < r->n ? FMT_FRAME_MORE : 0;
		struct ent *e = &wr->ents[b->nrec++];
		e->off = (uint32_t)(wr->woff + b->bytes);
		b->bytes += uw_fmt_record_frame_encode(wr->buf + b->bytes, wr->active->salt, flags,
						       e->index, rec->key, rec->key_len, rec->value,
						       rec->value_len);
	}
}

/*
 * Choose the batch from the pending requests, refuse duplicates and encode
 * it; no I/O. The batch ends before the first request that does not fit
 * the active segment (an empty batch then: the next turn rotates).
 */
static void build(struct uwal *w, struct writer *wr, struct batch *b)
{
	if (wr->set_live) {
		uw_bset_clear(&wr->set);
		wr->set_live = false;
	}
	while (wr->pend_head) {
		struct req *r = wr->pend_head;
		if (r->kind == REQ_TRUNC_FRONT || r->kind == REQ_TRUNC_BACK)
			break; /* a truncation is a batch of its own */
		/* Every request must fit, the first included: when the head
		 * was refused (a duplicate), run_pending()'s check was about
		 * it, not this one; the next turn rotates for this one. */
		if (!fits(w, wr, b, r))
			break;
		if (b->nreq &&
		    (w->cfg.sync_mode == UWAL_SYNC_ALWAYS ||
		     b->nrec + r->n > w->cfg.max_batch_size || b->bytes + r->bytes > BATCH_BYTES))
			break;
		int e = reserve(wr, b->bytes + r->bytes, b->nrec + r->n);
		if (e == 0)
			e = check_dups(w, wr, b, r);
		pend_pop(wr);
		/* A refused request stays in the chain with its result, so that
		 * every request is completed in log order. */
		if (e < 0) {
			r->result = e;
			r->failed = true;
		} else {
			encode(wr, b, r);
			b->nreq++;
			b->sync |= r->sync;
		}
		if (!r->async)
			b->nblock++;
		if (b->tail)
			b->tail->next = r;
		else
			b->head = r;
		b->tail = r;
	}
	if (w->cfg.sync_mode != UWAL_SYNC_NONE)
		b->sync = true;
	if (b->nrec == 0 && b->mark) {
		/* Only sync requests: a mark frame alone waits for the next
		 * batch with records, or for idleness. */
		b->bytes = 0;
		b->mark = false;
	}
}

/* Write the batch (and fdatasync it if needed) as one chain; 0 or -errno. */
static int write_batch(struct uwal *w, struct writer *wr, const struct batch *b)
{
	int fd = wr->active->fd;
	struct uw_io_op ops[2] = {
		{.kind = UW_IO_OP_WRITE,
		 .fd = fd,
		 .buf = wr->buf,
		 .len = (uint32_t)b->bytes,
		 .off = wr->woff},
		{.kind = UW_IO_OP_FDATASYNC, .fd = fd},
	};
	unsigned n = b->sync ? 2 : 1;
	/* RWF_DSYNC makes only the written range durable: earlier unsynced
	 * writes to the segment (wr->dirty) need the fdatasync, or a record
	 * acknowledged durable could outlive one acknowledged before it. */
	if (b->sync && w->cfg.durable_write == UWAL_DURABLE_DSYNC && !wr->dirty) {
		ops[0].flags = UW_IO_OP_DSYNC;
		n = 1;
	}
	if (b->bytes == 0) {
		/* Only sync requests: an fdatasync if anything is not durable. */
		if (!wr->dirty)
			return 0;
		int e = uw_io_fdatasync(w->io, fd);
		atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
		return e;
	}
	int res[2] = {0, 0};
	/* Poll for the completion (ring_poll_us) only while more blocked
	 * waiters are inside than there are CPUs: they sleep then
	 * (uw_req_wait), and the batch's wake-ups and their next writes come
	 * sooner when this thread is not asleep too. With fewer, a waiter
	 * spins on the other CPU, or polling costs a CPU for little
	 * (perf/README.md, "ring-poll, again"). */
	unsigned flags = 0;
	if ((unsigned)atomic_load_explicit(&w->inside, memory_order_relaxed) > w->ncpu)
		flags |= UW_RING_POLL;
	uint64_t enters = wr->ring->enters;
	uint64_t t0 = b->sync ? uw_io_now_ns() : 0;
	int ret = uw_ring_run(wr->ring, ops, n, res, flags);
	if (b->sync) {
		uint64_t dt = uw_io_now_ns() - t0;
		atomic_fetch_add_explicit(&w->st_sync_ns, dt, memory_order_relaxed);
		/* An average over about the last eight batches. */
		uint64_t avg = atomic_load_explicit(&w->sync_avg_ns, memory_order_relaxed);
		atomic_store_explicit(&w->sync_avg_ns, avg - avg / 8 + dt / 8,
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st_sync_hist[uwal_hist_bucket(dt)], 1,
					  memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&w->st_enters, wr->ring->enters - enters, memory_order_relaxed);
	if (ret < 0)
		return ret; /* the ring itself failed: treat as an I/O failure */
	if (res[0] < 0)
		return res[0];
	if ((size_t)res[0] != b->bytes)
		return -EIO; /* short write: its fdatasync was cancelled */
	if (n == 2 && res[1] < 0)
		return res[1];
	return 0;
}

void uw_wal_notify(struct uwal *w)
{
	/* seq_cst: a follower increments follow_waiters, then reads pub_seq
	 * before it sleeps; we bump pub_seq, then read follow_waiters. One
	 * of us sees the other (Dekker), and FUTEX_WAIT rechecks the word. */
	atomic_fetch_add(&w->pub_seq, 1);
	if (atomic_load(&w->follow_waiters) > 0)
		uw_io_futex_wake(w->io, (uint32_t *)&w->pub_seq, INT32_MAX);
}

static int publish(struct uwal *w, struct writer *wr, const struct batch *b)
{
	int err = 0;
	struct seg *s = wr->active;

	if (b->nrec == 0)
		return 0; /* nothing new to publish */
	pthread_rwlock_wrlock(&w->lock);
	for (uint32_t i = 0; i < b->nrec && err == 0; i++)
		err = uw_idx_add(&s->idx, wr->ents[i].index, wr->ents[i].off);
	s->end = wr->woff + b->bytes;
	pthread_rwlock_unlock(&w->lock);
	uw_wal_notify(w);
	return err;
}

/* After a batch far larger than usual (one huge record), give its buffer
 * back instead of keeping the peak for the life of the handle. */
static void give_back(struct writer *wr)
{
	if (wr->cap <= 4 * (size_t)BATCH_BYTES)
		return;
	uint8_t *b = realloc(wr->buf, BATCH_BYTES);
	if (b) {
		wr->buf = b;
		wr->cap = BATCH_BYTES;
	}
}

/* The batch is written: account for it and publish it. */
static int publish_batch(struct uwal *w, struct writer *wr, const struct batch *b)
{
	/* Durable (or in the kernel, as asked): now, and only now, the index
	 * may describe these records. */
	int res = publish(w, wr, b);
	wr->woff += b->bytes;
	wr->wcount += b->nrec;
	if (b->bytes)
		wr->idle_mark = false; /* overwritten */
	if (b->mark) {
		wr->marked = wr->seg_mark_w = b->mark_w;
		wr->seg_mark_recs = b->mark_recs;
	}
	if (b->sync)
		synced(wr);
	else
		wr->dirty = true;
	if (b->bytes == 0)
		return res; /* sync requests only: counted by write_batch() */
	atomic_fetch_add_explicit(&w->st_records, b->nrec, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st_batches, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st_bytes, b->bytes, memory_order_relaxed);
	if (b->sync)
		atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
	return res;
}

/*
 * Unsynced writes pile up in the page cache until the seal's fdatasync at
 * rotation, which would then write a whole segment back while the writer
 * waits. Every cfg.writeback_kib the writer starts their writeback instead
 * (sync_file_range WRITE, no wait): the seal finds little left. It makes
 * nothing durable, so a failure is only left for that fdatasync to say.
 */
static void start_writeback(struct uwal *w, struct writer *wr)
{
	uint64_t every = (uint64_t)w->cfg.writeback_kib << 10;
	if (!every || !wr->dirty || wr->woff < wr->wb_off + every)
		return;
	(void)uw_io_writeback(w->io, wr->active->fd, wr->wb_off, wr->woff - wr->wb_off, false);
	wr->wb_off = wr->woff;
}

/* Ask for the next segment once this one is half full, so that it is ready
 * when rotation comes. */
static void maybe_prepare(struct uwal *w, struct writer *wr)
{
	uint64_t used = wr->woff - FMT_SEG_HDR_SIZE;
	if (!wr->prep_asked &&
	    (used * 2 >= w->seg_capacity ||
	     (w->cfg.segment_threshold && wr->wcount * 2 >= w->cfg.segment_threshold))) {
		wr->prep_asked = true;
		uw_prep_request(w);
	}
}

/* Take a mark frame written while idle as a frame of the segment (before
 * a write that would not overwrite it whole). */
static void claim_idle_mark(struct uwal *w, struct writer *wr)
{
	if (!wr->idle_mark)
		return;
	wr->idle_mark = false;
	wr->woff += FMT_MARK_FRAME_SIZE;
	wr->marked = wr->idle_w;
	wr->idx_exact = false; /* its record count is not noted */
	wr->dirty = true;
	publish_end(w, wr);
}

/* Is there room for a mark frame at woff, the seal's room left after it? */
static bool mark_fits(struct uwal *w, const struct writer *wr)
{
	return wr->woff + FMT_MARK_FRAME_SIZE <= FMT_SEG_HDR_SIZE + w->seg_capacity;
}

/*
 * The writer goes to sleep: state the watermark if a mark frame is due
 * (unsynced, not counted in woff; see the top). A failed write poisons,
 * as any failed write does; the requests pending next fail with its error
 * (no request waited for this write to report it).
 */
static void write_idle_mark(struct uwal *w, struct writer *wr)
{
	if (wr->idle_mark || !mark_due(wr) || !mark_fits(w, wr) ||
	    atomic_load_explicit(&w->poisoned, memory_order_relaxed))
		return;
	uint8_t buf[FMT_MARK_FRAME_SIZE];
	size_t len = mark_encode(wr, buf);
	int e = uw_io_pwrite(w->io, wr->active->fd, buf, len, wr->woff);
	if (e < 0) {
		poison(w, e);
		wr->idle_err = e;
		return;
	}
	wr->idle_mark = true;
	wr->idle_w = wr->durable;
}

/*
 * At close, once no request is left: make everything durable, then state
 * the watermark in a last mark frame and make it durable too, so that a
 * log closed cleanly vouches for all of its last segment. 0 or -errno.
 */
static int close_active(struct uwal *w, struct writer *wr)
{
	if (atomic_load(&w->poisoned))
		return 0;
	int e = 0;
	if (wr->dirty) {
		e = uw_io_fdatasync(w->io, wr->active->fd);
		atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
		if (e < 0)
			return e;
		synced(wr);
	}
	if (!mark_due(wr) || !mark_fits(w, wr))
		return 0;
	uint8_t buf[FMT_MARK_FRAME_SIZE];
	size_t len = mark_encode(wr, buf);
	e = uw_io_pwrite(w->io, wr->active->fd, buf, len, wr->woff);
	if (e < 0)
		return e;
	wr->idle_mark = false;
	wr->marked = wr->seg_mark_w = wr->durable;
	wr->seg_mark_recs = wr->durable_recs;
	wr->woff += len;
	publish_end(w, wr);
	e = uw_io_fdatasync(w->io, wr->active->fd);
	atomic_fetch_add_explicit(&w->st_fsyncs, 1, memory_order_relaxed);
	return e;
}

/*
 * A truncation request, alone (truncate.c). Its frame goes into the active
 * segment; a version 1 segment takes none, so the log rotates first. So
 * does a back cut of a record in a version 2 active segment, whose readers
 * know no BACK frame naming its own segment: sealed, the segment keeps its
 * frames whole, and the cut is a BACK frame in the new segment.
 */
static void run_trunc(struct uwal *w, struct writer *wr)
{
	struct req *r = pend_pop(wr);
	if (wr->active->version < 2 ||
	    (r->kind == REQ_TRUNC_BACK && wr->active->version < 3 &&
	     uw_trunc_back_needs_rotation(w, wr->active, r->trunc_index))) {
		int e = rotate(w, wr);
		if (e < 0) {
			finish_one(w, r, e);
			return;
		}
	}
	claim_idle_mark(w, wr);
	/* A front truncation may leave no record to tell the high-water mark:
	 * a NEXT frame before the FRONT frame, made durable with it. */
	if (r->kind == REQ_TRUNC_FRONT) {
		int e = write_next(w, wr);
		if (e < 0) {
			poison(w, e);
			finish_one(w, r, e);
			return;
		}
	}
	/* The frame changes what the active segment's file holds beside its
	 * table, and the tables of sealed segments: no index file is made
	 * from them after this (uw_sidx_encode_noted). */
	wr->idx_exact = false;
	uw_prep_index_settle(w);
	struct uw_wpos p = {wr->active, wr->woff, wr->wcount, wr->dirty};
	bool io_err;
	int res = uw_trunc_run(w, wr->ring, &p, r, &io_err);
	wr->woff = p.woff;
	wr->wcount = p.recs;
	wr->dirty = p.dirty;
	if (!wr->dirty)
		synced(wr);
	if (io_err)
		poison(w, res);
	if (res == 0 && r->kind == REQ_TRUNC_BACK) {
		/* The next assigned index is the cut one, or above what is left. */
		wr->max_ever = r->trunc_index - 1;
		for (size_t i = 0; i < w->nsegs; i++)
			if (w->segs[i]->idx.n && w->segs[i]->idx.max > wr->max_ever)
				wr->max_ever = w->segs[i]->idx.max;
	}
	uw_wal_notify(w);
	finish_one(w, r, res);
	retain(w, wr);
	maybe_prepare(w, wr);
}

/*
 * After a durable batch completed, its n blocked submitters were just
 * woken, and most of them write again at once. The next batch goes out as
 * soon as anything is pending: sent at once it would hold only the first
 * of them back, the others would wait a whole write + fdatasync for the
 * one after, and the writers would settle into two cohorts that alternate,
 * each paying its own fdatasync. So while fewer requests are pending than
 * that batch held, wait for them, yielding the CPU to them, for at most
 * rejoin_us. A lone writer (n < 2) never waits: the batch it forms is its
 * next write alone. perf/README.md, "rejoin".
 */
static void rejoin(struct uwal *w, struct writer *wr, uint32_t n)
{
	if (n < 2 || w->cfg.rejoin_us == 0)
		return;
	uint64_t limit = (uint64_t)w->cfg.rejoin_us * 1000u;
	uint64_t t0 = uw_io_now_ns();
	bool waited = false;
	for (;;) {
		drain(w, wr);
		if (wr->pend_reqs >= n || atomic_load(&w->closing) ||
		    atomic_load_explicit(&w->poisoned, memory_order_relaxed))
			break;
		if (uw_io_now_ns() - t0 > limit) {
			atomic_fetch_add_explicit(&w->st_rejoin_timeouts, 1, memory_order_relaxed);
			break;
		}
		waited = true;
		uw_io_yield();
	}
	if (waited)
		atomic_fetch_add_explicit(&w->st_rejoin_waits, 1, memory_order_relaxed);
}

/* One turn of the pipeline over the pending requests (see the top). */
static void run_pending(struct uwal *w, struct writer *wr)
{
	int p = atomic_load_explicit(&w->poisoned, memory_order_relaxed);
	if (p) {
		fail_pending(w, wr, wr->idle_err ? wr->idle_err : UWAL_EPOISONED);
		wr->idle_err = 0;
		return;
	}
	struct batch b = {0};
	bool trunc =
		wr->pend_head->kind == REQ_TRUNC_FRONT || wr->pend_head->kind == REQ_TRUNC_BACK;
	if (!trunc)
		batch_open(wr, &b);
	if (!fits(w, wr, &b, wr->pend_head)) {
		int e = rotate(w, wr);
		if (e < 0) {
			/* The requests waiting for the new segment fail; after
			 * a seal failure, so does everything else. */
			fail_pending(w, wr, e);
			return;
		}
		if (!trunc)
			batch_open(wr, &b); /* none is due in a new segment */
	}
	if (trunc) {
		run_trunc(w, wr);
		return;
	}
	build(w, wr, &b);
	if (b.nreq == 0) {
		uw_req_complete_chain(w, b.head); /* only refused ones, if any */
		return;
	}
	int res = write_batch(w, wr, &b);
	if (res == 0)
		res = publish_batch(w, wr, &b);
	if (res < 0)
		poison(w, res);
	uw_req_complete_all(w, b.head, res);
	if (res == 0 && b.sync)
		rejoin(w, wr, b.nblock);
	give_back(wr);
	maybe_prepare(w, wr);
	start_writeback(w, wr);
}

/*
 * max_batch_delay_us: let the batch fill for up to that long. The writer
 * sleeps in slices of an eighth of the delay (at least 20 us) and drains
 * between them: spinning here cost a whole CPU while it waited.
 */
static void wait_for_batch_fill(struct uwal *w, struct writer *wr)
{
	uint64_t delay = (uint64_t)w->cfg.max_batch_delay_us * 1000u;
	uint64_t until = uw_io_now_ns() + delay;
	uint64_t slice = delay / 8 > 20000 ? delay / 8 : 20000;
	for (;;) {
		drain(w, wr);
		uint64_t now = uw_io_now_ns();
		if (wr->pend_recs >= w->cfg.max_batch_size || now >= until ||
		    atomic_load(&w->closing))
			break;
		uw_io_sleep_ns(until - now < slice ? until - now : slice);
	}
}

static void idle_wait(struct uwal *w, struct writer *wr)
{
	uint64_t limit = (uint64_t)w->cfg.writer_spin_us * 1000u;
	/* The next request comes from a submitter on this CPU: spinning would
	 * only keep it from running. */
	if (uw_io_current_cpu() == atomic_load_explicit(&w->submit_cpu, memory_order_relaxed))
		limit = 0;
	uint64_t t0 = uw_io_now_ns();

	for (unsigned i = 0; limit; i++) {
		if (!queues_empty(w) || atomic_load(&w->closing) || atomic_load(&w->gone_pending))
			return;
		if (i < 1024)
			uw_io_cpu_relax();
		else
			uw_io_yield();
		if ((i & 15) == 15 && uw_io_now_ns() - t0 > limit)
			break;
	}
	write_idle_mark(w, wr);
	atomic_store(&w->wake_pending, 0);
	atomic_store(&w->writer_sleeping, 1);
	/* seq_cst fence: see wake_writer(). */
	atomic_thread_fence(memory_order_seq_cst);
	if (queues_empty(w) && !atomic_load(&w->closing) && !atomic_load(&w->gone_pending)) {
		uint64_t enters = wr->ring->enters;
		atomic_fetch_add_explicit(&w->st_writer_sleeps, 1, memory_order_relaxed);
		int e = uw_ring_idle(wr->ring);
		atomic_fetch_add_explicit(&w->st_enters, wr->ring->enters - enters,
					  memory_order_relaxed);
		if (e < 0)
			uw_io_yield();
	}
	atomic_store(&w->writer_sleeping, 0);
}

static void *writer_main(void *arg)
{
	uw_wal_mark_thread();
	struct uwal *w = arg;
	struct writer *wr = w->wr;

	/* The ring is created here: this thread is its only submitter
	 * (IORING_SETUP_SINGLE_ISSUER). */
	struct uw_ring_opts o = {
		.entries = w->cfg.ring_entries,
		.setup_flags = w->cfg.ring_flags,
		.poll_us = w->cfg.ring_poll_us,
		.unsynced_pwrite = w->cfg.write_path == UWAL_WRITE_PWRITE,
		.wake_fd = w->wake_fd,
	};
	w->writer_init_err = uw_ring_open(w->io, &o, &wr->ring, &w->ring_info);
	atomic_store(&w->writer_ready, 1);
	uw_io_futex_wake(w->io, (uint32_t *)&w->writer_ready, 1);
	if (w->writer_init_err < 0)
		return NULL;
	if (!w->ring_info.uring)
		uw_wal_log(w, UWAL_LOG_WARN,
			   "io_uring unavailable (%s): using pwrite + fdatasync from the writer "
			   "thread",
			   uwal_strerror(w->ring_info.setup_error));

	for (;;) {
		int cpu = uw_io_current_cpu();
		/* Only this thread stores it: compare with what it stored, and
		 * leave the line alone while the writer stays put. */
		if (cpu != wr->cpu) {
			wr->cpu = cpu;
			atomic_store_explicit(&w->writer_cpu, cpu, memory_order_relaxed);
		}
		if (atomic_load(&w->gone_pending))
			drop_gone(w, wr);
		drain(w, wr);
		if (wr->pend_head) {
			if (w->cfg.max_batch_delay_us)
				wait_for_batch_fill(w, wr);
			run_pending(w, wr);
			continue;
		}
		if (atomic_load(&w->closing)) {
			/* Exit only once no submitter can still push. */
			if (atomic_load(&w->enqueuing) == 0 && queues_empty(w))
				break;
			uw_io_yield();
			continue;
		}
		idle_wait(w, wr);
	}

	wr->close_err = close_active(w, wr);
	uw_ring_close(wr->ring);
	wr->ring = NULL;
	return NULL;
}

int uw_pipe_start(struct uwal *w)
{
	struct writer *wr = calloc(1, sizeof(*wr));
	if (!wr)
		return -ENOMEM;
	wr->cpu = -1;
	int e = uw_bset_init(&wr->set, w->cfg.max_batch_size);
	if (e < 0) {
		free(wr);
		return e;
	}
	w->wr = wr;
	/* Recovery left the active segment as the last one of the list. */
	wr->active = w->segs[w->nsegs - 1];
	atomic_store_explicit(&w->cur_salt, wr->active->salt, memory_order_relaxed);
	wr->woff = wr->active->end;
	wr->wb_off = wr->woff;
	wr->wcount = wr->active->recs;
	/* What recovery knows durable; anything after it may not be yet. */
	wr->durable = wr->active->durable_off;
	wr->durable_recs = wr->active->durable_recs;
	wr->marked = wr->active->marked_off;
	wr->dirty = wr->woff > wr->durable;
	notes_start(wr, wr->woff == FMT_SEG_HDR_SIZE && wr->wcount == 0);
	wr->max_ever = w->hw_index;
	for (size_t i = 0; i < w->nsegs; i++)
		if (w->segs[i]->idx.n && w->segs[i]->idx.max > wr->max_ever)
			wr->max_ever = w->segs[i]->idx.max;

	e = pthread_create(&w->writer, NULL, writer_main, w);
	if (e)
		return -e;
	pthread_setname_np(w->writer, "uwal-writer"); /* as uw_prep_start() */
	w->writer_started = true;
	while (!atomic_load(&w->writer_ready))
		uw_io_futex_wait(w->io, (uint32_t *)&w->writer_ready, 0);
	return w->writer_init_err;
}

/* Stop the writer after it drained everything; the final fdatasync's error,
 * if any, is left in w->close_err. */
void uw_pipe_stop(struct uwal *w)
{
	struct writer *wr = w->wr;
	if (!wr)
		return;
	if (w->writer_started) {
		atomic_store(&w->closing, 1);
		uw_wal_notify(w);
		uw_io_eventfd_signal(w->io, w->wake_fd);
		pthread_join(w->writer, NULL);
		w->writer_started = false;
	}
	if (wr->close_err < 0) {
		w->close_err = wr->close_err;
		if (!atomic_load(&w->poisoned))
			poison(w, wr->close_err);
	}
	/* Wait until every submitter has left the library. */
	while (atomic_load(&w->inside))
		uw_io_yield();
	if (wr->ring)
		uw_ring_close(wr->ring);
	uw_bset_free(&wr->set);
	free(wr->buf);
	free(wr->ents);
	free(wr->nexts);
	free(wr);
	w->wr = NULL;
}

void uw_pipe_forget(struct uwal *w)
{
	struct writer *wr = w->wr;
	if (!wr)
		return;
	/* Only the child's copy of the ring: no submission, no wait. */
	uw_ring_close(wr->ring);
	/* Asleep at the fork, the writer was changing nothing: its buffers
	 * are whole. Otherwise they may be half reallocated: left alone. */
	if (atomic_load(&w->writer_sleeping)) {
		uw_bset_free(&wr->set);
		free(wr->buf);
		free(wr->ents);
		free(wr->nexts);
		free(wr);
	}
	w->wr = NULL;
}
